"""What the Pi camera's lores stream saves: CPU per frame of reading the camera and making the
model's picture, with and without it, on the picamera2 stand-in.

    python -m benchmarks.lores [--frames 600] [--crop center] [--sizes 640x480,...] [--json FILE]

For each main size (640x480, 1280x720, 1920x1080) and model input (172: A0 and A1; 224: A2), two
``Picamera2Source`` read the stand-in (``tests/fakes``: the benchmark starts itself again with
it first on ``PYTHONPATH``, never a real camera) frame by frame in turn: one main only, one with
a lores stream for the model. Timed, in CPU time of the thread (OpenCV on one thread, so that
the time is the work itself, not the spinning of its pool):

- *read*: the app's part of one camera frame: picamera2's copies of the buffers (main, and the
  lores one). The stand-in's own work (decoding the clip, scaling as the ISP does), which the
  hardware does on a Pi, runs in another thread and is not counted.
- *prep*: the model's picture of one model frame (every sixth camera frame, in a second thread as
  in the pipeline): converting the lores picture to BGR, crop, resize, BGR->RGB and scaling into
  a float input buffer (what ``MovinetStream.set_input`` does).

The camera delivers 30 frames a second and the model takes 5: *CPU ms/s* = 30 x read + 5 x prep.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

import cv2
import numpy as np

from benchmarks.media import MEDIA, ROOT, require_media
from benchmarks.stats import markdown_table, summarize_ms
from video_classifier.model.preprocess import fill_input, resize_rgb
from video_classifier.sources.pi_camera import Picamera2Source

FAKES = ROOT / "tests" / "fakes"  # the picamera2 stand-in

MAIN_SIZES = [(640, 480), (1280, 720), (1920, 1080)]
MODEL_SIDES = [172, 224]
CAMERA_FPS, MODEL_FPS = 30, 5
MODEL_EVERY = CAMERA_FPS // MODEL_FPS
WARMUP = 5


def model_picture_ms(frame, buffer: np.ndarray, crop: str) -> float:
    """Make ``frame``'s model picture in ``buffer``, as the model's input is made; CPU ms."""
    start = time.thread_time()
    fill_input(buffer, resize_rgb(frame.model_image, buffer.shape[1::-1], crop))
    return (time.thread_time() - start) * 1000


class Timed:
    """A ``Picamera2Source`` on the stand-in, and the CPU ms of its reads and model pictures."""

    def __init__(self, main: tuple[int, int], model_size: tuple[int, int] | None, crop: str, isp: ThreadPoolExecutor) -> None:
        # A short frame period: the stand-in serves frames as fast as it can make them.
        self.source = Picamera2Source(*main, fps=1000.0, model_size=model_size, model_crop=crop)
        # The stand-in's own work (decoding, scaling: the ISP's on a Pi) runs in a thread of its
        # own, out of the reading thread's CPU time and out of its memory arena.
        capture = self.source._camera.capture_request
        self.source._camera.capture_request = lambda *args, **kwargs: isp.submit(capture, *args, **kwargs).result()
        self.read_ms: list[float] = []
        self.prep_ms: list[float] = []
        self.frame = None

    def read(self) -> float:
        start = time.thread_time()
        self.frame = self.source.read()  # the last frame is let go after the next read, as in the pipeline
        return (time.thread_time() - start) * 1000


def measure(main: tuple[int, int], side: int, frames: int, crop: str) -> list[dict]:
    """Read ``frames`` camera frames main only and with a lores stream, alternately (both see the
    same machine), and make the model's picture of every sixth frame in a second thread, as the
    pipeline's inference thread does; a row of CPU ms per frame for each."""
    buffer = np.empty((side, side, 3), np.float32)
    with ThreadPoolExecutor(1, thread_name_prefix="isp") as isp, ThreadPoolExecutor(1) as inference:
        runs = [Timed(main, None, crop, isp), Timed(main, (side, side), crop, isp)]
        try:
            for i in range(WARMUP + frames):
                for run in runs if i % 2 else runs[::-1]:
                    read = run.read()
                    prep = inference.submit(model_picture_ms, run.frame, buffer, crop).result() if i % MODEL_EVERY == 0 else None
                    if i >= WARMUP:
                        run.read_ms.append(read)
                        run.prep_ms += [prep] if prep is not None else []
        finally:
            for run in runs:
                run.source.close()
    rows = []
    for run in runs:
        read, prep = summarize_ms(run.read_ms), summarize_ms(run.prep_ms)
        lores = run.source.lores_size
        rows.append(
            {
                "main": "{}x{}".format(*main),
                "model": f"{side}x{side}",
                "picture": "main {}x{}".format(*main) if lores is None else "lores {}x{}".format(*lores),
                "read_ms": round(read["mean"], 3),
                "prep_ms": round(prep["mean"], 3),
                "cpu_ms_per_s": round(CAMERA_FPS * read["mean"] + MODEL_FPS * prep["mean"], 2),
                "read": read,
                "prep": prep,
            }
        )
    rows[1]["saved"] = f"{1 - rows[1]['cpu_ms_per_s'] / rows[0]['cpu_ms_per_s']:.0%}"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=600, help=f"camera frames per run (after {WARMUP} warm-up)")
    parser.add_argument("--crop", choices=["center", "none"], default="center", help="the model's crop, as --crop")
    parser.add_argument("--clip", default=str(MEDIA / "carving_ice.mp4"), help="what the stand-in camera serves")
    parser.add_argument("--sizes", default=",".join("{}x{}".format(*s) for s in MAIN_SIZES), help="main sizes, WxH,...")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    require_media()
    paths = os.environ.get("PYTHONPATH", "")
    if paths.split(os.pathsep)[0] != str(FAKES):  # the stand-in, before any real picamera2
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(FAKES), str(ROOT), paths]))}  # ROOT: from any folder
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks.lores", *sys.argv[1:]], env)
    os.environ["FAKE_PICAMERA2_CLIP"] = args.clip
    cv2.setNumThreads(1)
    rows = []
    for size in args.sizes.split(","):
        main_size = tuple(int(v) for v in size.split("x"))
        for side in MODEL_SIDES:
            rows += measure(main_size, side, args.frames, args.crop)
    columns = [("main", "main"), ("model", "model"), ("picture", "model's picture"), ("read_ms", "read ms")]
    columns += [("prep_ms", "prep ms"), ("cpu_ms_per_s", "CPU ms/s"), ("saved", "saved")]
    print(
        f"CPU ms per frame, means of {args.frames} camera and {args.frames // MODEL_EVERY} model frames, crop {args.crop}; "
        f"CPU ms/s: {CAMERA_FPS} x read + {MODEL_FPS} x prep"
    )
    print(markdown_table(rows, columns))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"crop": args.crop, "frames": args.frames, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
