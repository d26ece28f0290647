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
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = HERE / "models" / "movinet_a0_stream_int8.tflite"
DEFAULT_LABELS = HERE / "models" / "kinetics600_label_map.txt"


class CliParser(argparse.ArgumentParser):
    """argparse, but a bad flag gives one ``error:`` line (and exit 2) instead of the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see python classify.py --help)", file=sys.stderr)
        sys.exit(2)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless it says nothing (None, off) or the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "(default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of at least 0, got {text}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, got {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from video_classifier.preprocess import CROP_CHOICES
    from video_classifier.runtime import RUNTIME_CHOICES

    p = CliParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="MoViNet stream .tflite model")
    p.add_argument(
        "--labels",
        default=None,
        help=f"label file, one per line (default: labels embedded in the model, else {DEFAULT_LABELS.name})",
    )
    p.add_argument(
        "--camera",
        default=None,
        help="'picamera2', a USB camera index (0, 1, ...) or a video file (default: picamera2 when installed, else 0)",
    )
    p.add_argument("--width", type=_positive_int, default=640, help="camera frame width")
    p.add_argument("--height", type=_positive_int, default=480, help="camera frame height")
    p.add_argument("--camera-fps", type=_positive_float, default=30.0, help="Pi camera frame rate")
    p.add_argument(
        "--camera-timeout",
        type=_non_negative_float,
        default=30.0,
        metavar="SECONDS",
        help="how long to keep trying to reconnect a lost camera before giving up",
    )
    p.add_argument("--hflip", action="store_true", help="mirror the Pi camera image")
    p.add_argument("--vflip", action="store_true", help="flip the Pi camera image upside down")
    p.add_argument("--num-threads", type=_positive_int, default=min(4, os.cpu_count() or 1), help="CPU threads for the model")
    p.add_argument("--top-k", type=_positive_int, default=3, help="how many actions to show")
    p.add_argument(
        "--fps", type=_positive_float, default=5.0, help="frames per second given to the model (the models were trained at 5)"
    )
    p.add_argument(
        "--window",
        type=_non_negative_float,
        default=5.0,
        metavar="SECONDS",
        help="the model remembers this many seconds (0: everything since start or reset)",
    )
    p.add_argument(
        "--smooth",
        type=_non_negative_float,
        default=0.0,
        metavar="WEIGHT",
        help="exponential smoothing of the scores, weight of the past in [0, 1) (0: off)",
    )
    p.add_argument(
        "--threshold",
        type=_probability,
        default=0.4,
        help="an action event starts when the top action holds this score for --hold seconds",
    )
    p.add_argument("--hold", type=_positive_float, default=1.0, metavar="SECONDS", help="how long an action must hold")
    p.add_argument("--crop", choices=CROP_CHOICES, default="center", help="centre square crop, or squash the whole frame")
    p.add_argument("--runtime", choices=RUNTIME_CHOICES, default="auto", help="TFLite runtime to use")
    p.add_argument("--no-display", action="store_true", help="no window: print actions to stderr")
    p.add_argument("--display", default=None, help="X display for the window (default: the local desktop, :0)")
    p.add_argument("--fullscreen", action="store_true", help="start the window full screen")
    p.add_argument("--log", default=None, metavar="FILE|-", help="write one JSON line per prediction")
    mqtt = p.add_argument_group("MQTT (Home Assistant)")
    mqtt.add_argument("--mqtt", default=None, metavar="HOST[:PORT]", help="publish actions and events to this MQTT broker")
    mqtt.add_argument("--mqtt-topic", default=f"movinet/{_hostname()}", help="prefix of the topics published")
    mqtt.add_argument("--mqtt-user", default=None, help="user name for the broker")
    mqtt.add_argument("--mqtt-password", default=None, help="password for the broker (default: $MQTT_PASSWORD)")
    mqtt.add_argument("--mqtt-tls", action="store_true", help="connect with TLS (port 8883 unless given)")
    mqtt.add_argument("--mqtt-ca", default=None, metavar="FILE", help="CA certificate of the broker (implies --mqtt-tls)")
    live = p.add_argument_group("browser live view and event clips")
    live.add_argument(
        "--serve",
        default=None,
        metavar="[HOST:]PORT",
        help="live view in a browser on this port; 127.0.0.1 unless a host is given (0.0.0.0: every network)",
    )
    live.add_argument(
        "--serve-token",
        default=None,
        help="token the live view asks for (default: $MOVINET_SERVE_TOKEN, else a random one when not on 127.0.0.1)",
    )
    live.add_argument("--record", default=None, metavar="DIR", help="save an MP4 clip and a JSON file for every action event")
    live.add_argument("--record-max-mb", type=_positive_float, default=1000.0, help="disk space for clips; the oldest go first")
    live.add_argument("--pre-roll", type=_non_negative_float, default=3.0, metavar="SECONDS", help="clip time before an event")
    live.add_argument("--post-roll", type=_non_negative_float, default=3.0, metavar="SECONDS", help="clip time after an event")
    p.add_argument("--max-frames", type=_positive_int, default=None, help="stop after this many model frames")
    # Test hook: makes every model frame this much slower, to rehearse a slow board.
    p.add_argument("--simulate-model-delay-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _hostname() -> str:
    import socket

    return socket.gethostname().split(".")[0] or "pi"


def _stop_on_sigterm() -> None:
    """SIGTERM (systemctl stop, kill) takes the same clean path as Ctrl-C."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def event_detector(args: argparse.Namespace, log, watchers: list):
    """Action events go to the log and to each watcher (MQTT, live view, recorder: objects with
    ``event_started`` and ``event_ended``); without a window they are also announced on stderr."""
    from video_classifier.events import EventDetector

    on_start = [w.event_started for w in watchers]
    listeners = [w.event_ended for w in watchers]
    if log is not None:
        listeners.append(lambda event: log.write_record(event.to_json()))
    if args.no_display:
        on_start.append(lambda e: print(f"action started: {e.label} at {e.start_s:.1f} s", file=sys.stderr, flush=True))
        listeners.append(
            lambda e: print(
                f"action ended: {e.label}, {e.start_s:.1f}-{e.end_s:.1f} s, peak {max(e.scores):.2f}", file=sys.stderr, flush=True
            )
        )
    return EventDetector(args.threshold, hold=max(1, round(args.hold * args.fps)), listeners=listeners, on_start=on_start)


def open_camera(args: argparse.Namespace, log, mqtt=None):
    """The ``--camera`` source; a live camera is reopened if it is lost (noted in the log, and
    over MQTT as unavailable)."""
    from video_classifier.sources import default_camera, open_source
    from video_classifier.watchdog import ReconnectingSource

    spec = args.camera or default_camera()

    def reopen():
        return open_source(spec, args.width, args.height, args.camera_fps, args.hflip, args.vflip)

    source = reopen()
    if not source.live:
        return source

    def note(state: str, time_s: float) -> None:
        if log is not None:
            log.write_record({"type": "camera", "state": state, "time_s": round(time_s, 3)})
        if mqtt is not None:
            mqtt.camera_status(state)

    return ReconnectingSource(source, reopen, args.camera_timeout, on_status=note)


def mqtt_publisher(args: argparse.Namespace, model_name: str):
    """The ``--mqtt`` publisher, connected (or retrying in the background), or None."""
    if not args.mqtt:
        return None
    from video_classifier.mqtt import MqttPublisher, MqttSettings

    tls = args.mqtt_tls or args.mqtt_ca is not None
    settings = MqttSettings.parse_address(
        args.mqtt,
        tls=tls,
        topic=args.mqtt_topic,
        username=args.mqtt_user,
        password=args.mqtt_password or os.environ.get("MQTT_PASSWORD"),
        ca_file=args.mqtt_ca,
    )
    publisher = MqttPublisher(settings, model_name).connect()
    print(f"mqtt: {settings.host}:{settings.port}, topics {publisher.topic}/...", file=sys.stderr)
    return publisher


def live_view(args: argparse.Namespace, pipeline, compositor, recorder):
    """The ``--serve`` web server; away from 127.0.0.1 it always asks for a token."""
    import secrets

    from video_classifier.live_view import LiveView, is_loopback, parse_bind

    host, port = parse_bind(args.serve)
    token = args.serve_token or os.environ.get("MOVINET_SERVE_TOKEN")
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(12)
    view = LiveView(pipeline, compositor, host, port, token, recorder)
    print(f"live view: {view.url()}", file=sys.stderr)
    return view


def close_all(*parts) -> None:
    """Close every part even if one fails (a full disk must not keep the camera open), then
    raise the first failure."""
    failures = []
    for part in parts:
        if part is not None:
            try:
                part.close()
            except Exception as exc:  # noqa: BLE001 (re-raised below)
                failures.append(exc)
    if failures:
        raise failures[0]


def run(args: argparse.Namespace) -> int:
    from utils.display import find_display, use_display
    from video_classifier.classifier import ActionClassifier
    from video_classifier.compositor import Compositor
    from video_classifier.pipeline import Pipeline
    from video_classifier.recorder import EventRecorder
    from video_classifier.runtime import load_runtime
    from video_classifier.sinks import JsonLinesLog
    from video_classifier.viewer import Viewer, report_headless

    if not args.no_display:
        use_display(*find_display(args.display))  # before anything slow: fail fast without a screen
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
    log = recorder = mqtt = source = pipeline = compositor = view = detector = viewer = None
    try:
        # What can fail on bad input is opened before the camera, so a mistake costs no camera time.
        log = JsonLinesLog(args.log) if args.log else None
        if args.record:
            recorder = EventRecorder(
                args.record,
                args.pre_roll,
                args.post_roll,
                args.record_max_mb,
                model_name=model.path.stem,
                confirm_s=args.hold + 1,
            )
        mqtt = mqtt_publisher(args, model.path.stem)
        source = open_camera(args, log, mqtt)
        pipeline = Pipeline(
            source,
            classifier,
            args.fps,
            realtime=not args.no_display or args.serve is not None,  # a live view of a file plays at its own pace
            model_delay_s=args.simulate_model_delay_ms / 1000.0,
            max_predictions=args.max_frames,
            on_reset=(lambda t: log.write_record({"type": "reset", "time_s": round(t, 3)})) if log else None,
        )
        compositor = Compositor(pipeline, model.path.stem) if args.serve or recorder else None
        view = live_view(args, pipeline, compositor, recorder) if args.serve else None
        if recorder is not None:
            compositor.consumers.append(recorder.add)
        detector = event_detector(args, log, [w for w in (mqtt, view, recorder) if w is not None])
        pipeline.sinks = [s for s in (detector, log, mqtt) if s is not None]  # detector first: MQTT state follows it
        print(f"source: {source.name}, model fed at {args.fps:g} fps", file=sys.stderr)
        viewer = None if args.no_display else Viewer(pipeline, model.path.stem, fullscreen=args.fullscreen)
        for part in (compositor, view, pipeline):
            if part is not None:
                part.start()
        if viewer is None:
            report_headless(pipeline)
        else:
            viewer.run()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        if pipeline is not None:
            pipeline.stop()
        # Upstream first, so that each part has been given everything before it is closed.
        close_all(source, compositor, detector, log, mqtt, recorder, view)
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
