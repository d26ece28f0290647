#!/usr/bin/env python3
"""Real-time action recognition with a MoViNet stream model on a Raspberry Pi.

Usage:
    python classify.py                                   # Pi camera, window on the HDMI monitor
    python classify.py --camera clip.mp4 --no-display --log -   # a video file, JSON lines out

Reads frames from the camera or a video, gives the model 5 frames per second by their
timestamps, and shows the picture with the top actions, or logs them. Run with --help for flags.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from video_classifier.options import DEFAULT_LABELS
from video_classifier.options import parse_args as _parse_args


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The app's flags (see ``video_classifier/options.py``)."""
    return _parse_args(argv, description=__doc__.split("\n\n")[0])


def _stop_on_sigterm() -> None:
    """SIGTERM (systemctl stop, kill) takes the same clean path as Ctrl-C."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def open_classifier(args: argparse.Namespace):
    """The model and its labels, described on stderr."""
    from video_classifier.classifier import ActionClassifier
    from video_classifier.runtime import load_runtime

    runtime = load_runtime(args.runtime)
    window_frames = round(args.window * args.fps) or None
    classifier = ActionClassifier.open(
        args.model,
        args.labels,
        DEFAULT_LABELS,
        k=args.top_k,
        smoothing=args.smooth,
        num_threads=args.num_threads,
        runtime=runtime,
        crop=args.crop,
        window_frames=window_frames,
    )
    model = classifier.model
    memory = f"remembers the last {args.window:g} s" if window_frames else "remembers everything since start"
    print(
        f"model: {model.path.name} ({model.input_size[0]}x{model.input_size[1]}, {model.num_classes} classes) "
        f"on {runtime}, {args.num_threads} thread(s), {memory}",
        file=sys.stderr,
    )
    return classifier


def open_camera(args: argparse.Namespace, on_status):
    """The ``--camera`` source; a live camera is reopened if it is lost (``on_status`` hears of it)."""
    from video_classifier.reconnect import ReconnectingSource
    from video_classifier.sources import default_camera, open_source

    spec = args.camera or default_camera()

    def reopen():
        return open_source(spec, args.width, args.height, args.camera_fps, args.hflip, args.vflip)

    source = reopen()
    return ReconnectingSource(source, reopen, args.camera_timeout, on_status=on_status) if source.live else source


def mqtt_publisher(args: argparse.Namespace, model_name: str):
    """The ``--mqtt`` publisher, connected (or retrying in the background)."""
    from video_classifier.mqtt import MqttPublisher, MqttSettings

    settings = MqttSettings.parse_address(
        args.mqtt,
        tls=args.mqtt_tls or args.mqtt_ca is not None,
        topic=args.mqtt_topic,
        username=args.mqtt_user,
        password=args.mqtt_password or os.environ.get("MQTT_PASSWORD"),
        ca_file=args.mqtt_ca,
    )
    publisher = MqttPublisher(settings, model_name).connect()
    print(f"mqtt: {settings.host}:{settings.port}, topics {publisher.topic}/...", file=sys.stderr)
    return publisher


def live_view(args: argparse.Namespace, pipeline, compositor, clips):
    """The ``--serve`` web server; away from 127.0.0.1 it always asks for a token."""
    import secrets

    from video_classifier.live_view import LiveView, is_loopback, parse_bind

    host, port = parse_bind(args.serve)
    token = args.serve_token or os.environ.get("MOVINET_SERVE_TOKEN")
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(12)
    view = LiveView(pipeline, compositor, host, port, token, clips)
    print(f"live view: {view.url()}", file=sys.stderr)
    return view


def run(args: argparse.Namespace) -> int:
    from video_classifier.compositor import Compositor
    from video_classifier.console import EventAnnouncer, report_headless
    from video_classifier.display import find_display, use_display
    from video_classifier.events import EventDetector
    from video_classifier.json_log import JsonLinesLog
    from video_classifier.outputs import Outputs, close_all
    from video_classifier.pipeline import Pipeline
    from video_classifier.recorder import EventRecorder
    from video_classifier.window import Viewer

    if not args.no_display:
        use_display(*find_display(args.display))  # before anything slow: fail fast without a screen
    classifier = open_classifier(args)
    name = classifier.model.path.stem
    outputs = Outputs()
    source = pipeline = compositor = viewer = recorder = None
    try:
        # What can fail on bad input is opened before the camera, so a mistake costs no camera time.
        if args.log:
            outputs.add(JsonLinesLog(args.log))
        if args.record:
            recorder = EventRecorder(
                args.record, args.pre_roll, args.post_roll, args.record_max_mb, model_name=name, confirm_s=args.hold + 1
            )
            outputs.add(recorder)
        if args.mqtt:
            outputs.add(mqtt_publisher(args, name))
        source = open_camera(args, on_status=outputs.on_camera)
        pipeline = Pipeline(
            source,
            classifier,
            args.fps,
            output=outputs,
            events=EventDetector(outputs, args.threshold, hold=max(1, round(args.hold * args.fps))),
            realtime=not args.no_display or args.serve is not None,  # a live view of a file plays at its own pace
            model_delay_s=args.simulate_model_delay_ms / 1000.0,
            max_predictions=args.max_frames,
        )
        if args.serve or recorder:
            compositor = outputs.add(Compositor(pipeline, name, output=outputs))
        if args.serve:
            outputs.add(live_view(args, pipeline, compositor, recorder.library if recorder else None))
        if args.no_display:
            outputs.add(EventAnnouncer())
        print(f"source: {source.name}, model fed at {args.fps:g} fps", file=sys.stderr)
        viewer = None if args.no_display else Viewer(pipeline, name, fullscreen=args.fullscreen)
        outputs.start()
        pipeline.start()
        if viewer is None:
            report_headless(pipeline)
        else:
            viewer.run()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        if pipeline is not None:
            pipeline.stop()
        # Upstream first, so that each part has been given everything before it is closed: the
        # compositor's last pictures and the end of the event in progress reach the outputs.
        close_all(source, compositor, pipeline.events if pipeline else None, outputs)
    if pipeline is None:  # stopped before it started
        return 0
    if pipeline.error is not None:
        raise pipeline.error
    shown = f", {viewer.frames_shown} shown" if viewer else ""
    saved = f", {len(recorder.saved)} clip(s) saved in {args.record}" if recorder else ""
    counts = f"{pipeline.frames_captured} frames read, {pipeline.predictions} classified, {pipeline.skipped} skipped"
    print(f"done: {counts}{shown}{saved}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from video_classifier.errors import UserError

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    _stop_on_sigterm()
    try:
        return run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the pipeline started
        return 0


if __name__ == "__main__":
    sys.exit(main())
