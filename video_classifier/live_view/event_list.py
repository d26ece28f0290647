"""The live view's recent events, and the corrections a user makes on them from the page.

    GET  /status.json "events"     newest first, the one in progress first (its ``end_s`` null)
    POST /events/ID/correct        {"as": "wrong" | "right" | "undo" | NAME}; 200 and one line once saved,
                                   202 and why when the library is busy (saved when it is free),
                                   else one JSON error: 404 (no such event of a taught action),
                                   400 (a bad verdict or name), 409 (the action cannot take it,
                                   or there is no correction to take back),
                                   500 (it could not be saved: the action file is a folder...)

With ``--actions`` the events are those of taught actions, from :class:`RecentEvents` (each with
its clip, if one was recorded, and what it was corrected as); without, the model's own events,
which cannot be corrected. A correction goes through the app's one :class:`Controls`.
"""

from __future__ import annotations

import threading
from collections import deque
from http import HTTPStatus

from video_classifier.controls import Controls
from video_classifier.data import ActionEvent
from video_classifier.errors import UserError
from video_classifier.outputs.clips import ClipLibrary
from video_classifier.teach.corrections import VERDICTS
from video_classifier.teach.examples import LibraryError, NotSaved, check_name
from video_classifier.teach.recent_events import RecentEvents

SHOWN = 20  # events listed on the page
MAX_ID_LENGTH = 64


class EventList:
    """The events the page lists, and their corrections."""

    def __init__(self, controls: Controls | None, events: RecentEvents | None, clips: ClipLibrary | None = None) -> None:
        self.controls = controls
        self.events = events
        self.clips = clips
        self.active: ActionEvent | None = None
        self._finished: deque[dict] = deque(maxlen=SHOWN)  # the model's own events (without --actions)
        self._lock = threading.Lock()  # appended by the inference thread, read by HTTP threads
        self._corrected: tuple[int, dict[str, str]] = (-1, {})  # keeper version -> {event id: name}

    def started(self, event: ActionEvent) -> None:
        self.active = event

    def ended(self, event: ActionEvent) -> None:
        if self.active is event:
            self.active = None
        if self.events is None:
            with self._lock:
                self._finished.append(event.to_json())

    def listing(self) -> list[dict]:
        """What /status.json's "events" holds: newest first, the one in progress first."""
        if self.events is not None:
            corrected = self._corrections()
            listed = []
            for record in self.events.records()[:SHOWN]:
                item = record.to_json(vector=False)
                del item["frames"]  # grows every frame: the page would redraw its buttons each poll
                item["clip"] = record.clip or (self.clips.clip_of(record.id) if self.clips else None)
                listed.append({**item, "corrected": corrected.get(record.id)})
            return listed
        with self._lock:
            finished = list(self._finished)[::-1]
        active = self.active
        if active is None or not active.scores:
            return finished
        now = {"id": active.id, "label": active.label, "start_s": round(active.start_s, 3), "end_s": None}
        return [{**now, "peak": round(max(active.scores), 5)}, *finished]

    def _corrections(self) -> dict[str, str]:
        """Event id -> what it was corrected as, computed once per version of the library."""
        keeper = self.events.keeper
        version = keeper.version
        if self._corrected[0] != version:
            self._corrected = (version, keeper.current.corrected())
        return self._corrected[1]

    def correct(self, event_id: str, body: dict) -> tuple[HTTPStatus, dict]:
        """Answer POST /events/ID/correct: the status and the JSON to send."""
        verdict = body.get("as")
        if not isinstance(verdict, str) or not verdict.strip():
            return HTTPStatus.BAD_REQUEST, {"error": 'say what it was: {"as": "wrong" | "right" | "undo" | NAME}'}
        if self.controls is None or self.controls.corrector is None:
            return HTTPStatus.NOT_FOUND, {"error": "only events of taught actions can be corrected: run with --actions FILE"}
        if len(event_id) > MAX_ID_LENGTH:
            return HTTPStatus.NOT_FOUND, {"error": "no such event"}
        try:
            if verdict.strip().lower() not in VERDICTS:
                check_name(verdict)  # a bad name is the request's fault (400), a full action is not (409)
        except LibraryError as exc:
            return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
        try:
            message = self.controls.correct(event_id, verdict)
        except NotSaved as exc:
            if exc.pending:
                return HTTPStatus.ACCEPTED, {"message": str(exc)}
            return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": str(exc)}
        except LibraryError as exc:
            return HTTPStatus.CONFLICT, {"error": str(exc)}
        except UserError as exc:
            return HTTPStatus.NOT_FOUND, {"error": str(exc)}
        return HTTPStatus.OK, {"message": message}
