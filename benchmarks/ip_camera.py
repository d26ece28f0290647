"""How old is the picture the model gets from an IP camera?

    python -m benchmarks.ip_camera [--clip media/carving_ice.mp4] [--seconds 20] [--json FILE]

A real RTSP camera (tests/support/rtsp_camera.py: GStreamer, H.264, 640x480 at 30 fps, on loopback, run
by the system Python) and an MJPEG one over HTTP (tests/support/mjpeg_camera.py) stamp each frame's send
time into its pixels (tests/support/frame_stamp.py). The app, as it ships (A0, one thread, no window),
reads the stream; for every model frame it reports the picture's age when it left the source
(camera -> model) and when its result was out (camera -> result), p50/p95/max, over ``--seconds``
after a 3 s warm-up. Cases: RTSP over TCP and UDP, MJPEG, and RTSP with the model slowed by 400 ms
a frame (a board that keeps up with 2 frames a second of 30). Last, for comparison, a plain
OpenCV loop that reads the RTSP stream at the model's pace (one frame per 200 ms) without draining
it: the age of its pictures after ``--seconds``.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

import cv2

from benchmarks.media import A0, KINETICS_LABELS, MEDIA, ROOT, require_media
from benchmarks.stats import markdown_table, summarize_ms
from tests.support.frame_stamp import read_stamp
from video_classifier.app import App
from video_classifier.outputs import Output
from video_classifier.settings import Settings

SYSTEM_PYTHON = "/usr/bin/python3"  # the one with GStreamer's bindings


class Ages(Output):
    """For each model frame, the age of its picture (ms since the camera sent it) when it left the
    source and when its result was out."""

    def __init__(self) -> None:
        self.sent: dict[int, tuple[int, float]] = {}
        self.to_model: list[float] = []
        self.to_result: list[float] = []
        self.measuring = False

    def on_frame(self, frame) -> None:
        stamp = read_stamp(frame.image)
        if stamp is not None:
            self.sent[frame.index] = (stamp, time.time() * 1000)
        if len(self.sent) > 1000:  # frames the model did not take
            self.sent.pop(next(iter(self.sent)))

    def on_prediction(self, prediction) -> None:
        sent = self.sent.pop(prediction.frame, None)
        if sent is not None and self.measuring:
            stamp, out_of_source = sent
            self.to_model.append(out_of_source - stamp)
            self.to_result.append(time.time() * 1000 - stamp)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_camera(command: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = proc.stdout.readline().strip()
    if not line.startswith("ready "):
        proc.kill()
        raise SystemExit(f"error: the test camera did not start: {' '.join(command)}")
    return proc, line.split()[1]


def app_ages(url: str, seconds: float, transport: str = "tcp", delay_ms: float = 0.0) -> dict:
    ages = Ages()
    settings = Settings(
        camera=url,
        rtsp_transport=transport,
        model=str(A0),
        labels=str(KINETICS_LABELS),
        num_threads=1,
        no_display=True,
        simulate_model_delay_ms=delay_ms,
    )
    app = App(settings, extra_outputs=[ages])
    running = threading.Thread(target=app.run, daemon=True)
    running.start()
    time.sleep(3.0)  # the first pictures after opening are the stream's catching up
    ages.measuring = True
    time.sleep(seconds)
    app.request_stop()
    running.join(30)
    model, result = summarize_ms(ages.to_model), summarize_ms(ages.to_result)
    return {
        "model_frames": len(ages.to_model),
        "to_model_p50": model["p50"],
        "to_model_p95": model["p95"],
        "to_model_max": round(max(ages.to_model), 1),
        "to_result_p50": result["p50"],
        "to_result_p95": result["p95"],
    }


def naive_age(url: str, seconds: float) -> float:
    """Age (ms) of the picture a plain reader gets after ``seconds`` of reading one frame per 200 ms."""
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    end, age = time.monotonic() + seconds, 0.0
    while time.monotonic() < end:
        ok, image = capture.read()
        if ok and (stamp := read_stamp(image)) is not None:
            age = time.time() * 1000 - stamp
        time.sleep(0.2)
    capture.release()
    return round(age, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, default=MEDIA / "carving_ice.mp4")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    require_media()
    size = ["--width", "640", "--height", "480", "--fps", "30", "--stamp", "--clip", str(args.clip)]
    rtsp, rtsp_url = start_camera([SYSTEM_PYTHON, "tests/support/rtsp_camera.py", "--port", str(free_port()), *size])
    mjpeg, mjpeg_url = start_camera([sys.executable, "tests/support/mjpeg_camera.py", "--port", str(free_port()), *size])
    rows = []
    try:
        for case, url, transport, delay in [
            ("RTSP, TCP", rtsp_url, "tcp", 0.0),
            ("RTSP, UDP", rtsp_url, "udp", 0.0),
            ("MJPEG over HTTP", mjpeg_url, "tcp", 0.0),
            ("RTSP, TCP, model +400 ms", rtsp_url, "tcp", 400.0),
        ]:
            rows.append({"case": case, **app_ages(url, args.seconds, transport, delay)})
        naive = naive_age(rtsp_url, args.seconds)
    finally:
        for proc in (rtsp, mjpeg):
            proc.terminate()
            proc.wait(10)
    print(
        markdown_table(
            rows,
            [
                ("case", "camera (640x480, 30 fps)"),
                ("model_frames", "model frames"),
                ("to_model_p50", "camera -> model p50 ms"),
                ("to_model_p95", "p95 ms"),
                ("to_model_max", "max ms"),
                ("to_result_p50", "camera -> result p50 ms"),
                ("to_result_p95", "p95 ms"),
            ],
        )
    )
    print(f"\nA plain OpenCV loop reading one frame per 200 ms: its picture is {naive / 1000:.1f} s old after {args.seconds:g} s")
    if args.json:
        args.json.write_text(json.dumps({"app": rows, "naive_age_ms": naive}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
