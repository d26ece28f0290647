"""Long-run check: memory and file descriptors over an hour's worth of model frames.

    python -m benchmarks.soak [--frames 18000] [--clip media/carving_ice_rpi.mp4] [--everything --mqtt-port P] [--json FILE]

Runs the whole pipeline (video source looped, pacer, default memory window, action events,
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

from benchmarks.media import A0, KINETICS_LABELS, MEDIA, LoopedVideo
from benchmarks.stats import markdown_table
from video_classifier.classifier import ActionClassifier
from video_classifier.compositor import Compositor
from video_classifier.events import EventDetector
from video_classifier.home_assistant import MqttPublisher, MqttSettings
from video_classifier.json_log import JsonLinesLog
from video_classifier.live_view import LiveView
from video_classifier.outputs import Output, Outputs, close_all
from video_classifier.pipeline import Pipeline
from video_classifier.recorder import EventRecorder


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
    """Run ``frames`` model frames; RSS/FD figures after ``warmup`` frames and at the last one.

    ``everything`` adds the live view with a viewer reading its stream, event clips, and MQTT to
    the broker on ``mqtt_port`` (loopback). Raises ``RuntimeError`` when a sample was missed.
    """
    classifier = ActionClassifier.open(model, labels, num_threads=1, window_frames=30)
    samples = MemorySamples(warmup, frames)
    with tempfile.TemporaryDirectory() as tmp:
        outputs = Outputs(JsonLinesLog(str(Path(tmp) / "soak.jsonl")), samples)
        source = LoopedVideo(clip)
        pipeline = Pipeline(
            source, classifier, output=outputs, events=EventDetector(outputs), realtime=False, max_predictions=frames
        )
        stop_viewer, pictures, viewer = threading.Event(), [0], None
        if everything:
            compositor = outputs.add(Compositor(pipeline, "a0", output=outputs))
            recorder = outputs.add(EventRecorder(Path(tmp) / "clips", max_mb=20, model_name="a0"))
            view = outputs.add(LiveView(pipeline, compositor, "127.0.0.1", 0, "soak-token", False, recorder.library))
            if mqtt_port:
                outputs.add(MqttPublisher(MqttSettings("127.0.0.1", mqtt_port, topic="soak"), "a0").connect())
            viewer = threading.Thread(target=watch_stream, args=(view.port, stop_viewer, pictures), daemon=True)
        start = time.monotonic()
        outputs.start()
        pipeline.start()
        if viewer is not None:
            viewer.start()
        pipeline.wait()
        pipeline.stop()
        elapsed = time.monotonic() - start
        stop_viewer.set()
        close_all(source, pipeline.events, outputs)
        if viewer is not None:
            viewer.join(15)
        log_lines = len((Path(tmp) / "soak.jsonl").read_text().splitlines())
    if pipeline.error:
        raise RuntimeError(f"the soak failed: {pipeline.error!r}")
    missing = {"warm", "end"} - set(samples.marks)
    if missing:
        raise RuntimeError(f"the soak missed its {' and '.join(sorted(missing))} sample: run more than {warmup} frames")
    warm, end = samples.marks["warm"], samples.marks["end"]
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
    p.add_argument("--clip", type=Path, default=MEDIA / "carving_ice_rpi.mp4")
    p.add_argument("--everything", action="store_true", help="also the live view, clips and MQTT")
    p.add_argument("--mqtt-port", type=int, default=None, help="a broker on 127.0.0.1 for --everything")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    row = soak(args.frames, args.clip, everything=args.everything, mqtt_port=args.mqtt_port)
    print(markdown_table([row], [(k, k) for k in row]))
    if args.json:
        args.json.write_text(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
