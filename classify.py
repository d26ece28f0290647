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

    p = CliParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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
    p.add_argument("--max-frames", type=_positive_int, default=None, help="stop after this many model frames")
    # Test hook: makes every model frame this much slower, to rehearse a slow board.
    p.add_argument("--simulate-model-delay-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def _stop_on_sigterm() -> None:
    """SIGTERM (systemctl stop, kill) takes the same clean path as Ctrl-C."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def event_detector(args: argparse.Namespace, log):
    """Action events go to the log; without a window they are also announced on stderr."""
    from video_classifier.events import EventDetector

    listeners, on_start = [], []
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


def open_camera(args: argparse.Namespace, log):
    """The ``--camera`` source; a live camera is reopened if it is lost (noted in the log)."""
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

    return ReconnectingSource(source, reopen, args.camera_timeout, on_status=note)


def run(args: argparse.Namespace) -> int:
    from utils.display import find_display, use_display
    from video_classifier.classifier import ActionClassifier
    from video_classifier.pipeline import Pipeline
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
    log = JsonLinesLog(args.log) if args.log else None
    sinks = [event_detector(args, log), *([log] if log else [])]
    source = open_camera(args, log)
    pipeline = Pipeline(
        source,
        classifier,
        args.fps,
        sinks,
        realtime=not args.no_display,
        model_delay_s=args.simulate_model_delay_ms / 1000.0,
        max_predictions=args.max_frames,
        on_reset=(lambda t: log.write_record({"type": "reset", "time_s": round(t, 3)})) if log else None,
    )
    print(f"source: {source.name}, model fed at {args.fps:g} fps", file=sys.stderr)
    viewer = None if args.no_display else Viewer(pipeline, model.path.stem, fullscreen=args.fullscreen)
    try:
        pipeline.start()
        if viewer is None:
            report_headless(pipeline)
        else:
            viewer.run()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        pipeline.stop()
        source.close()
        for sink in sinks:
            sink.close()
    if pipeline.error is not None:
        raise pipeline.error
    shown = f", {viewer.frames_shown} shown" if viewer else ""
    print(
        f"done: {pipeline.frames_captured} frames read, {pipeline.predictions} classified, {pipeline.skipped} skipped{shown}",
        file=sys.stderr,
    )
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
