"""What the live view answers, by route: the reads here, and every change from the commands'
table (controls.py), each command's route answered through the app's one ``Controls``.

    GET  /                  the page (live_view.html, .js, .css, .svg; it polls status.json)
    GET  /stream.mjpg       multipart/x-mixed-replace JPEG stream of the overlaid picture
    GET  /snapshot.jpg      the newest picture
    GET  /status.json       current top-k (or the seconds of warm-up left), fps, camera state, events, clips,
                            teaching; ``settling`` while the model's first frames start no event
    GET  /clips/NAME        a clip saved by --record (or its JSON sidecar)

and the commands' routes, among them:

    POST /teach             {"name": ..., "seconds": 5, "examples": 1}: record an example now
                            (2 to 60 s, 1 to 10 examples, as --seconds and --examples)
    POST /teach/cancel      end the lesson in progress (examples saved so far stay)
    POST /events/ID/correct {"as": "wrong" | "right" | "undo" | NAME}: correct an event (event_list.py)
    POST /region            {"x", "y", "w", "h"}: the model watches this part of the picture (pixels
                            of the camera picture, X,Y its top-left corner), kept for restarts
    DELETE /region          forget the drawn region (--region, or the whole picture, again)
    DELETE /teach/actions/NAME[/examples/ID]   forget an action, or one of its examples (200; 202 while
                            the library is locked, 404 not there, 500 not saved)

A command whose route has no answer of its own here is answered by :func:`_plainly`: its path
parts and the JSON body are its arguments, and what it returns is the answer.
"""

from __future__ import annotations

import html
import inspect
import json
import logging
import time
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from video_classifier.controls import MISSING, Command
from video_classifier.errors import UserError
from video_classifier.live_view.handler import CLIENT_TIMEOUT_S, HERE, Answer, Handler, Route
from video_classifier.region import RegionError
from video_classifier.settings import TEACH_EXAMPLES, TEACH_SECONDS
from video_classifier.teach.examples import LibraryError, NotSaved

log = logging.getLogger("live")

PAGE = (HERE / "live_view.html").read_text(encoding="utf-8")
BOUNDARY = "frame"


# -- reads ---------------------------------------------------------------------------------------
def _page(request: Handler) -> None:
    guard = request.view.guard
    page = PAGE.replace("{{TOKEN}}", html.escape(guard.token, quote=True))
    page = page.replace("{{READS}}", "yes" if guard.token_for_reads else "no")
    request.send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")


def _status(request: Handler) -> None:
    seen = parse_qs(urlsplit(request.path).query).get("library", [""])[0]
    version = int(seen) if seen.isdecimal() and len(seen) < 20 else None  # (int() refuses 4,301 digits)
    status = request.view.status(version)  # the actions if they changed
    request.send(HTTPStatus.OK, json.dumps(status).encode(), "application/json")


def _snapshot(request: Handler) -> None:
    picture = request.view.compositor.wait_picture(None, 2.0)
    if picture is None:
        return request.send(HTTPStatus.SERVICE_UNAVAILABLE, b"no picture yet\n")
    request.send(HTTPStatus.OK, picture.jpeg, "image/jpeg")


def _stream(request: Handler) -> None:
    view = request.view
    request.small_send_buffer()
    request.send_response(HTTPStatus.OK)
    request.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
    request.send_header("Cache-Control", "no-store")
    request.end_headers()
    picture = None
    try:
        while not view.closing.is_set():
            newest = view.compositor.wait_picture(picture, 1.0)
            if newest is None or newest is picture:
                continue
            picture = newest
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(picture.jpeg)}\r\n\r\n"
            request.write(head.encode() + picture.jpeg + b"\r\n", time.monotonic() + CLIENT_TIMEOUT_S)
    except OSError:  # the viewer closed the page, or stopped reading
        log.debug("%s: stream viewer gone", request.client_address[0])


def _clip(request: Handler, name: str) -> None:
    clips = request.view.clips
    clip = clips.path_of(name) if clips is not None else None
    if clip is None:
        return request.not_found()
    request.send_file(clip)


READS = (
    Route("GET /", _page),
    Route("GET /status.json", _status),
    Route("GET /snapshot.jpg", _snapshot),
    Route("GET /stream.mjpg", _stream),
    Route("GET /clips/{name}", _clip),
)


# -- changes: the commands' routes ---------------------------------------------------------------
def _correct(request: Handler, command: Command, event_id: str) -> None:
    body = request.json_body()
    if body is not None:
        request.send_json(*request.view.events.correct(event_id, body))


def _set_region(request: Handler, command: Command) -> None:
    body = request.json_body()
    if body is None:
        return
    controls = request.view.controls
    if controls is None or not controls.available(command):
        return request.send_json(HTTPStatus.NOT_FOUND, {"error": MISSING[command.uses]})
    values = [body.get(key) for key in ("x", "y", "w", "h")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100_000 for v in values):
        return request.send_json(HTTPStatus.BAD_REQUEST, {"error": "x, y, w and h must be pixels of the camera picture"})
    try:
        state = controls.set_region(*(round(v) for v in values))
    except RegionError as exc:
        return request.send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
    except OSError as exc:  # watched from now on, but not kept
        log.warning("the drawn region cannot be kept in %s (%s)", controls.pipeline.framing.file.path, exc.strerror)
        error = f"watched, but it cannot be kept for a restart ({exc.strerror})"
        return request.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": error})
    request.send_json(HTTPStatus.OK, state)


def _clear_region(request: Handler, command: Command) -> None:
    controls = request.view.controls
    if controls is None or not controls.available(command):
        return request.not_found()
    request.send_json(HTTPStatus.OK, controls.clear_region())


def _teach(request: Handler, command: Command) -> None:
    controls = request.view.controls
    if controls is None or not controls.available(command):
        return request.not_found()
    body = request.json_body()
    if body is None:
        return
    name = body.get("name", "")
    if not isinstance(name, str):  # null or a list would be taught as "None" or "['a']"
        return request.send_json(HTTPStatus.BAD_REQUEST, {"error": 'an action\'s name is text, as {"name": "feeding the cat"}'})
    given = body.get("seconds", TEACH_SECONDS), body.get("examples", TEACH_EXAMPLES)
    try:  # true is no number of seconds, and 1.5 examples are not 1
        seconds, count = (float(v) if not isinstance(v, bool) else None for v in given)
        examples = int(count) if seconds is not None and count.is_integer() else None
    except (TypeError, ValueError, AttributeError, OverflowError):  # OverflowError: a whole number past any float
        examples = None
    if examples is None:
        return request.send_json(HTTPStatus.BAD_REQUEST, {"error": "seconds must be a number and examples a whole one"})
    try:
        controls.teach(name, seconds, examples, source="browser")
    except LibraryError as exc:
        return request.send_json(HTTPStatus.CONFLICT if controls.teaching else HTTPStatus.BAD_REQUEST, {"error": str(exc)})
    except UserError as exc:  # past the limits of a lesson
        return request.send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
    request.send_json(HTTPStatus.ACCEPTED, request.view.teacher.state())


def _cancel(request: Handler, command: Command) -> None:
    controls = request.view.controls
    if controls is None or not controls.available(command):
        return request.not_found()
    try:
        controls.cancel()
    except UserError as exc:
        return request.send_json(HTTPStatus.CONFLICT, {"error": str(exc)})
    request.send_json(HTTPStatus.OK, request.view.teacher.state())


def _forget(request: Handler, command: Command, name: str, example_id: str | None = None) -> None:
    controls = request.view.controls
    if controls is None or not controls.available(command):
        return request.not_found()
    try:
        controls.forget(name, example_id)
    except NotSaved as exc:  # as a correction that was not saved (event_list.py): 202 while the lock is busy, else 500
        if exc.pending:
            return request.send_json(HTTPStatus.ACCEPTED, {"message": str(exc)})
        return request.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)})
    except LibraryError as exc:  # not there
        return request.send_json(HTTPStatus.NOT_FOUND, {"error": str(exc)})
    request.send_json(HTTPStatus.OK, request.view.teacher.state())


def _plainly(request: Handler, command: Command, **parts: str) -> None:
    """A command without an answer of its own: path parts and JSON body are its arguments; 200 and
    what it returns (a line as ``message``), 400 and the reason if it refuses."""
    controls = request.view.controls
    if controls is None or not controls.available(command):
        return request.send_json(HTTPStatus.NOT_FOUND, {"error": MISSING.get(command.uses, "not found")})
    body = request.json_body() if request.command == "POST" else {}
    if body is None:
        return
    method = getattr(controls, command.name)
    try:
        inspect.signature(method).bind(**parts, **body)
    except TypeError:
        return request.send_json(HTTPStatus.BAD_REQUEST, {"error": f"{command.name}: {command.does}"})
    try:
        done = method(**parts, **body)
    except UserError as exc:
        return request.send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
    request.send_json(HTTPStatus.OK, done if isinstance(done, dict) else {"message": str(done or command.does)})


# The commands whose answers are their own (the page reads their statuses); the others are
# answered by _plainly.
ANSWERS: dict[str, Answer] = {
    "correct": _correct,
    "set_region": _set_region,
    "clear_region": _clear_region,
    "teach": _teach,
    "cancel": _cancel,
    "forget": _forget,
}


def _answer_of(command: Command) -> Answer:
    answer = ANSWERS.get(command.name, _plainly)
    return lambda request, **parts: answer(request, command, **parts)


def routes_of(commands: tuple[Command, ...]) -> tuple[Route, ...]:
    """The reads, and the routes of ``commands``."""
    return READS + tuple(Route(route, _answer_of(c)) for c in commands for route in c.routes)
