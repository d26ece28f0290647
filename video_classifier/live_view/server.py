"""A live view for phones and laptops: the overlaid picture as an MJPEG stream, one page with
the current actions and the recent events, and with ``--actions`` a Teach panel.

    GET  /                  the page (live_view.html, .js, .css, .svg; it polls status.json)
    GET  /stream.mjpg       multipart/x-mixed-replace JPEG stream of the overlaid picture
    GET  /snapshot.jpg      the newest picture
    GET  /status.json       current top-k (or the seconds of warm-up left), fps, camera state, events, clips, teaching
    GET  /clips/NAME        a clip saved by --record (or its JSON sidecar)
    POST /teach             {"name": ..., "seconds": 5, "examples": 1}: record an example now
    POST /teach/cancel      end the lesson in progress (examples saved so far stay)
    POST /events/ID/correct {"as": "wrong" | "right" | NAME}: correct an event (live_events.py)
    POST /region            {"x", "y", "w", "h"}: the model watches this part of the picture (pixels
                            of the camera picture, X,Y its top-left corner), kept for restarts
    DELETE /region          forget the drawn region (--region, or the whole picture, again)
    DELETE /teach/actions/NAME[/examples/ID]   forget an action, or one of its examples

Standard library only (``http.server``, a thread per client, at most 32 at once). Each client
thread only reads the compositor's newest JPEG, so watchers cost the model nothing but a
socket write. Who may ask what is ``http_guard.py``'s job: reads need the token away from
loopback, and every change needs it always, in a header.
"""

from __future__ import annotations

import html
import io
import ipaddress
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from video_classifier import environment
from video_classifier.controls import Controls
from video_classifier.data import ActionEvent, Region
from video_classifier.display.compositor import Compositor
from video_classifier.errors import UserError
from video_classifier.live_view.event_list import EventList
from video_classifier.live_view.http_guard import (
    MIN_TOKEN_LENGTH,
    SECURITY_HEADERS,
    DeadlineReader,
    Guard,
    GuardedServer,
    body_length,
    write_by,
)
from video_classifier.outputs import Output
from video_classifier.outputs.clips import ClipLibrary
from video_classifier.pipeline import Pipeline
from video_classifier.region import RegionError
from video_classifier.teach.examples import LibraryError
from video_classifier.teach.recent_events import RecentEvents
from video_classifier.teach.teacher import Lesson, Teacher

log = logging.getLogger("live")

HERE = Path(__file__).parent
STATIC = {
    "/live_view.js": ("live_view.js", "text/javascript; charset=utf-8"),
    "/live_view.css": ("live_view.css", "text/css; charset=utf-8"),
    "/live_view.svg": ("live_view.svg", "image/svg+xml"),  # the page's icon: else browsers ask for /favicon.ico
}
PAGE = (HERE / "live_view.html").read_text(encoding="utf-8")
BOUNDARY = "frame"
CLIENT_TIMEOUT_S = 10.0  # a whole request (headers and body), or one picture of the stream
ANSWER_RATE = 64 * 1024  # bytes per second an answer may be read at, at the least, after that time
MAX_BODY = 4096


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
    """The HTTP server; as an output it keeps the current and the recent action events.

    ``token`` is always set: reads need it when ``token_for_reads`` (off loopback, or a token the
    user chose), changes always do.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        compositor: Compositor,
        host: str,
        port: int,
        token: str,
        token_for_reads: bool,
        clips: ClipLibrary | None = None,
        teacher: Teacher | None = None,
        controls: Controls | None = None,
        events: RecentEvents | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.compositor = compositor
        self.clips = clips
        self.teacher = teacher
        self.events = EventList(controls, events, clips)
        self._closing = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET  # "::" listens on IPv6 (and IPv4)
        server_class = type("LiveViewServer", (GuardedServer,), {"address_family": family})
        try:
            self._server = server_class((host, port), self._handler_class())
        except socket.gaierror:
            raise UserError(f"--serve: unknown address {host}: use 0.0.0.0 (every network) or an address of this Pi") from None
        except OSError as exc:
            raise UserError(f"--serve: cannot listen on {host}:{port} ({exc.strerror}): choose another port") from None
        self.guard = Guard(token, token_for_reads, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-view", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, token: bool = True) -> str:
        """The address to open, with the token if reading needs one (and ``token`` allows)."""
        host = self._server.server_address[0]
        if host in ("0.0.0.0", "::"):
            host = _lan_address()
        if ":" in host:
            host = f"[{host}]"
        with_token = token and self.guard.token_for_reads
        return f"http://{host}:{self.port}/" + (f"?token={quote(self.guard.token)}" if with_token else "")

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    # -- output ----------------------------------------------------------------------------
    def on_event_start(self, event: ActionEvent) -> None:
        self.events.started(event)

    def on_event_end(self, event: ActionEvent) -> None:
        self.events.ended(event)

    def status(self, library_seen: int | None = None) -> dict:
        """What /status.json answers."""
        _, prediction = self.pipeline.latest()
        active = self.events.active
        return {
            "top": [{"label": c.label, "score": round(c.score, 4)} for c in prediction.top] if prediction else [],
            "warming_up_s": round(prediction.warming_up_s, 1) if prediction and prediction.warming_up else None,
            "time_s": round(prediction.time_s, 3) if prediction else None,
            "inference_ms": round(prediction.inference_ms, 2) if prediction else None,
            "model_fps": round(self.pipeline.model_rate.rate(), 2),
            "stream_fps": round(self.compositor.rate.rate(), 2),
            "camera": self.pipeline.source.status or "ok",
            "paused": self.pipeline.paused,
            "active": {"label": active.label, "start_s": round(active.start_s, 3)} if active else None,
            "threshold": getattr(self.pipeline.events, "threshold", None),  # the page's heading: an action starting
            "events": self.events.listing(),
            "clips": [p.name for p in self.clips.recent()] if self.clips else [],
            "teach": self.teacher.state(library_seen) if self.teacher else None,
            "region": self.pipeline.framing.state() if self.pipeline.framing else None,
        }

    def draw_region(self, body: dict) -> tuple[HTTPStatus, dict]:
        """``POST /region``: watch the region drawn on the picture, and keep it."""
        framing = self.pipeline.framing
        if framing is None:
            return HTTPStatus.NOT_FOUND, {"error": "this app has no region to set"}
        values = [body.get(key) for key in ("x", "y", "w", "h")]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100_000 for v in values):
            return HTTPStatus.BAD_REQUEST, {"error": "x, y, w and h must be pixels of the camera picture"}
        try:
            framing.set_drawn(Region(*(round(v) for v in values)))
        except RegionError as exc:
            return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        except OSError as exc:  # watched from now on, but not kept
            log.warning("the drawn region cannot be kept in %s (%s)", framing.file.path, exc.strerror)
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"watched, but it cannot be kept for a restart ({exc.strerror})"}
        return HTTPStatus.OK, framing.state()

    # -- HTTP ------------------------------------------------------------------------------
    def _handler_class(self):
        view = self

        class Handler(BaseHTTPRequestHandler):
            timeout = CLIENT_TIMEOUT_S

            def setup(self) -> None:
                super().setup()
                self._reader = DeadlineReader(self.connection, CLIENT_TIMEOUT_S)
                self.rfile = io.BufferedReader(self._reader)

            def handle_one_request(self) -> None:
                # One deadline for the whole request, from the wait for its first byte to the
                # end of its body: a client dribbling a byte every few seconds is dropped.
                self._reader.deadline = time.monotonic() + CLIENT_TIMEOUT_S
                super().handle_one_request()

            def parse_request(self) -> bool:
                if not super().parse_request():
                    return False
                if body_length(self.headers) is None:  # whatever the request: where its body ends is unclear
                    self._send_json(HTTPStatus.BAD_REQUEST, {"error": "send a body with one Content-Length"})
                    return False
                return True

            def version_string(self) -> str:
                return "movinet-live"  # no Python version for the curious

            def log_message(self, fmt, *args) -> None:  # access log only in debug mode
                log.debug("%s %s", self.address_string(), fmt % args)

            def end_headers(self) -> None:
                for name, value in SECURITY_HEADERS.items():
                    self.send_header(name, value)
                self.connection.settimeout(CLIENT_TIMEOUT_S)  # not what is left of the request's time
                super().end_headers()

            # -- who may ask -------------------------------------------------------------
            def _allowed(self, changes: bool) -> bool:
                """Answer the refusal and return False when the request may not go on."""
                guard = view.guard
                if not guard.host_ok(self.headers.get("Host")):
                    self._send(HTTPStatus.MISDIRECTED_REQUEST, b"open the app as localhost or 127.0.0.1\n")
                    return False
                # A change carries the token in its header, never in a link (whatever else it sends).
                offered = guard.offered_token(self.path, self.headers, header_only=changes)
                if (changes or guard.token_for_reads) and not guard.token_ok(offered):
                    time.sleep(guard.penalty(self.client_address[0]))
                    self._send(HTTPStatus.UNAUTHORIZED, b"token required: open the address the app printed\n")
                    return False
                if changes and not guard.origin_ok(self.headers.get("Origin"), self.headers.get("Host")):
                    self._send(HTTPStatus.FORBIDDEN, b"requests from other sites are refused\n")
                    return False
                if offered:
                    guard.forgive(self.client_address[0])
                return True

            # -- reads -------------------------------------------------------------------
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path in STATIC and view.guard.host_ok(self.headers.get("Host")):  # code and style hold no secret
                    name, kind = STATIC[path]
                    return self._send(HTTPStatus.OK, (HERE / name).read_bytes(), kind)
                if not self._allowed(changes=False):
                    return
                if path == "/":
                    page = PAGE.replace("{{TOKEN}}", html.escape(view.guard.token, quote=True))
                    page = page.replace("{{READS}}", "yes" if view.guard.token_for_reads else "no")
                    return self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
                if path == "/status.json":
                    seen = parse_qs(urlsplit(self.path).query).get("library", [""])[0]
                    status = view.status(int(seen) if seen.isdigit() else None)  # the actions if they changed
                    return self._send(HTTPStatus.OK, json.dumps(status).encode(), "application/json")
                if path == "/snapshot.jpg":
                    picture = view.compositor.wait_picture(None, 2.0)
                    if picture is None:
                        return self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no picture yet\n")
                    return self._send(HTTPStatus.OK, picture.jpeg, "image/jpeg")
                if path == "/stream.mjpg":
                    return self._stream()
                if path.startswith("/clips/") and view.clips is not None:
                    clip = view.clips.path_of(path[len("/clips/") :])
                    if clip is not None:
                        return self._send_file(clip)
                return self._send(HTTPStatus.NOT_FOUND, b"not found\n")

            # -- changes (teach mode, corrections) ---------------------------------------
            def do_POST(self) -> None:
                if not self._allowed(changes=True):
                    return
                path = urlsplit(self.path).path
                if path == "/region":
                    body = self._json_body()
                    if body is not None:
                        self._send_json(*view.draw_region(body))
                    return
                if path.startswith("/events/") and path.endswith("/correct"):
                    body = self._json_body()
                    if body is not None:
                        self._send_json(*view.events.correct(unquote(path[len("/events/") : -len("/correct")]), body))
                    return
                if view.teacher is None or path not in ("/teach", "/teach/cancel"):
                    return self._send(HTTPStatus.NOT_FOUND, b"not found\n")
                if path == "/teach/cancel":
                    if not view.teacher.cancel():
                        return self._send_json(HTTPStatus.CONFLICT, {"error": "no lesson to cancel"})
                    return self._send_json(HTTPStatus.OK, view.teacher.state())
                body = self._json_body()
                if body is None:
                    return
                try:
                    lesson = Lesson(
                        str(body.get("name", "")),
                        seconds=min(60.0, max(2.0, float(body.get("seconds", 5.0)))),
                        examples=min(10, max(1, int(body.get("examples", 1)))),
                        source="browser",
                    )
                    view.teacher.teach(lesson)
                except (TypeError, ValueError):
                    return self._send_json(HTTPStatus.BAD_REQUEST, {"error": "seconds and examples must be numbers"})
                except LibraryError as exc:
                    busy = view.teacher.lesson is not None and not view.teacher.lesson.done
                    return self._send_json(HTTPStatus.CONFLICT if busy else HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return self._send_json(HTTPStatus.ACCEPTED, view.teacher.state())

            def do_DELETE(self) -> None:
                if not self._allowed(changes=True):
                    return
                parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
                if parts == ["region"] and view.pipeline.framing is not None:
                    view.pipeline.framing.clear_drawn()
                    return self._send_json(HTTPStatus.OK, view.pipeline.framing.state())
                if view.teacher is None or parts[:2] != ["teach", "actions"] or len(parts) not in (3, 5):
                    return self._send(HTTPStatus.NOT_FOUND, b"not found\n")
                if len(parts) == 5 and parts[3] != "examples":
                    return self._send(HTTPStatus.NOT_FOUND, b"not found\n")
                try:
                    view.teacher.forget(parts[2], parts[4] if len(parts) == 5 else None)
                except LibraryError as exc:
                    return self._send_json(HTTPStatus.NOT_FOUND, {"error": str(exc)})
                return self._send_json(HTTPStatus.OK, view.teacher.state())

            def do_PUT(self) -> None:
                self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"not allowed\n")

            do_PATCH = do_PUT

            def _json_body(self) -> dict | None:
                length = body_length(self.headers) or 0  # one that cannot be trusted was refused already
                if length > MAX_BODY:
                    self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"a small JSON body, please\n")
                    return None
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except (ValueError, UnicodeDecodeError):
                    body = None
                if not isinstance(body, dict):
                    self._send_json(HTTPStatus.BAD_REQUEST, {"error": "send a JSON object"})
                    return None
                return body

            # -- answers -----------------------------------------------------------------
            def _send(self, status: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
                self.send_response(status)
                if status == HTTPStatus.UNAUTHORIZED:
                    self.send_header("WWW-Authenticate", 'Bearer realm="movinet"')
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self._write(body, _answer_deadline(len(body)))

            def _send_json(self, status: HTTPStatus, payload: dict) -> None:
                self._send(status, json.dumps(payload).encode(), "application/json")

            def _send_file(self, path: Path) -> None:
                with path.open("rb") as f:
                    self.send_response(HTTPStatus.OK)
                    self.send_header("Content-Type", "application/json" if path.suffix == ".json" else "video/mp4")
                    self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
                    self.send_header("Content-Disposition", f'attachment; filename="{path.name}"')
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    deadline = _answer_deadline(os.fstat(f.fileno()).st_size)
                    while chunk := f.read(64 * 1024):
                        self._write(chunk, deadline)

            def _write(self, data: bytes, deadline: float) -> None:
                write_by(self.connection, data, deadline)

            def _stream(self) -> None:
                # A small send buffer: a phone that stops reading holds little memory, and its
                # blocked write times out (CLIENT_TIMEOUT_S) so that it is dropped.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
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
                        self._write(head.encode() + picture.jpeg + b"\r\n", time.monotonic() + CLIENT_TIMEOUT_S)
                except OSError:  # the viewer closed the page, or stopped reading
                    log.debug("%s: stream viewer gone", self.client_address[0])

        return Handler


def _answer_deadline(size: int) -> float:
    """When an answer of ``size`` bytes must have been taken by the client."""
    return time.monotonic() + CLIENT_TIMEOUT_S + size / ANSWER_RATE


def _lan_address() -> str:
    """This machine's address on the local network (no packet is sent), else its name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


def attach(app) -> LiveView:
    """``--serve``: the web server. Away from 127.0.0.1 reading asks for a token, and changing
    anything (the Teach panel, corrections, the region) always does."""
    s = app.settings
    host, port = parse_bind(s.serve)
    chosen = s.serve_token if s.serve_token is not None else environment.value("MOVINET_SERVE_TOKEN", keep_empty=True)
    if chosen is not None and len(chosen) < MIN_TOKEN_LENGTH:
        where = "--serve-token" if s.serve_token is not None else "MOVINET_SERVE_TOKEN"
        raise UserError(f"{where} must be at least {MIN_TOKEN_LENGTH} characters (it is {len(chosen)}): choose a longer one")
    token = chosen or secrets.token_urlsafe(12)
    reads = chosen is not None or not is_loopback(host)
    clips = app.recorder.library if app.recorder else None
    view = LiveView(app.pipeline, app.compositor, host, port, token, reads, clips, app.tutor, app.controls, app.events)
    print(f"live view: {view.url()}", file=sys.stderr)
    return view
