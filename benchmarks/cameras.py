"""Several cameras on one computer: one app process per camera, all at once.

    python -m benchmarks.cameras [--counts 1,2,4] [--seconds 30] [--json FILE]

Each instance is ``classify.py --no-display`` as the ``movinet@NAME`` service runs it
(``MOVINET_INSTANCE=NAME``, ``MOVINET_NUM_THREADS`` = the cores shared out), on its own camera:
the first on the Pi camera stand-in (tests/fakes/picamera2.py: a clip at 640x480, 30 fps, in real
time), the others on real RTSP cameras (tests/support/rtsp_camera.py, H.264 640x480 at 30 fps, on
loopback, run by the system Python; their encoding is not counted). Per instance, over
``--seconds`` after a 5 s warm-up: model frames per second, CPU time as a share of one core, and
paced frames the model had no time for.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

from benchmarks.media import A0, KINETICS_LABELS, MEDIA, ROOT, require_media
from benchmarks.stats import markdown_table

SYSTEM_PYTHON = "/usr/bin/python3"  # the one with GStreamer's bindings
CLIPS = ["carving_ice.mp4", "arm_wrestling_mmaction2_demo.mp4", "cleaning_pool_mmaction2_test.mp4", "jumping_jacks.mp4"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def predictions(log: Path) -> int:
    return sum('"top"' in line for line in log.read_text().splitlines()) if log.exists() else 0


def run_instances(count: int, seconds: float, folder: Path) -> list[dict]:
    threads = max(1, (os.cpu_count() or 1) // count)
    cameras, apps = [], []
    try:
        for i in range(count):
            name, env = f"cam{i + 1}", dict(os.environ, MOVINET_INSTANCE=f"cam{i + 1}", MOVINET_NUM_THREADS=str(threads))
            clip = MEDIA / CLIPS[i % len(CLIPS)]
            if i == 0:
                env.update(PYTHONPATH=str(ROOT / "tests" / "fakes"), FAKE_PICAMERA2_CLIP=str(clip), MOVINET_CAMERA="picamera2")
                source = "Pi camera (stand-in)"
            else:
                command = [SYSTEM_PYTHON, "tests/support/rtsp_camera.py", "--clip", str(clip), "--port", str(free_port())]
                command += ["--width", "640", "--height", "480", "--fps", "30"]
                camera = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
                cameras.append(camera)
                env["MOVINET_CAMERA"] = camera.stdout.readline().split()[1]
                source = "RTSP camera"
            log = folder / f"{name}.jsonl"
            command = [sys.executable, "classify.py", "--no-display", "--model", str(A0), "--labels", str(KINETICS_LABELS)]
            proc = subprocess.Popen(
                [*command, "--log", str(log)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            apps.append((name, source, proc, log))
        time.sleep(5.0)  # start-up: model load, camera open
        start = [(cpu_seconds(proc.pid), predictions(log)) for _, _, proc, log in apps]
        t0 = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - t0
        end = [(cpu_seconds(proc.pid), predictions(log)) for _, _, proc, log in apps]
    finally:
        for _, _, proc, _ in apps:
            proc.send_signal(signal.SIGTERM)
        for camera in cameras:
            camera.terminate()
    rows = []
    for (name, source, proc, _), (cpu0, n0), (cpu1, n1) in zip(apps, start, end):
        _, err = proc.communicate(timeout=30)
        done = next((line for line in err.splitlines() if line.startswith("done: ")), "")
        skipped = done.split(" classified, ")[-1].split(" skipped")[0] if done else "?"
        rows.append(
            {
                "instances": count,
                "instance": name,
                "source": source,
                "threads": threads,
                "model_fps": round((n1 - n0) / wall, 2),
                "cpu_pct": round(100 * (cpu1 - cpu0) / wall),
                "skipped": skipped,
                "exit": proc.returncode,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--counts", default="1,2,4", help="how many instances at once, one run each")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    require_media()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in (int(c) for c in args.counts.split(",")):
            rows += run_instances(count, args.seconds, Path(tmp))
    columns = [("instances", "at once"), ("instance", "instance"), ("source", "camera"), ("threads", "threads")]
    columns += [("model_fps", "model fps"), ("cpu_pct", "CPU % of a core"), ("skipped", "skipped"), ("exit", "exit")]
    print(f"{os.cpu_count()} cores\n")
    print(markdown_table(rows, columns))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
