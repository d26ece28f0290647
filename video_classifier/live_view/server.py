"""A live view for phones and laptops: the overlaid picture as an MJPEG stream, one page with
the current actions and the recent events, and with ``--actions`` a Teach panel and corrections.

What it answers, by route, is ``routes.py``: the reads, and the routes of the commands' table
(``controls.py``), every change going through the app's one ``Controls``. Standard library only
(``http.server``, a thread per client, at most 32 at once; ``handler.py``). Each client thread
only reads the compositor's newest JPEG, so watchers cost the model nothing but a socket write.
Who may ask what is ``http_guard.py``'s job: reads need the token away from loopback, and every
change needs it always, in a header.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
import threading
from urllib.parse import quote

from video_classifier import environment
from video_classifier.controls import Controls, commands
from video_classifier.data import ActionEvent
from video_classifier.display.compositor import Compositor
from video_classifier.errors import UserError, cut
from video_classifier.live_view.event_list import EventList
from video_classifier.live_view.handler import Handler, Route
from video_classifier.live_view.http_guard import MAX_TOKEN_LENGTH, MIN_TOKEN_LENGTH, Guard, GuardedServer
from video_classifier.live_view.routes import routes_of
from video_classifier.outputs import Output
from video_classifier.outputs.clips import ClipLibrary
from video_classifier.pipeline import Pipeline
from video_classifier.teach.recent_events import RecentEvents
from video_classifier.teach.teacher import Teacher


def parse_bind(text: str) -> tuple[str, int]:
    """``PORT`` (on 127.0.0.1) or ``HOST:PORT``; port 0 picks a free one."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdecimal() or len(port) > 5 or int(port) > 65535:
        raise UserError(f"--serve {cut(text)}: give a port (8000) or an address and a port (0.0.0.0:8000)")
    return host, int(port)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class LiveView(Output):
    """The HTTP server; as an output it keeps the current and the recent action events.

    ``token`` is always set: reads need it when ``token_for_reads`` (off loopback, or a token the
    user chose), changes always do. ``routes``: what it answers (by default the reads and the commands' routes, ``routes.py``).
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
        routes: tuple[Route, ...] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.compositor = compositor
        self.clips = clips
        self.teacher = teacher  # its state for the page: its lessons go through ``controls``
        self.controls = controls
        self.events = EventList(controls, events, clips)
        self.closing = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET  # "::" listens on IPv6 (and IPv4)
        server_class = type("LiveViewServer", (GuardedServer,), {"address_family": family})
        try:
            self._server = server_class((host, port), self._handler_class(routes or routes_of(commands())))
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
        self.closing.set()
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
            "settling": bool(prediction and prediction.settling),  # the model's first frames: no event can start
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

    def _handler_class(self, routes: tuple[Route, ...]) -> type[Handler]:
        return type("LiveViewHandler", (Handler,), {"view": self, "routes": routes})


def _lan_address() -> str:
    """This machine's address on the local network (no packet is sent), else its name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


def serve_settings(s) -> tuple[str, int, str | None]:
    """``--serve``'s host and port and the token chosen (``--serve-token`` or
    ``$MOVINET_SERVE_TOKEN``; None: a random one), or a :class:`UserError`: checked before the
    model loads, so that a mistake costs no start."""
    host, port = parse_bind(s.serve)
    chosen = s.serve_token if s.serve_token is not None else environment.value("MOVINET_SERVE_TOKEN", keep_empty=True)
    where = "--serve-token" if s.serve_token is not None else "MOVINET_SERVE_TOKEN"
    if chosen is not None and not MIN_TOKEN_LENGTH <= len(chosen) <= MAX_TOKEN_LENGTH:
        raise UserError(
            f"{where} must be {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} characters (it is {len(chosen)}): "
            f"choose a {'longer' if len(chosen) < MIN_TOKEN_LENGTH else 'shorter'} one"
        )
    # A browser sends a header's token as it is: no spaces (a Bearer value is trimmed) and nothing
    # outside ASCII (headers travel as Latin-1; past it, browsers refuse to send them at all).
    if chosen and not all("!" <= c <= "~" for c in chosen):
        raise UserError(f"{where} has a space or a character outside ASCII: use letters, digits and punctuation")
    return host, port, chosen


def attach(app) -> LiveView:
    """``--serve``: the web server. Away from 127.0.0.1 reading asks for a token, and changing
    anything (the Teach panel, corrections, the region) always does."""
    s = app.settings
    host, port, chosen = serve_settings(s)
    token = chosen or secrets.token_urlsafe(12)
    reads = chosen is not None or not is_loopback(host)
    clips = app.recorder.library if app.recorder else None
    view = LiveView(app.pipeline, app.compositor, host, port, token, reads, clips, app.tutor, app.controls, app.recent_events)
    print(f"live view: {view.url()}", file=sys.stderr)
    return view
