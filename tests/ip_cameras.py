"""Real IP cameras for the tests: the RTSP test server (tests/support/rtsp_camera.py) in its own process.

The RTSP server needs GStreamer's Python bindings, which only the system Python has
(``/usr/bin/python3``; a virtual environment cannot import them), so it runs there:

    with RtspServer(clip, user="alice", password="s3cret", stamp=True) as camera:
        capture = cv2.VideoCapture(camera.url("alice", "s3cret"), cv2.CAP_FFMPEG)
        camera.stop()   # the camera goes away...
        camera.start()  # ...and comes back on the same port

Under CI (CI=true) a machine without those bindings fails the test; elsewhere it is skipped,
with the command that installs them. The MJPEG camera runs in-process: see tests/support/mjpeg_camera.py.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import IN_CI, free_port

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).resolve().parent / "support" / "rtsp_camera.py"
INSTALL = (
    "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 "
    "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav"
)
_CHECK = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [name for name in ("appsrc", "uridecodebin", "videoconvert", "videoscale", "videorate", "rtph264pay")
           if Gst.ElementFactory.find(name) is None]
if not (Gst.ElementFactory.find("x264enc") or Gst.ElementFactory.find("openh264enc")):
    missing.append("x264enc or openh264enc")
if missing:
    raise SystemExit("missing GStreamer elements: " + ", ".join(missing))
"""


@functools.cache
def rtsp_server_missing() -> str | None:
    """Why the RTSP test server cannot run on this machine, or None if it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    check = subprocess.run([SYSTEM_PYTHON, "-c", _CHECK], capture_output=True, text=True, timeout=60)
    if check.returncode != 0:
        return (check.stderr.strip().splitlines() or ["the GStreamer check failed"])[-1]
    return None


def require_rtsp_server() -> None:
    """Fail under CI, skip elsewhere, when the RTSP test server cannot run here."""
    if reason := rtsp_server_missing():
        message = f"the RTSP test server cannot run: {reason} ({INSTALL})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


class RtspServer:
    """The RTSP test server serving ``clip`` on a free loopback port, which it keeps across restarts.

    ``stamp``: each frame carries its send time (read it with ``tests.support.frame_stamp.read_stamp``).
    ``fps``, ``width``, ``height``: the stream's, by default the clip's own.
    """

    def __init__(
        self,
        clip: Path | str,
        path: str = "/cam",
        user: str | None = None,
        password: str | None = None,
        stamp: bool = False,
        fps: float | None = None,
        width: int | None = None,
        height: int | None = None,
        port: int | None = None,
    ) -> None:
        require_rtsp_server()
        self.port = port or free_port()
        self.path = "/" + path.lstrip("/")
        self.command = [SYSTEM_PYTHON, str(SERVER), "--clip", str(clip), "--port", str(self.port), "--path", self.path]
        if user is not None:
            self.command += ["--user", user, "--password", password or ""]
        if stamp:
            self.command.append("--stamp")
        for flag, value in (("--fps", fps), ("--width", width), ("--height", height)):
            if value is not None:
                self.command += [flag, str(value)]
        self.proc: subprocess.Popen | None = None

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """The stream's address, with ``user`` and ``password`` in it if given."""
        login = f"{user}:{password or ''}@" if user is not None else ""
        return f"rtsp://{login}127.0.0.1:{self.port}{self.path}"

    def start(self, timeout: float = 15.0) -> RtspServer:
        """Start the server and wait until it says it serves; fail the test with its stderr if it does not."""
        self.stop()
        # A file, not a pipe: nobody reads it while the server runs. Closed by stop().
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=self._stderr)
        line = self._read_line(timeout)
        if not line.startswith("ready "):
            self._end()
            self._stderr.seek(0)
            error = self._stderr.read().decode(errors="replace").strip()
            self.stop()
            pytest.fail(f"the RTSP test server did not start (it exited, or was not ready in {timeout:.0f} s): {line!r}\n{error}")
        return self

    def _read_line(self, timeout: float) -> str:
        """The server's first line of output, or what there was of it after ``timeout``."""
        assert self.proc is not None and self.proc.stdout is not None
        fd, data = self.proc.stdout.fileno(), b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in data and (remaining := deadline - time.monotonic()) > 0:
                if not selector.select(remaining):
                    break
                chunk = os.read(fd, 4096)
                if not chunk:  # the server exited
                    break
                data += chunk
        return data.decode(errors="replace").strip()

    def _end(self) -> None:
        """End the server's process: SIGTERM, then SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self) -> None:
        """Stop the server, as a camera that goes away; ``start`` brings it back on the same port."""
        if self.proc is None:
            return
        self._end()
        self.proc.stdout.close()
        self._stderr.close()
        self.proc = None

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def udp_sockets() -> int:
    """How many UDP sockets this process has open."""
    inodes = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as lines:
            inodes |= {line.split()[9] for line in list(lines)[1:]}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile (the listing's own descriptor)
            count += os.readlink(f"/proc/self/fd/{fd}").removeprefix("socket:[").removesuffix("]") in inodes
    return count
