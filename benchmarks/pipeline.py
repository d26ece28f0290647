"""Whole-app figures: real-time behaviour with the window, and offline throughput.

    python -m benchmarks.pipeline [--clip media/cleaning_pool_mmaction2_test.mp4] [--threads 1,2]
                                  [--json FILE]

Real time: the clip plays at its own 30 fps into the window (on $DISPLAY, or an Xvfb the
script starts), the model gets 5 fps. Reported per thread count: display FPS, model FPS,
skipped frames, end-to-end latency (frame out of the source -> its prediction on screen)
p50/p95, CPU% of one core, peak RSS.
Throughput: ``classify.py --no-display`` on the 1080p NTU clip and a 480p copy of it: frames
read per second (decode included), against decoding alone, to show where the pipeline is bound.
Each run is its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from benchmarks.media import A0, KINETICS_LABELS, MEDIA, ROOT
from benchmarks.stats import markdown_table, peak_rss_mb, summarize_ms


def _classifier(threads: int):
    from video_classifier.classifier import ActionClassifier

    return ActionClassifier.open(A0, KINETICS_LABELS, num_threads=threads)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def realtime_worker(clip: str, threads: int, delay_ms: float) -> dict:
    """Play ``clip`` in real time through the window; one result row."""
    from video_classifier.pipeline import Pipeline
    from video_classifier.sources import VideoFileSource
    from video_classifier.window import CvWindow, Viewer

    classifier = _classifier(threads)
    source = VideoFileSource(clip)
    pipeline = Pipeline(source, classifier, realtime=True, model_delay_s=delay_ms / 1000)
    viewer = Viewer(pipeline, "a0", CvWindow())
    cpu0, t0 = _cpu_seconds(), time.monotonic()
    pipeline.start()
    viewer.run()
    wall = time.monotonic() - t0
    pipeline.stop()
    source.close()
    latency = summarize_ms([s * 1000 for s in viewer.latencies])
    return {
        "threads": threads,
        "delay_ms": delay_ms,
        "camera_fps": round(pipeline.frames_captured / wall, 1),
        "display_fps": round(viewer.frames_shown / wall, 1),
        "model_fps": round(pipeline.predictions / wall, 2),
        "skipped": pipeline.skipped,
        "latency_p50": latency["p50"],
        "latency_p95": latency["p95"],
        "cpu_pct": round(100 * (_cpu_seconds() - cpu0) / wall),
        "rss_mb": round(peak_rss_mb(), 1),
    }


def throughput_worker(clip: str, threads: int) -> dict:
    """Read ``clip`` as fast as possible through the model (no window); one result row."""
    from video_classifier.pipeline import Pipeline
    from video_classifier.sources import VideoFileSource

    t0 = time.monotonic()
    with VideoFileSource(clip) as source:
        height, width = source.read().image.shape[:2]
        while source.read() is not None:
            pass
        decode_fps = source.frames_read / (time.monotonic() - t0)
    size = f"{width}x{height}"
    classifier = _classifier(threads)
    source = VideoFileSource(clip)
    t0 = time.monotonic()
    pipeline = Pipeline(source, classifier, realtime=False).start()
    pipeline.wait()
    wall = time.monotonic() - t0
    pipeline.stop()
    source.close()
    return {
        "clip": Path(clip).name,
        "size": size,
        "threads": threads,
        "frames": pipeline.frames_captured,
        "pipeline_fps": round(pipeline.frames_captured / wall, 1),
        "decode_fps": round(decode_fps, 1),
        "model_frames": pipeline.predictions,
        "rss_mb": round(peak_rss_mb(), 1),
    }


def _run_worker(*args: str, env: dict | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.pipeline", "--worker", *args], capture_output=True, text=True, cwd=ROOT, env=env
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _display_env() -> tuple[dict, subprocess.Popen | None]:
    env = dict(os.environ)
    if env.get("DISPLAY"):
        return env, None
    if not shutil.which("Xvfb"):
        raise SystemExit("error: no DISPLAY and no Xvfb: run on the Pi's desktop or apt install xvfb")
    xvfb = subprocess.Popen(
        ["Xvfb", ":77", "-screen", "0", "1280x720x24", "-noreset", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    env["DISPLAY"] = ":77"
    return env, xvfb


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, default=MEDIA / "cleaning_pool_mmaction2_test.mp4")
    p.add_argument("--hd-clip", type=Path, default=MEDIA / "ntu_S001C001P001R001A001_drink_water.avi")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--delay-ms", type=float, default=0.0, help="extra ms per model frame (a slower board)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        kind, clip, threads, *rest = args.worker
        row = realtime_worker(clip, int(threads), float(rest[0])) if kind == "realtime" else None
        print(json.dumps(row or throughput_worker(clip, int(threads))))
        return 0

    threads = [int(t) for t in args.threads.split(",")]
    env, xvfb = _display_env()
    try:
        realtime = []
        for t in threads:
            print(f"real time: {args.clip.name}, {t} thread(s)", file=sys.stderr, flush=True)
            realtime.append(_run_worker("realtime", str(args.clip), str(t), str(args.delay_ms), env=env))
    finally:
        if xvfb:
            xvfb.terminate()
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "480p.mp4"
        _transcode(args.hd_clip, small, (854, 480))
        throughput = []
        for clip in (args.hd_clip, small):
            for t in threads:
                print(f"throughput: {clip.name}, {t} thread(s)", file=sys.stderr, flush=True)
                throughput.append(_run_worker("throughput", str(clip), str(t)))
    print("\nReal time (clip at its own 30 fps, model at 5 fps, window on)\n")
    print(
        markdown_table(
            realtime,
            [
                ("threads", "threads"),
                ("camera_fps", "camera fps"),
                ("display_fps", "display fps"),
                ("model_fps", "model fps"),
                ("skipped", "skipped"),
                ("latency_p50", "latency p50 ms"),
                ("latency_p95", "latency p95 ms"),
                ("cpu_pct", "CPU %"),
                ("rss_mb", "peak RSS MB"),
            ],
        )
    )
    print("\nThroughput (--no-display: as fast as possible)\n")
    print(
        markdown_table(
            throughput,
            [
                ("clip", "clip"),
                ("size", "size"),
                ("threads", "threads"),
                ("pipeline_fps", "frames/s"),
                ("decode_fps", "decode only frames/s"),
                ("model_frames", "model frames"),
                ("rss_mb", "peak RSS MB"),
            ],
        )
    )
    if args.json:
        args.json.write_text(json.dumps({"realtime": realtime, "throughput": throughput}, indent=1))
    return 0


def _transcode(src: Path, dst: Path, size: tuple[int, int]) -> None:
    capture = cv2.VideoCapture(str(src))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    writer.release()
    capture.release()


if __name__ == "__main__":
    sys.exit(main())
