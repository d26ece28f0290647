"""Does the browser live view (and recording) slow the model down?

    python -m benchmarks.live_view [--clip media/cleaning_pool_mmaction2_test.mp4] [--size 640x480]
                                   [--seconds 20] [--viewers 3] [--json FILE]

Plays the clip, scaled to the Pi camera's default 640x480 and looped, in real time through the
app as it ships (its memory window included), as a camera would deliver it, in four set-ups, each in its own process: the
model alone; with --serve and nobody watching; with --viewers browsers pulling the MJPEG stream
over loopback; and with --record as well.
Reported: model FPS, model step p50/p95 (the model's own time: invoke and state feedback), capture -> result latency
p50/p95, paced frames skipped, stream FPS each viewer received, CPU% of one core, peak RSS.
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

from benchmarks.media import A0, KINETICS_LABELS, MEDIA, ROOT, require_media
from benchmarks.stats import markdown_table, peak_rss_mb, summarize_ms
from video_classifier.outputs import Output

SETUPS = ["model only", "serve, no viewer", "serve, viewers", "serve + record, viewers"]


class Timings(Output):
    """Keeps each prediction's step time and capture -> result latency."""

    def __init__(self) -> None:
        self.step_ms: list[float] = []
        self.latency_ms: list[float] = []

    def on_prediction(self, prediction) -> None:
        self.step_ms.append(prediction.inference_ms)
        self.latency_ms.append((time.monotonic() - prediction.received_at) * 1000)


def watch(port: int, stop: threading.Event, counts: list[int], slot: int) -> None:
    """One browser: read the MJPEG stream and count the pictures."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/stream.mjpg")
    response = connection.getresponse()
    while not stop.is_set():
        line = response.readline()
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
            response.readline()  # the blank line after the part's headers
            response.read(length)
            counts[slot] += 1
    connection.close()


def worker(setup: str, clip: Path, seconds: float, viewers: int, warmup_s: float) -> dict:
    from video_classifier.app import App
    from video_classifier.settings import Settings

    timings = Timings()
    serve = "127.0.0.1:0" if setup != "model only" else None
    record = tempfile.mkdtemp(prefix="bench-clips-") if "record" in setup else None
    settings = Settings(
        camera=str(clip),
        loop=True,
        realtime=True,  # as a camera would deliver it, even with nobody watching
        model=str(A0),
        labels=str(KINETICS_LABELS),
        num_threads=1,
        no_display=True,
        serve=serve,
        record=record,
    )
    app = App(settings, extra_outputs=[timings])
    running = threading.Thread(target=app.run, daemon=True)
    running.start()
    pipeline = app.pipeline
    stop, counts, threads = threading.Event(), [0] * viewers, []
    if "viewers" in setup:
        threads = [
            threading.Thread(target=watch, args=(app.live_view.port, stop, counts, i), daemon=True) for i in range(viewers)
        ]
        for thread in threads:
            thread.start()
    time.sleep(warmup_s)  # model load effects, first connections
    skipped0, predictions0, counts0 = pipeline.skipped, pipeline.predictions, list(counts)
    timings.step_ms.clear()
    timings.latency_ms.clear()
    usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    time.sleep(seconds)
    usage1, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
    received = [(c - c0) / wall for c, c0 in zip(counts, counts0)]
    stop.set()
    app.request_stop()
    running.join(30)
    step, latency = summarize_ms(timings.step_ms), summarize_ms(timings.latency_ms)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    return {
        "setup": setup + (f" ({viewers})" if "viewers" in setup else ""),
        "model_fps": round((pipeline.predictions - predictions0) / wall, 2),
        "step_p50": step["p50"],
        "step_p95": step["p95"],
        "latency_p50": latency["p50"],
        "latency_p95": latency["p95"],
        "skipped": pipeline.skipped - skipped0,
        "stream_fps": round(min(received), 1) if threads else "",
        "cpu_pct": round(100 * cpu / wall),
        "rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=MEDIA / "cleaning_pool_mmaction2_test.mp4")
    parser.add_argument("--size", default="640x480", help="frame size the clip is scaled to first")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--viewers", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds run before measuring")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    require_media()
    if args.worker:
        print(json.dumps(worker(args.worker, args.clip, args.seconds, args.viewers, args.warmup)))
        return 0
    from benchmarks.pipeline import _transcode

    scaled = Path(tempfile.mkdtemp(prefix="bench-live-")) / f"{args.clip.stem}_{args.size}.mp4"
    _transcode(args.clip, scaled, tuple(int(n) for n in args.size.split("x")))
    rows = []
    for setup in SETUPS:
        command = [sys.executable, "-m", "benchmarks.live_view", "--worker", setup, "--clip", str(scaled)]
        command += ["--seconds", str(args.seconds), "--viewers", str(args.viewers), "--warmup", str(args.warmup)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"{setup} failed:\n{done.stderr}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"done: {setup}", file=sys.stderr)
    print(
        markdown_table(
            rows,
            [
                ("setup", "set-up"),
                ("model_fps", "model fps"),
                ("step_p50", "step p50 ms"),
                ("step_p95", "step p95 ms"),
                ("latency_p50", "capture->result p50 ms"),
                ("latency_p95", "p95 ms"),
                ("skipped", "skipped"),
                ("stream_fps", "stream fps per viewer"),
                ("cpu_pct", "CPU %"),
                ("rss_mb", "peak RSS MB"),
            ],
        )
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
