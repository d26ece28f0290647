"""A live view for phones and laptops: the overlaid picture as an MJPEG stream, and one page
with the current actions and the recent events.

    GET /              the page (it polls status.json and shows stream.mjpg)
    GET /stream.mjpg   multipart/x-mixed-replace JPEG stream of the overlaid picture
    GET /snapshot.jpg  the newest picture
    GET /status.json   current top-k, fps, camera state, active and recent events, recent clips
    GET /clips/NAME    a clip saved by --record (or its JSON sidecar)

Standard library only (``http.server`` with a thread per client). Each client thread only
reads the compositor's newest JPEG, so watchers cost the model nothing but a socket write.
When a token is set, every request must carry it (``?token=``, ``Authorization: Bearer``);
without it the answer is 401.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import shutil
import socket
import threading
import time
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from video_classifier.clips import ClipLibrary
from video_classifier.compositor import Compositor
from video_classifier.data import ActionEvent
from video_classifier.errors import UserError
from video_classifier.outputs import Output
from video_classifier.pipeline import Pipeline

log = logging.getLogger("live")

PAGE = (Path(__file__).parent / "live_view.html").read_text(encoding="utf-8")
BOUNDARY = "frame"


def parse_bind(text: str) -> tuple[str, int]:
    """``PORT`` (on 127.0.0.1) or ``HOST:PORT``; port 0 picks a free one."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535:
        raise UserError(f"--serve {text}: give a port (8000) or an address and a port (0.0.0.0:8000)")
    return host, int(port)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class LiveView(Output):
    """The HTTP server; as an output it keeps the current and the recent action events."""

    def __init__(
        self,
        pipeline: Pipeline,
        compositor: Compositor,
        host: str,
        port: int,
        token: str | None = None,
        clips: ClipLibrary | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.compositor = compositor
        self.clips = clips
        self.token = token
        self.active: ActionEvent | None = None
        self.recent: deque[dict] = deque(maxlen=20)  # finished events, newest last
        self._recent_lock = threading.Lock()  # appended by the inference thread, read by HTTP threads
        self._closing = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET  # "::" listens on IPv6 (and IPv4)
        server_class = type("LiveViewServer", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
        try:
            self._server = server_class((host, port), self._handler_class())
        except socket.gaierror:
            raise UserError(f"--serve: unknown address {host}: use 0.0.0.0 (every network) or an address of this Pi") from None
        except OSError as exc:
            raise UserError(f"--serve: cannot listen on {host}:{port} ({exc.strerror}): choose another port") from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-view", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self) -> str:
        """The address to open, with the token if one is needed."""
        host = self._server.server_address[0]
        if host in ("0.0.0.0", "::"):
            host = _lan_address()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/" + (f"?token={quote(self.token)}" if self.token else "")

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    # -- output ----------------------------------------------------------------------------
    def on_event_start(self, event: ActionEvent) -> None:
        self.active = event

    def on_event_end(self, event: ActionEvent) -> None:
        if self.active is event:
            self.active = None
        with self._recent_lock:
            self.recent.append({**event.to_json(), "ended_at": time.time()})

    def status(self) -> dict:
        """What /status.json answers."""
        _, prediction = self.pipeline.latest()
        active = self.active
        with self._recent_lock:
            events = list(self.recent)[::-1]
        return {
            "top": [{"label": c.label, "score": round(c.score, 4)} for c in prediction.top] if prediction else [],
            "time_s": round(prediction.time_s, 3) if prediction else None,
            "inference_ms": round(prediction.inference_ms, 2) if prediction else None,
            "model_fps": round(self.pipeline.model_rate.rate(), 2),
            "stream_fps": round(self.compositor.rate.rate(), 2),
            "camera": self.pipeline.source.status or "ok",
            "paused": self.pipeline.paused,
            "active": {"label": active.label, "start_s": round(active.start_s, 3)} if active else None,
            "events": events,
            "clips": [p.name for p in self.clips.recent()] if self.clips else [],
        }

    # -- HTTP ------------------------------------------------------------------------------
    def _handler_class(self):
        view = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "movinet-live"

            def log_message(self, fmt, *args) -> None:  # access log only in debug mode
                log.debug("%s %s", self.address_string(), fmt % args)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if view.token and not self._authorized(url.query):
                    return self._send(HTTPStatus.UNAUTHORIZED, b"token required: open the address the app printed\n")
                if url.path == "/":
                    page = PAGE.replace("{{TOKEN}}", json.dumps(view.token or "").replace("<", "\\u003c"))
                    return self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
                if url.path == "/status.json":
                    return self._send(HTTPStatus.OK, json.dumps(view.status()).encode(), "application/json")
                if url.path == "/snapshot.jpg":
                    picture = view.compositor.wait_picture(None, 2.0)
                    if picture is None:
                        return self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no picture yet\n")
                    return self._send(HTTPStatus.OK, picture.jpeg, "image/jpeg")
                if url.path == "/stream.mjpg":
                    return self._stream()
                if url.path.startswith("/clips/") and view.clips is not None:
                    path = view.clips.path_of(url.path[len("/clips/") :])
                    if path is not None:
                        return self._send_file(path)
                return self._send(HTTPStatus.NOT_FOUND, b"not found\n")

            def _authorized(self, query: str) -> bool:
                offered = parse_qs(query).get("token", [""])[0]
                header = self.headers.get("Authorization", "")
                if header.startswith("Bearer "):
                    offered = header[len("Bearer ") :]
                return hmac.compare_digest(offered.encode(), view.token.encode())

            def _send(self, status: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
                self.send_response(status)
                if status == HTTPStatus.UNAUTHORIZED:
                    self.send_header("WWW-Authenticate", 'Bearer realm="movinet"')
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _send_file(self, path: Path) -> None:
                with path.open("rb") as f:
                    self.send_response(HTTPStatus.OK)
                    self.send_header("Content-Type", "application/json" if path.suffix == ".json" else "video/mp4")
                    self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
                    self.send_header("Content-Disposition", f'attachment; filename="{path.name}"')
                    self.end_headers()
                    shutil.copyfileobj(f, self.wfile)

            def _stream(self) -> None:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                picture = None
                try:
                    while not view._closing.is_set():
                        newest = view.compositor.wait_picture(picture, 1.0)
                        if newest is None or newest is picture:
                            continue
                        picture = newest
                        head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(picture.jpeg)}\r\n\r\n"
                        self.wfile.write(head.encode() + picture.jpeg + b"\r\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the viewer closed the page

        return Handler


def _lan_address() -> str:
    """This machine's address on the local network (no packet is sent), else its name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()
