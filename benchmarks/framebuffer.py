"""What the console framebuffer display costs, and whether the model keeps its pace with it.

    python -m benchmarks.framebuffer [--seconds 20] [--json FILE]

Drawing: one 640x480 overlaid frame scaled onto a 1920x1080 framebuffer (a file standing in for
/dev/fb0), at 32 and 16 bits per pixel, 300 times. Real time: the app as it ships (A0,
1 thread, the default window) on a 640x480 clip played at its own pace with the picture on that
framebuffer: model fps, display fps, paced frames skipped.
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

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

import cv2

from benchmarks.media import A0, KINETICS_LABELS, MEDIA, require_media
from benchmarks.stats import markdown_table, summarize_ms
from video_classifier.app import App
from video_classifier.data import Category
from video_classifier.display.framebuffer import Framebuffer
from video_classifier.display.overlay import OverlayStatus, draw_overlay
from video_classifier.settings import Settings


def fake_framebuffer(folder: Path, bpp: int, width: int = 1920, height: int = 1080) -> Path:
    sysfs = folder / f"sysfs{bpp}"
    sysfs.mkdir(exist_ok=True)
    (sysfs / "virtual_size").write_text(f"{width},{height}\n")
    (sysfs / "bits_per_pixel").write_text(f"{bpp}\n")
    (sysfs / "stride").write_text(f"{width * bpp // 8}\n")
    device = folder / f"fb{bpp}"
    device.write_bytes(bytes(width * height * bpp // 8))
    os.environ["MOVINET_FB_SYSFS"] = str(sysfs)
    return device


def drawing(folder: Path, bpp: int, frames: int = 300) -> dict:
    device = fake_framebuffer(folder, bpp)
    image = cv2.resize(_frame(), (640, 480))
    status = OverlayStatus(top=[Category("carving ice", 0.98), Category("chiseling stone", 0.01)], model_fps=5.0)
    framebuffer, times = Framebuffer(device), []
    for _ in range(frames):
        start = time.perf_counter()
        framebuffer.show(draw_overlay(image.copy(), status))
        times.append((time.perf_counter() - start) * 1000)
    framebuffer.close()
    ms = summarize_ms(times[10:])
    return {"test": f"draw 640x480 on 1920x1080, {bpp} bpp (overlay included)", "p50_ms": ms["p50"], "p95_ms": ms["p95"]}


def _frame():
    """The first picture of carving_ice.mp4."""
    capture = cv2.VideoCapture(str(MEDIA / "carving_ice.mp4"))
    ok, image = capture.read()
    capture.release()
    return image


def realtime(folder: Path, seconds: float) -> dict:
    device = fake_framebuffer(folder, 32)
    clip = folder / "clip640.mp4"
    capture, writer = cv2.VideoCapture(str(MEDIA / "cleaning_pool_mmaction2_test.mp4")), None
    while True:
        ok, image = capture.read()
        if not ok:
            break
        writer = writer or cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
        writer.write(cv2.resize(image, (640, 480)))
    writer.release()
    os.environ["MOVINET_CONSOLE"] = str(folder / "console")
    settings = Settings(
        camera=str(clip), loop=True, model=str(A0), labels=str(KINETICS_LABELS), num_threads=1, display=str(device)
    )
    app = App(settings)
    threading.Timer(seconds, app.request_stop).start()
    start = time.monotonic()
    app.run()
    wall = time.monotonic() - start
    pipeline = app.pipeline
    return {
        "test": f"real time, 640x480 at 30 fps, {seconds:g} s on the framebuffer",
        "model_fps": round(pipeline.predictions / wall, 2),
        "display_fps": round(app.window.frames_shown / wall, 1),
        "skipped": pipeline.skipped,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    require_media()
    with tempfile.TemporaryDirectory() as tmp:
        draws = [drawing(Path(tmp), bpp) for bpp in (32, 16)]
        live = realtime(Path(tmp), args.seconds)
    print(markdown_table(draws, [("test", "drawing"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms")]))
    print()
    print(
        markdown_table(
            [live], [("test", "run"), ("model_fps", "model fps"), ("display_fps", "display fps"), ("skipped", "skipped")]
        )
    )
    if args.json:
        args.json.write_text(json.dumps({"drawing": draws, "realtime": live}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
