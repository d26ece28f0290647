"""A real HTTP MJPEG IP camera for the tests and benchmarks: a clip's frames, looped, in real time.

    python tests/support/mjpeg_camera.py --clip FILE [--port 8080] [--path /stream.mjpg]
        [--user alice --password s3cret] [--stamp] [--fps 30] [--width 640 --height 480]

or in-process:

    with MjpegServer(clip, user="alice", password="s3cret") as camera:
        cv2.VideoCapture(camera.url("alice", "s3cret"), cv2.CAP_FFMPEG)

The stream is ``multipart/x-mixed-replace``, one JPEG per part, as such cameras send it, on
127.0.0.1 only. Every client sees the frame the clip shows at that moment (the clip's time is the
wall clock's), at the clip's frame rate (or ``fps``). With a user, a client without that user and
password gets 401 Unauthorized. With ``stamp``, each frame carries its send time (see frame_stamp.py).
As a script it prints ``ready http://127.0.0.1:PORT/PATH`` once it serves, and stops on SIGTERM
or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import frame_stamp as stamp  # noqa: E402

MAX_BYTES = 512 * 1024 * 1024  # of decoded frames kept; a longer clip loops over its first part
BOUNDARY = "frame"


def read_clip(path: Path, size: tuple[int, int] | None = None) -> tuple[list, float]:
    """The clip's frames (BGR, resized to ``size`` = (width, height) if given) and its frame rate."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"cannot open {path}")
    rate = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames, total = [], 0
    while total < MAX_BYTES:
        ok, frame = capture.read()
        if not ok:
            break
        if size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        frames.append(frame)
        total += frame.nbytes
    capture.release()
    if not frames:
        raise ValueError(f"no frames in {path}")
    return frames, rate


# A JPEG's start and end markers around bytes that are no JPEG: what a camera's glitch sends.
CORRUPT_JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"


class MjpegServer:
    """An MJPEG camera on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(
        self,
        clip: Path | str,
        port: int = 0,
        path: str = "/stream.mjpg",
        user: str | None = None,
        password: str | None = None,
        fps: float | None = None,
        size: tuple[int, int] | None = None,
        stamp: bool = False,
        quality: int = 85,
        corrupt_every: int | None = None,
        corrupt_first: int = 0,
    ) -> None:
        self.port, self.path = port, "/" + path.lstrip("/")
        self.credentials = f"{user}:{password or ''}" if user is not None else None
        self.with_stamp, self.quality = stamp, quality
        self.corrupt_every = corrupt_every  # every Nth picture sent is a JPEG no decoder can read
        self.corrupt_first = corrupt_first  # and so are the first pictures each client gets
        frames, rate = read_clip(Path(clip), size)
        self.fps = fps or rate
        self.width, self.height = frames[0].shape[1], frames[0].shape[0]
        if stamp:  # stamped when sent, so encoded then
            self.frames = frames
        else:
            self.jpegs = [self._encode(frame) for frame in frames]
        self.count = len(frames)
        self._http: ThreadingHTTPServer | None = None
        self._stopped = threading.Event()

    def _encode(self, frame) -> bytes:
        return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])[1].tobytes()

    def jpeg(self, index: int) -> bytes:
        """Frame ``index`` (modulo the clip's length) as a JPEG, stamped with now if asked."""
        if not self.with_stamp:
            return self.jpegs[index % self.count]
        frame = self.frames[index % self.count].copy()
        stamp.draw_stamp(frame, int(time.time() * 1000))
        return self._encode(frame)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        """The stream's address, with ``user`` and ``password`` in it if given."""
        login = f"{user}:{password or ''}@" if user is not None else ""
        return f"http://{login}127.0.0.1:{self.port}{self.path}"

    def start(self) -> MjpegServer:
        """Listen (on the port of the last start, if any) and serve in a background thread."""
        self._stopped.clear()
        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, args=(0.1,), name="mjpeg-server", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and end every client's stream (within one frame's time)."""
        self._stopped.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def authorized(self, header: str | None) -> bool:
        """Whether an Authorization header lets the client in."""
        if self.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())

    def stream(self, write) -> None:
        """Write the multipart stream with ``write`` until the client leaves or the server stops."""
        period = 1.0 / self.fps
        due = time.monotonic()
        index = int(time.time() * self.fps)
        sent = 0
        while not self._stopped.is_set():
            # Damaged pictures counted per client: the first ones, then one in ``corrupt_every`` after
            # them (by the clip's index, a client joining there got two glitches more in a row).
            after_first = sent - self.corrupt_first
            damaged = after_first < 0 or (self.corrupt_every and after_first % self.corrupt_every == self.corrupt_every - 1)
            jpeg = CORRUPT_JPEG if damaged else self.jpeg(index)
            sent += 1
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
            write(head + jpeg + b"\r\n")
            due += period
            index += 1
            delay = due - time.monotonic()
            if delay < -period:  # fell behind (a slow client): skip ahead rather than send a burst
                due, index = time.monotonic(), int(time.time() * self.fps)
            self._stopped.wait(max(0.0, delay))


def _handler(camera: MjpegServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not camera.authorized(self.headers.get("Authorization")):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path.split("?")[0] != camera.path:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client went away
                camera.stream(self.wfile.write)

        def log_message(self, format: str, *args) -> None:
            pass  # a request log per client is noise in the tests

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", required=True, type=Path)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--path", default="/stream.mjpg")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--stamp", action="store_true", help="draw each frame's send time into it (see frame_stamp.py)")
    parser.add_argument("--fps", type=float, help="frame rate (default: the clip's)")
    parser.add_argument("--width", type=int, help="frame width (default: the clip's)")
    parser.add_argument("--height", type=int, help="frame height (default: the clip's)")
    args = parser.parse_args(argv)
    if (args.width is None) != (args.height is None):
        parser.error("give both --width and --height, or neither")
    size = (args.width, args.height) if args.width else None
    camera = MjpegServer(args.clip, args.port, args.path, args.user, args.password, args.fps, size, args.stamp)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    camera.start()
    print(f"ready {camera.url()}", flush=True)
    done.wait()
    camera.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
