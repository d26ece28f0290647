"""The live view's HTTP requests: one deadline per request, the guard's checks (``http_guard.py``),
answers that must be taken within a deadline, and the way to the answer of each route
(``routes.py``). Standard library only: ``http.server``, a thread per client.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from video_classifier.live_view.http_guard import SECURITY_HEADERS, DeadlineReader, body_length, write_by

log = logging.getLogger("live")

HERE = Path(__file__).parent
STATIC = {
    "/live_view.js": ("live_view.js", "text/javascript; charset=utf-8"),
    "/live_view.css": ("live_view.css", "text/css; charset=utf-8"),
    "/live_view.svg": ("live_view.svg", "image/svg+xml"),  # the page's icon: else browsers ask for /favicon.ico
}
CLIENT_TIMEOUT_S = 10.0  # a whole request (headers and body), or one picture of the stream
ANSWER_RATE = 64 * 1024  # bytes per second an answer may be read at, at the least, after that time
MAX_BODY = 4096
# A refusal says where the token is: in the address printed for reading; in a header for a change,
# which the page sends itself (on loopback the printed address has no token to copy for a script).
READ_NEEDS_TOKEN = b"token required: open the address the app printed, with its ?token=\n"
CHANGE_NEEDS_TOKEN = (
    b"token required: a change sends it as 'Authorization: Bearer TOKEN' (the page does; for a script, "
    b"start the app with --serve-token or $MOVINET_SERVE_TOKEN)\n"
)

Answer = Callable[..., None]  # (the request, the route's path parts) -> answers the request


class Route:
    """``METHOD /path`` and its answer; ``{x}`` in the path is one part, passed unquoted as ``x``."""

    def __init__(self, route: str, answer: Answer) -> None:
        self.method, _, path = route.partition(" ")
        self.pattern = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)))
        self.answer = answer

    def match(self, method: str, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path) if method == self.method else None
        return None if found is None else {k: unquote(v) for k, v in found.groupdict().items()}


class Handler(BaseHTTPRequestHandler):
    """One client's requests; a subclass per live view sets ``view`` (the ``LiveView``) and
    ``routes`` (its table)."""

    timeout = CLIENT_TIMEOUT_S
    view: Any = None
    routes: tuple[Route, ...] = ()

    def setup(self) -> None:
        super().setup()
        self._reader = DeadlineReader(self.connection, CLIENT_TIMEOUT_S)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        # One deadline for the whole request, from the wait for its first byte to the end of its
        # body: a client dribbling a byte every few seconds is dropped.
        self._reader.deadline = time.monotonic() + CLIENT_TIMEOUT_S
        super().handle_one_request()

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if body_length(self.headers) is None:  # whatever the request: where its body ends is unclear
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": "send a body with one Content-Length"})
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

    # -- who may ask, and where to ------------------------------------------------------------
    def _allowed(self, changes: bool) -> bool:
        """Answer the refusal and return False when the request may not go on."""
        guard = self.view.guard
        if not guard.host_ok(self.headers.get("Host")):
            self.send(HTTPStatus.MISDIRECTED_REQUEST, b"open the app as localhost or 127.0.0.1\n")
            return False
        # A change carries the token in its header, never in a link (whatever else it sends).
        offered = guard.offered_token(self.path, self.headers, header_only=changes)
        if (changes or guard.token_for_reads) and not guard.token_ok(offered):
            time.sleep(guard.penalty(self.client_address[0]))
            self.send(HTTPStatus.UNAUTHORIZED, CHANGE_NEEDS_TOKEN if changes else READ_NEEDS_TOKEN)
            return False
        if changes and not guard.origin_ok(self.headers.get("Origin"), self.headers.get("Host")):
            self.send(HTTPStatus.FORBIDDEN, b"requests from other sites are refused\n")
            return False
        if offered:
            guard.forgive(self.client_address[0])
        return True

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path
        for route in self.routes:
            if (parts := route.match(method, path)) is not None:
                return route.answer(self, **parts)
        self.not_found()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in STATIC and self.view.guard.host_ok(self.headers.get("Host")):  # code and style hold no secret
            name, kind = STATIC[path]
            return self.send(HTTPStatus.OK, (HERE / name).read_bytes(), kind)
        if self._allowed(changes=False):
            self._route("GET")

    def do_POST(self) -> None:
        if self._allowed(changes=True):
            self._route("POST")

    def do_DELETE(self) -> None:
        if self._allowed(changes=True):
            self._route("DELETE")

    def do_PUT(self) -> None:
        self.send(HTTPStatus.METHOD_NOT_ALLOWED, b"not allowed\n")

    do_PATCH = do_PUT

    def json_body(self) -> dict | None:
        """The request's JSON object, or None once the refusal is answered."""
        length = body_length(self.headers) or 0  # one that cannot be trusted was refused already
        if length > MAX_BODY:
            self.send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"a small JSON body, please\n")
            return None
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested a few thousand deep
            body = None
        if not isinstance(body, dict):
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": "send a JSON object"})
            return None
        return body

    # -- answers -------------------------------------------------------------------------------
    def send(self, status: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="movinet"')
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.write(body, answer_deadline(len(body)))

    def send_json(self, status: HTTPStatus, payload: dict) -> None:
        self.send(status, json.dumps(payload).encode(), "application/json")

    def not_found(self) -> None:
        self.send(HTTPStatus.NOT_FOUND, b"not found\n")

    def send_file(self, path: Path) -> None:
        with path.open("rb") as f:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json" if path.suffix == ".json" else "video/mp4")
            self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
            self.send_header("Content-Disposition", f'attachment; filename="{path.name}"')
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            deadline = answer_deadline(os.fstat(f.fileno()).st_size)
            while chunk := f.read(64 * 1024):
                self.write(chunk, deadline)

    def write(self, data: bytes, deadline: float) -> None:
        write_by(self.connection, data, deadline)

    def small_send_buffer(self) -> None:
        """For an endless answer: a phone that stops reading holds little memory, and its blocked
        write times out (CLIENT_TIMEOUT_S) so that it is dropped."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)


def answer_deadline(size: int) -> float:
    """When an answer of ``size`` bytes must have been taken by the client."""
    return time.monotonic() + CLIENT_TIMEOUT_S + size / ANSWER_RATE
