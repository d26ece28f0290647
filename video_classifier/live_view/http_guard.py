"""The live view's defences, apart from what it serves: who may ask, how many at once, for how long.

- A token, compared in constant time, from ``?token=`` or ``Authorization: Bearer`` (any case),
  and for a change from that header only; wrong attempts slow that client down, doubling up to 2 s.
- Without a token for reading (loopback), only ``Host: localhost``, ``127.0.0.1`` or ``[::1]``
  is answered, so a web page cannot reach the app through a name of its own (DNS rebinding).
- A request that changes anything needs the token in a header even on loopback, and an
  ``Origin``, if the browser sends one, that is this very address (no cross-site requests).
- A deadline for reading a whole request (request line, headers and body), however slowly it
  dribbles in, and one for writing a whole answer to a slow reader; a cap on clients served at
  once (503 past it), a listen backlog, and an accept loop that waits instead of spinning when
  descriptors run out.
- A body's length only from one ``Content-Length`` (the same value repeated is one): two that
  differ, one that is not a number, or ``Transfer-Encoding`` are refused, since a proxy in front
  and this server could then disagree on where the body ends.
- Security headers on every answer.
"""

from __future__ import annotations

import errno
import hmac
import io
import logging
import re
import socket
import threading
import time
from collections import OrderedDict
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("live")

MIN_TOKEN_LENGTH = 8
MAX_TOKEN_LENGTH = 256  # it travels in every address and header: a browser's request line must hold it
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class GuardedServer(ThreadingHTTPServer):
    """A thread per client, at most ``max_clients`` at once; calm when descriptors run out."""

    daemon_threads = True
    request_queue_size = 64  # bursts of connects wait in the kernel, not for a second each
    max_clients = 32

    def __init__(self, *args, **kwargs) -> None:
        self._clients = threading.BoundedSemaphore(self.max_clients)
        super().__init__(*args, **kwargs)

    def get_request(self):
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                log.debug("out of descriptors: waiting before the next accept")
                time.sleep(0.2)  # else the selector reports the pending connect again at once
            raise

    def process_request(self, request, client_address) -> None:
        if not self._clients.acquire(blocking=False):
            try:  # answered here, in the accept thread: short, and the socket is closed at once
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 5\r\n\r\nbusy\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._clients.release()

    def handle_error(self, request, client_address) -> None:
        """A client that goes away or stalls is normal: one debug line, no traceback."""
        log.debug("client %s: connection ended early", client_address[0] if client_address else "?")


class Guard:
    """Decides whether a request may be answered."""

    def __init__(self, token: str, token_for_reads: bool, port: int = 0) -> None:
        if not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH:
            raise ValueError(f"a token has {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} characters")
        self.token = token
        self.token_for_reads = token_for_reads
        self.port = port
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (count, last time)
        self._lock = threading.Lock()

    def offered_token(self, path: str, headers, header_only: bool = False) -> str:
        """The token a request carries, from its ``Authorization: Bearer`` header or (unless
        ``header_only``, as for changes) its query."""
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return "" if header_only else parse_qs(urlsplit(path).query).get("token", [""])[0]

    def token_ok(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode(), self.token.encode())

    def host_ok(self, host: str | None) -> bool:
        """With a token every Host is fine; without one only loopback names (with our port)."""
        if self.token_for_reads:
            return True
        if not host:
            return False
        allowed = {*LOOPBACK_HOSTS, *(f"{name}:{self.port}" for name in LOOPBACK_HOSTS)}
        return host.lower() in allowed

    def origin_ok(self, origin: str | None, host: str | None) -> bool:
        """A browser's request that changes something must come from a page of this server."""
        return origin is None or origin in (f"http://{host}", f"https://{host}")

    def penalty(self, client: str) -> float:
        """Seconds to wait before answering ``client``'s wrong token (0 for the first one)."""
        now = time.monotonic()
        with self._lock:
            count, last = self._failures.pop(client, (0, now))
            if now - last > 60:
                count = 0
            self._failures[client] = (count + 1, now)
            while len(self._failures) > 1000:  # bounded, however many addresses try
                self._failures.popitem(last=False)
        return min(2.0, 0.05 * (2**count)) if count else 0.0

    def forgive(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


class DeadlineReader(io.RawIOBase):
    """A socket's reading side that gives up at ``deadline`` (``time.monotonic()``), however the
    bytes trickle in: a socket time-out alone restarts at every byte received."""

    def __init__(self, sock: socket.socket, idle_timeout: float) -> None:
        self.sock = sock
        self.idle_timeout = idle_timeout
        self.deadline = time.monotonic() + idle_timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request not received in time")
        self.sock.settimeout(min(remaining, self.idle_timeout))
        return self.sock.recv_into(buffer)


def write_by(sock: socket.socket, data: bytes, deadline: float) -> None:
    """Send ``data`` whole by ``deadline`` (``time.monotonic()``), else raise ``TimeoutError``:
    a slow reader cannot hold its slot for longer."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("answer not taken in time")
    sock.settimeout(remaining)  # sendall's time-out bounds the whole call, not each send
    sock.sendall(data)


def body_length(headers) -> int | None:
    """The length of a request's body from its headers: 0 without a ``Content-Length``, None when
    it cannot be trusted (two that differ, not a number, or a ``Transfer-Encoding`` besides)."""
    if headers.get("Transfer-Encoding") is not None:
        return None
    values = {part.strip() for value in headers.get_all("Content-Length") or [] for part in value.split(",")}
    if not values:
        return 0
    if len(values) > 1 or not re.fullmatch(r"[0-9]{1,12}", next(iter(values))):
        return None
    return int(next(iter(values)))
