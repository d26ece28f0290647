"""Long-run check: memory and file descriptors over an hour's worth of model frames.

    python -m benchmarks.soak [--frames 18000] [--clip media/carving_ice_rpi.mp4] [--json FILE]

Runs the whole pipeline (video source looped, pacer, default memory window, action events,
JSON-lines log) as fast as possible for ``--frames`` model frames (18,000 = one hour at 5 fps)
and reports resident memory and open file descriptors after warm-up and at the end.
Target: growth under 5 MB, no descriptor growth.
"""

from __future__ import annotations

import argparse
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
from video_classifier.events import EventDetector
from video_classifier.json_log import JsonLinesLog
from video_classifier.pipeline import Pipeline


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def soak(frames: int, clip: Path, warmup: int = 200, model: Path = A0, labels: Path = KINETICS_LABELS) -> dict:
    """Run ``frames`` model frames; returns RSS/FD figures after ``warmup`` frames and at the end."""
    classifier = ActionClassifier.open(model, labels, num_threads=1, window_frames=25)
    with tempfile.TemporaryDirectory() as tmp:
        log = JsonLinesLog(str(Path(tmp) / "soak.jsonl"))
        detector = EventDetector(log)
        source = LoopedVideo(clip)
        pipeline = Pipeline(source, classifier, output=log, events=detector, realtime=False, max_predictions=frames)
        marks: dict[str, tuple[float, int]] = {}
        watcher_done = threading.Event()

        def watch() -> None:
            while not watcher_done.is_set():
                if "warm" not in marks and pipeline.predictions >= warmup:
                    marks["warm"] = (rss_mb(), open_fds())
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        start = time.monotonic()
        watcher.start()
        pipeline.start()
        pipeline.wait()
        pipeline.stop()
        elapsed = time.monotonic() - start
        watcher_done.set()
        watcher.join()
        end = (rss_mb(), open_fds())
        detector.close()
        log.close()
        source.close()
        log_lines = len((Path(tmp) / "soak.jsonl").read_text().splitlines())
    warm = marks.get("warm", end)
    return {
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
        "error": repr(pipeline.error) if pipeline.error else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=18_000)
    p.add_argument("--clip", type=Path, default=MEDIA / "carving_ice_rpi.mp4")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    row = soak(args.frames, args.clip)
    print(markdown_table([row], [(k, k) for k in row if k != "error"]))
    if args.json:
        args.json.write_text(json.dumps(row, indent=1))
    return 0 if row["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
