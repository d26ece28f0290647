"""Whole-app figures: real-time behaviour with the window, offline throughput, and the app
against the naive loop.

    python -m benchmarks.pipeline [--clip media/cleaning_pool_mmaction2_test.mp4] [--threads 1,2]
                                  [--json FILE]
    python -m benchmarks.pipeline --versus-naive [--pairs 3] [--json FILE]

Real time: the clip plays at its own 30 fps into the window (on $DISPLAY, or an Xvfb the
script starts), the model gets 5 fps. Reported per thread count: display FPS, model FPS,
skipped frames, latency (frame out of the source -> its prediction out, to the window and the other outputs)
p50/p95, CPU% of one core, peak RSS.
Throughput: ``classify.py --no-display`` on the 1080p NTU clip and a 480p copy of it: frames
read per second (decode included), against decoding alone, to show where the pipeline is bound.
Each run is its own process.
Versus naive: ``classify.py --no-display --log /dev/null`` and ``benchmarks/naive_loop.py`` (same
runtime, one thread, same model frames) as whole processes (start-up included), on clips where
decoding is cheap so that the app's own per-frame work shows (340x256 at 10 fps, MJPEG: 60 s and
10 s) and on a camera-sized one (640x480 at 30 fps, 60 s): CPU time and wall time, in pairs run
back to back in alternating order so that both sides see the same load; the ratio app/naive per
pair, its worst (the figure to quote), median and range. The app's bytecode is compiled first, as
``setup.sh`` does and as any start after the first finds it: a tree edited since would otherwise
compile its modules at every start where ``PYTHONDONTWRITEBYTECODE`` is set (30 ms of each run).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

import cv2

from benchmarks import STARTED_ENV
from benchmarks.media import A0, KINETICS_LABELS, MEDIA, ROOT, require_media
from benchmarks.stats import markdown_table, peak_rss_mb, summarize_ms
from video_classifier.app import App
from video_classifier.outputs import Output
from video_classifier.settings import Settings


class Latencies(Output):
    """Seconds from each model frame leaving the source to its prediction being out."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_prediction(self, prediction) -> None:
        self.seconds.append(time.monotonic() - prediction.received_at)


def _settings(clip: str, threads: int, **more) -> Settings:
    return Settings(camera=clip, model=str(A0), labels=str(KINETICS_LABELS), num_threads=threads, **more)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def realtime_worker(clip: str, threads: int, delay_ms: float) -> dict:
    """Play ``clip`` in real time through the app's window; one result row."""
    latencies = Latencies()
    app = App(_settings(clip, threads, simulate_model_delay_ms=delay_ms), extra_outputs=[latencies])
    cpu0, t0 = _cpu_seconds(), time.monotonic()
    app.run()
    wall = time.monotonic() - t0
    pipeline = app.pipeline
    latency = summarize_ms([s * 1000 for s in latencies.seconds])
    return {
        "threads": threads,
        "delay_ms": delay_ms,
        "camera_fps": round(pipeline.frames_captured / wall, 1),
        "display_fps": round(app.window.frames_shown / wall, 1),
        "model_fps": round(pipeline.predictions / wall, 2),
        "skipped": pipeline.skipped,
        "latency_p50": latency["p50"],
        "latency_p95": latency["p95"],
        "cpu_pct": round(100 * (_cpu_seconds() - cpu0) / wall),
        "rss_mb": round(peak_rss_mb(), 1),
    }


def throughput_worker(clip: str, threads: int) -> dict:
    """Read ``clip`` as fast as possible through the app (no window); one result row."""
    t0, decoded, capture = time.monotonic(), 0, cv2.VideoCapture(clip)
    while True:
        ok, image = capture.read()
        if not ok:
            break
        height, width = image.shape[:2]
        decoded += 1
    capture.release()
    decode_fps = decoded / (time.monotonic() - t0)
    app = App(_settings(clip, threads, no_display=True))
    t0 = time.monotonic()
    app.run()
    wall = time.monotonic() - t0
    pipeline = app.pipeline
    return {
        "clip": Path(clip).name,
        "size": f"{width}x{height}",
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
    p.add_argument("--versus-naive", action="store_true", help="only the app against the naive loop")
    p.add_argument("--pairs", type=int, default=3, help="paired runs per clip for --versus-naive")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    require_media()
    if args.versus_naive:
        return versus_naive(args.clip, args.pairs, args.json)
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


def _run_measured(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one whole process, in the environment the benchmark
    was started in (not the one this process's imports of the app adjusted)."""
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=STARTED_ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr.read().decode()}")
    proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime


# name -> (seconds, size, frames per second, fourcc, suffix) of the clips --versus-naive runs on
VERSUS_CLIPS = {
    "cheap 60 s": (60, (340, 256), 10.0, "MJPG", ".avi"),
    "cheap 10 s": (10, (340, 256), 10.0, "MJPG", ".avi"),
    "camera 60 s": (60, (640, 480), 30.0, "mp4v", ".mp4"),
}


def _looped_clip(src: Path, dst: Path, seconds: float, size: tuple[int, int], fps: float, fourcc: str) -> None:
    """``src`` looped to ``seconds`` at ``size`` and ``fps`` (each frame the one showing at its time)."""
    capture = cv2.VideoCapture(str(src))
    rate = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    capture.release()
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for i in range(round(seconds * fps)):
        writer.write(frames[int(i / fps * rate) % len(frames)])
    writer.release()


def _compile_app() -> None:
    """The app's bytecode up to date, as a user's second start finds it."""
    for folder in ("video_classifier", "utils"):
        compileall.compile_dir(ROOT / folder, quiet=1)


def versus_naive(clip: Path, pairs: int, json_path: Path | None) -> int:
    """The app against the naive loop, whole processes in alternating pairs; prints the table."""
    _compile_app()
    model = ["--model", str(A0), "--labels", str(KINETICS_LABELS)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = {}
        for name, (seconds, size, fps, fourcc, suffix) in VERSUS_CLIPS.items():
            clips[name] = Path(tmp) / f"{name.replace(' ', '_')}{suffix}"
            _looped_clip(clip, clips[name], seconds, size, fps, fourcc)
        samples: dict[str, dict[str, list[tuple[float, float]]]] = {name: {"app": [], "naive": []} for name in clips}
        for i in range(pairs):
            for name, path in clips.items():
                commands = {
                    "app": [
                        sys.executable,
                        "classify.py",
                        "--camera",
                        str(path),
                        "--no-display",
                        "--log",
                        os.devnull,
                        "--num-threads",
                        "1",
                        "--runtime",
                        "litert",
                        *model,
                    ],  # fmt: skip
                    "naive": [sys.executable, "benchmarks/naive_loop.py", str(path), str(A0), str(KINETICS_LABELS)],
                }
                for side in ("app", "naive") if i % 2 == 0 else ("naive", "app"):
                    print(f"pair {i + 1}/{pairs}: {name} clip, {side}", file=sys.stderr, flush=True)
                    samples[name][side].append(_run_measured(commands[side]))
        for name, runs in samples.items():
            cpu = sorted(a[1] / n[1] for a, n in zip(runs["app"], runs["naive"]))
            wall = sorted(a[0] / n[0] for a, n in zip(runs["app"], runs["naive"]))
            rows.append(
                {
                    "clip": name,
                    "pairs": pairs,
                    "naive_cpu_s": _median([n[1] for n in runs["naive"]]),
                    "app_cpu_s": _median([a[1] for a in runs["app"]]),
                    "cpu_worst": round(cpu[-1], 3),
                    "cpu_ratio": _median(cpu),
                    "cpu_range": f"{cpu[0]:.2f}-{cpu[-1]:.2f}",
                    "naive_wall_s": _median([n[0] for n in runs["naive"]]),
                    "app_wall_s": _median([a[0] for a in runs["app"]]),
                    "wall_worst": round(wall[-1], 3),
                    "wall_ratio": _median(wall),
                    "wall_range": f"{wall[0]:.2f}-{wall[-1]:.2f}",
                }
            )
    print(f"\nApp against the naive loop ({clip.name} looped, A0, LiteRT, 1 thread)\n")
    columns = [("clip", "clip"), ("pairs", "pairs"), ("naive_cpu_s", "naive CPU s"), ("app_cpu_s", "app CPU s"),
               ("cpu_worst", "CPU app/naive, worst"), ("cpu_ratio", "median"), ("cpu_range", "range"),
               ("naive_wall_s", "naive wall s"), ("app_wall_s", "app wall s"), ("wall_worst", "wall app/naive, worst"),
               ("wall_ratio", "median"), ("wall_range", "range")]  # fmt: skip
    print(markdown_table(rows, columns))
    if json_path:
        json_path.write_text(json.dumps({"versus_naive": rows}, indent=1))
    return 0


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    value = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return round(value, 3)


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
