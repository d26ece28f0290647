"""Real IP cameras for the tests: the RTSP test server (tests/support/rtsp_camera.py) in its own process.

The RTSP server needs GStreamer's Python bindings, which only the system Python has
(``/usr/bin/python3``; a virtual environment cannot import them), so it runs there:

    with RtspServer(clip, user="alice", password="s3cret", stamp=True) as camera:
        capture = cv2.VideoCapture(camera.url("alice", "s3cret"), cv2.CAP_FFMPEG)
        camera.stop()   # the camera goes away...
        camera.start()  # ...and comes back on the same port

Under CI (CI=true) a machine without those bindings fails the test; elsewhere it is skipped,
with the command that installs them. The MJPEG camera runs in-process: see tests/support/mjpeg_camera.py.

:class:`HostileCamera` is an HTTP camera on loopback that answers what no camera should: bytes
that are not HTTP, a status line of another protocol, a 200 kB header line, more than 100
headers, a redirect whose body would not fit in memory, or garbage after good frames.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
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


# What a hostile or broken server may answer an HTTP camera's request with.
HOSTILE_ANSWERS = {
    "bytes that are not HTTP": b"\x16\x03\x01\x00\xa5\x01\x00 not HTTP at all\r\n\r\n",
    "a non-HTTP status line": b"ICY 200 OK\r\nicy-name: radio\r\n\r\n",
    "a 200 kB header line": b"HTTP/1.0 200 OK\r\nX-Junk: " + b"j" * 200_000 + b"\r\n\r\n",
    "101 headers": b"HTTP/1.0 200 OK\r\n" + b"".join(b"X-Junk-%d: 1\r\n" % i for i in range(101)) + b"\r\n",
    "a status that is no number": b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
    "a redirect with an endless body": b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
}
GARBAGE = bytes(range(256)) * 64  # 16 kB with no boundary and no JPEG in it


class HostileCamera:
    """An MJPEG camera on 127.0.0.1 that plays a part, one per connection, set by :attr:`answer`:
    ``"frames"`` streams ``clip`` (as a camera does), a key of :data:`HOSTILE_ANSWERS` sends those
    bytes and hangs up. A stream in progress when :attr:`answer` changes goes on with garbage
    (no boundary, no JPEG) until its client hangs up. :attr:`served` counts connections per answer.

        with HostileCamera(clip) as camera:
            camera.answer = "101 headers"
    """

    def __init__(self, clip: Path | str, fps: float = 15.0, size: tuple[int, int] = (320, 240)) -> None:
        import cv2

        from tests.support.mjpeg_camera import read_clip

        frames, _ = read_clip(Path(clip), size)
        self.jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes() for f in frames[:150]]
        self.fps = fps
        self.answer = "frames"
        self.served: Counter[str] = Counter()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._closed = threading.Event()

    def url(self, path: str = "/stream.mjpg") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError), client:
            client.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    return
                request += chunk
            answer = self.answer
            self.served[answer] += 1
            if answer != "frames":
                client.sendall(HOSTILE_ANSWERS[answer])
                return
            client.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            index = 0
            while not self._closed.is_set():
                if self.answer != "frames":  # the camera turns hostile mid-stream
                    client.sendall(GARBAGE)
                else:
                    jpeg = self.jpegs[index % len(self.jpegs)]
                    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                    client.sendall(head + jpeg + b"\r\n")
                    index += 1
                time.sleep(1 / self.fps)

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._server.accept()
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def __enter__(self) -> HostileCamera:
        threading.Thread(target=self._accept, name="hostile-camera", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed.set()
        self._server.close()
