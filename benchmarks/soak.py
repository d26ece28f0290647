"""Long-run check: memory and file descriptors over an hour's worth of model frames.

    python -m benchmarks.soak [--frames 18000] [--clip media/carving_ice_rpi.mp4] [--everything --mqtt-port P] [--json FILE]

Runs the app as it ships (video source looped, pacer, default memory window, action events,
JSON-lines log; with --everything also the live view with a viewer reading its stream, event
clips and, with --mqtt-port, MQTT to a broker on loopback) as fast as possible for ``--frames``
model frames (18,000 = one hour at 5 fps) and reports resident memory and open file descriptors
after warm-up and at the last frame, both sampled while it runs.
Target: growth under 2 MB, no descriptor growth.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

from benchmarks.media import A0, KINETICS_LABELS, MEDIA, require_media
from benchmarks.stats import markdown_table
from video_classifier.app import App
from video_classifier.outputs import Output
from video_classifier.settings import Settings


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class MemorySamples(Output):
    """Resident memory and open descriptors sampled in the inference thread, while the app runs:
    after ``warmup`` model frames and at the ``last`` one (before anything is stopped)."""

    def __init__(self, warmup: int, last: int) -> None:
        self.points = {warmup: "warm", last: "end"}
        self.marks: dict[str, tuple[float, int]] = {}
        self._count = 0

    def on_prediction(self, prediction) -> None:
        self._count += 1
        if self._count in self.points:
            self.marks[self.points[self._count]] = (rss_mb(), open_fds())


def watch_stream(port: int, stop: threading.Event, counts: list[int]) -> None:
    """A browser watching the live view: reads every picture of the MJPEG stream."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/stream.mjpg")
    response = connection.getresponse()
    while not stop.is_set():
        line = response.readline()
        if not line:
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
            response.readline()
            response.read(length)
            counts[0] += 1
    connection.close()


def soak(
    frames: int,
    clip: Path,
    warmup: int = 200,
    model: Path = A0,
    labels: Path = KINETICS_LABELS,
    everything: bool = False,
    mqtt_port: int | None = None,
) -> dict:
    """Run the app for ``frames`` model frames; RSS/FD figures after ``warmup`` frames and at the last one.

    ``everything`` adds the live view with a viewer reading its stream, event clips, and MQTT to
    the broker on ``mqtt_port`` (loopback). Raises ``RuntimeError`` when a sample was missed.
    """
    samples = MemorySamples(warmup, frames)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "soak.jsonl"
        settings = Settings(
            camera=str(clip),
            loop=True,
            model=str(model),
            labels=str(labels),
            num_threads=1,
            no_display=True,
            log=str(log),
            max_frames=frames,
            realtime=False,  # as fast as the model goes, even with the live view
            serve="127.0.0.1:0" if everything else None,
            record=str(Path(tmp) / "clips") if everything else None,
            record_max_mb=20,
            mqtt=f"127.0.0.1:{mqtt_port}" if everything and mqtt_port else None,
            mqtt_topic="soak",
        )
        app = App(settings, extra_outputs=[samples])
        stop_viewer, pictures, viewer = threading.Event(), [0], None
        if everything:
            viewer = threading.Thread(target=watch_stream, args=(app.live_view.port, stop_viewer, pictures), daemon=True)
            viewer.start()
        start = time.monotonic()
        try:
            app.run()
        finally:
            elapsed = time.monotonic() - start
            stop_viewer.set()
            if viewer is not None:
                viewer.join(15)
        log_lines = len(log.read_text().splitlines())
    missing = {"warm", "end"} - set(samples.marks)
    if missing:
        raise RuntimeError(f"the soak missed its {' and '.join(sorted(missing))} sample: run more than {warmup} frames")
    warm, end = samples.marks["warm"], samples.marks["end"]
    pipeline = app.pipeline
    return {
        "set_up": "log, events" + (", live view + viewer, clips, MQTT" if everything else ""),
        "model_frames": pipeline.predictions,
        "video_frames": pipeline.frames_captured,
        "seconds": round(elapsed, 1),
        "model_fps": round(pipeline.predictions / elapsed, 1),
        "rss_warm_mb": round(warm[0], 1),
        "rss_end_mb": round(end[0], 1),
        "rss_growth_mb": round(end[0] - warm[0], 2),
        "fds_warm": warm[1],
        "fds_end": end[1],
        "log_lines": log_lines,
        "stream_pictures": pictures[0],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=18_000)
    p.add_argument("--warmup", type=int, default=200, help="model frames before the first sample")
    p.add_argument("--clip", type=Path, default=MEDIA / "carving_ice_rpi.mp4")
    p.add_argument("--model", type=Path, default=A0)
    p.add_argument("--labels", type=Path, default=KINETICS_LABELS)
    p.add_argument("--everything", action="store_true", help="also the live view, clips and MQTT")
    p.add_argument("--mqtt-port", type=int, default=None, help="a broker on 127.0.0.1 for --everything")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    require_media()
    try:
        row = soak(args.frames, args.clip, args.warmup, args.model, args.labels, args.everything, args.mqtt_port)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(markdown_table([row], [(k, k) for k in row]))
    if args.json:
        args.json.write_text(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
