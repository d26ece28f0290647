"""Latency, memory and agreement of every MoViNet stream model in a folder, per runtime and thread count.

    python -m benchmarks.models [--models models] [--media media] [--threads 1,2,4]
                                [--frames 200] [--json FILE] [--plot FILE]

Each (model, runtime, threads) runs in its own process, so that start-up time and peak memory
are its own. Per configuration it measures, interleaved frame by frame so that machine noise
hits all of them alike:
  invoke   interpreter.invoke() alone (the floor)
  model    invoke + feeding the states back (what the wrapper adds to the floor)
  prep     crop + resize + colour + scale into the input buffer
  step     the full per-frame step: prep + model + softmax + top-k
  naive    the loop most published examples use: squash resize, signature runner called with a
           dict of every state, outputs reused as states, exp-softmax, full sort
and reports the step's overhead over invoke, its speed-up over the naive loop, start-up time,
peak RSS and the top-1 per clip of the media folder (agreement with the first configuration
of the same model). Stand-in models (random weights) are marked as such.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

import cv2
import numpy as np

from benchmarks.media import MEDIA, MODELS, ROOT, require_media
from benchmarks.naive_loop import NaiveLoop
from benchmarks.stats import fps_from_ms, markdown_table, peak_rss_mb, summarize_ms

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".gif", ".mov", ".webm"}
COLUMNS = [
    ("model", "model"),
    ("size_mb", "MB"),
    ("input", "input"),
    ("runtime", "runtime"),
    ("threads", "thr"),
    ("invoke_p50", "invoke p50"),
    ("invoke_p95", "invoke p95"),
    ("step_p50", "step p50"),
    ("step_p95", "step p95"),
    ("overhead", "+feed"),
    ("prep_p50", "prep p50"),
    ("naive_p50", "naive p50"),
    ("speedup", "vs naive"),
    ("max_fps", "max fps"),
    ("startup_ms", "start-up ms"),
    ("rss_mb", "peak RSS MB"),
    ("agreement", "top-1 agree"),
]


def clip_frames(media: Path | None, fps: float = 5.0, per_clip: int = 60) -> dict[str, list[np.ndarray]]:
    """Paced frames of each clip in ``media`` (at most ``per_clip`` each)."""
    from tests.support.video_frames import paced_frames

    clips = sorted(media.iterdir()) if media and media.is_dir() else []
    return {p.name: paced_frames(p, fps, per_clip) for p in clips if p.suffix.lower() in VIDEO_SUFFIXES}


def timing_frames(clips: dict[str, list[np.ndarray]], count: int = 16) -> list[np.ndarray]:
    """A few camera-sized (640x480) frames from the clips, for the timing loop."""
    frames = [f for fs in clips.values() for f in fs[:4]][:count]
    return [cv2.resize(f, (640, 480)) for f in frames] or [np.full((480, 640, 3), 128, np.uint8)]


def worker(model_path: str, runtime_name: str, threads: int, frames_n: int, media: str | None) -> dict:
    """Measure one configuration in this process; returns one result row."""
    from video_classifier.model.classifier import ActionClassifier
    from video_classifier.model.movinet import MovinetStream
    from video_classifier.model.runtime import load_runtime
    from video_classifier.model.scores import softmax, top_k

    media_dir = Path(media) if media else None
    frames = timing_frames(clip_frames(media_dir, per_clip=4))
    runtime = load_runtime(runtime_name)

    start = time.perf_counter()
    model = MovinetStream(model_path, num_threads=threads, runtime=runtime)
    softmax(model.step(frames[0]))
    startup_ms = (time.perf_counter() - start) * 1000

    naive = NaiveLoop(runtime.interpreter_class(model_path=model_path, num_threads=threads), model.input_size)
    interpreter = model._interpreter
    parts = ("prep", "invoke", "feed", "post", "naive_prep", "naive_call", "naive_post")
    timings: dict[str, list[float]] = {k: [] for k in parts}
    clock = time.perf_counter
    for i in range(frames_n + 10):
        frame = frames[i % len(frames)]
        t0 = clock()
        model.set_input(frame)
        t1 = clock()
        interpreter.invoke()
        t2 = clock()
        model.feed_back_states()
        logits = model.read_logits()
        t3 = clock()
        top_k(softmax(logits), 3)
        t4 = clock()
        image = naive.prepare(frame)
        t5 = clock()
        logits = naive.call(image)
        t6 = clock()
        naive.rank(logits)
        t7 = clock()
        if i >= 10:  # warm-up frames excluded
            marks = (t0, t1, t2, t3, t4, t5, t6, t7)
            for key, a, b in zip(parts, marks, marks[1:]):
                timings[key].append((b - a) * 1000)
    rss = peak_rss_mb()
    per_frame = {
        "step": [sum(v) for v in zip(*(timings[k] for k in ("prep", "invoke", "feed", "post")))],
        "model": [a + b for a, b in zip(timings["invoke"], timings["feed"])],
        "core": [a + b + c for a, b, c in zip(timings["invoke"], timings["feed"], timings["post"])],
        "naive": [sum(v) for v in zip(*(timings[k] for k in ("naive_prep", "naive_call", "naive_post")))],
        "naive_core": [a + b for a, b in zip(timings["naive_call"], timings["naive_post"])],
    }
    stats = {k: summarize_ms(v) for k, v in {**timings, **per_frame}.items()}

    top1 = {}
    if media_dir:
        classifier = ActionClassifier(model, [str(i) for i in range(model.num_classes)], k=1)
        for name, clip in clip_frames(media_dir).items():
            classifier.reset()
            for frame in clip:
                probs, _ = classifier.scores(frame)
            top1[name] = int(np.argmax(probs))
    p50 = {k: v["p50"] for k, v in stats.items()}
    return {
        "model_path": model_path,
        "model": Path(model_path).stem + (" (stand-in)" if "standin" in model_path else ""),
        "size_mb": round(os.path.getsize(model_path) / 1e6, 2),
        "input": f"{model.input_size[0]}x{model.input_size[1]}",
        "states": len(model.signature.states),
        "fed_back_mb": round(model.fed_back_bytes / 1e6, 2),
        "runtime": str(runtime),
        "threads": threads,
        "timings_ms": stats,
        "invoke_p50": p50["invoke"],
        "invoke_p95": stats["invoke"]["p95"],
        "step_p50": p50["step"],
        "step_p95": stats["step"]["p95"],
        "prep_p50": p50["prep"],
        "naive_p50": p50["naive"],
        "overhead": f"{p50['model'] / p50['invoke'] - 1:+.0%}",
        "speedup": f"{p50['naive_core'] / p50['core']:.2f}x",
        "max_fps": round(fps_from_ms(p50["step"])),
        "startup_ms": round(startup_ms),
        "rss_mb": round(rss, 1),
        "top1": top1,
    }


def available_runtimes(requested: list[str]) -> list[str]:
    from video_classifier.model.runtime import load_runtime

    found = []
    for name in requested:
        try:
            load_runtime(name)
            found.append(name)
        except Exception:
            print(f"runtime {name} not installed: skipped", file=sys.stderr)
    return found


def find_models(folder: Path) -> list[Path]:
    """Every MoViNet stream model under ``folder``; other .tflite files are skipped with a note."""
    from video_classifier.errors import ModelError
    from video_classifier.model.movinet import MovinetStream

    models = []
    for path in sorted(folder.rglob("*.tflite")):
        try:
            MovinetStream(path)
            models.append(path)
        except ModelError as exc:
            print(f"skipped {path}: {exc}", file=sys.stderr)
    return models


def plot(rows: list[dict], path: Path) -> None:
    """A horizontal bar chart of step p50 (and invoke p50) per configuration, drawn with OpenCV."""
    bar_h, left, width = 26, 430, 520
    height = 60 + bar_h * len(rows)
    image = np.full((height, left + width + 80, 3), 255, np.uint8)
    top = max(r["step_p50"] for r in rows) or 1
    cv2.putText(
        image,
        "ms per frame (p50): full step (blue), invoke alone (grey)",
        (10, 25),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.55,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    for i, row in enumerate(rows):
        y = 45 + i * bar_h
        short = row["model"].replace("movinet_", "").replace("_stream_int8", "").replace("_standin", "")
        label = f"{short[:30]}  {row['runtime'].split()[0]}  {row['threads']} thr"
        cv2.putText(image, label, (10, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        step_w, invoke_w = int(width * row["step_p50"] / top), int(width * row["invoke_p50"] / top)
        cv2.rectangle(image, (left, y + 2), (left + step_w, y + bar_h - 4), (200, 120, 40), -1)
        cv2.rectangle(image, (left, y + 8), (left + invoke_w, y + bar_h - 10), (160, 160, 160), -1)
        cv2.putText(
            image,
            f"{row['step_p50']:.2f}",
            (left + step_w + 5, y + 16),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    cv2.imwrite(str(path), image)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=MODELS)
    p.add_argument("--media", type=Path, default=MEDIA)
    p.add_argument("--threads", default=None, help="comma-separated (default 1,2,4 capped at the core count)")
    p.add_argument("--runtimes", default="litert,tflite-runtime")
    p.add_argument("--frames", type=int, default=200, help="timed frames per configuration")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--worker", nargs=4, metavar=("MODEL", "RUNTIME", "THREADS", "FRAMES"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    require_media()
    media = str(args.media) if args.media.is_dir() else None
    if args.worker:
        model, runtime, threads, frames = args.worker
        print(json.dumps(worker(model, runtime, int(threads), int(frames), media)))
        return 0

    cores = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({min(t, cores) for t in (1, 2, 4)})
    runtimes = available_runtimes(args.runtimes.split(","))
    models = find_models(args.models)
    if not models or not runtimes:
        print("error: no MoViNet stream model or no runtime found: run ./setup.sh", file=sys.stderr)
        return 2
    configs = [(m, r, t) for m in models for r in runtimes for t in threads]
    rows = []
    for n, (model, runtime, thread_count) in enumerate(configs, 1):
        print(f"[{n}/{len(configs)}] {model.name} {runtime} {thread_count} thread(s)", file=sys.stderr, flush=True)
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.models",
            "--media",
            str(args.media),
            "--worker",
            str(model),
            runtime,
            str(thread_count),
            str(args.frames),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"  failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    reference: dict[str, dict] = {}
    for row in rows:
        ref = reference.setdefault(row["model_path"], row["top1"])
        same = sum(ref.get(c) == v for c, v in row["top1"].items())
        row["agreement"] = f"{same}/{len(row['top1'])}" if row["top1"] else "-"
    print(f"\nCPU: {cpu_name()}, {cores} cores; {args.frames} timed frames per row; times in ms\n")
    print(markdown_table(rows, COLUMNS))
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_name(), "cores": cores, "rows": rows}, indent=1))
    if args.plot and rows:
        plot(rows, args.plot)
    return 0


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
