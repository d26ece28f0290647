"""What a user may ask of the running app, and the one table every way of asking is built from.

:data:`COMMANDS` names each request once: what it does, the part of the app it drives, and how
each surface offers it: the window's key, the MQTT command topic's words, the Home Assistant
entity that sends them, the live view's route. The window, the MQTT publisher, Home Assistant's
discovery and the live view read this table and call the :class:`Controls` method of the same
name; none of them lists commands of its own. A new control is one method and one line here.

Every method may be called from any thread. The corrections wait (a few seconds at most) to say
whether they were saved, ``forget`` until the file is written, the rest return at once. Writing
the action library happens in the library's own thread, never in the caller's or the model's.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Protocol

from video_classifier.data import Region
from video_classifier.errors import UserError
from video_classifier.region import Framing
from video_classifier.settings import MAX_TEACH_EXAMPLES, MAX_TEACH_SECONDS, MIN_TEACH_SECONDS, TEACH_EXAMPLES, TEACH_SECONDS


class Pausable(Protocol):
    """The part of the pipeline that the controls drive."""

    paused: bool
    framing: Framing | None

    def request_reset(self) -> None: ...

    def set_paused(self, paused: bool) -> None: ...


class Correcting(Protocol):
    """Turns a user's verdict on an event into an example (see ``teach/corrections.py``)."""

    def correct(self, event_id: str | None, verdict: str) -> str: ...

    def last_corrected(self) -> str: ...


class Tutor(Protocol):
    """Records lessons and forgets actions (see ``teach/teacher.py``)."""

    @property
    def busy(self) -> bool: ...

    def begin(self, name: str, seconds: float, examples: int, source: str) -> object: ...

    def cancel(self) -> bool: ...

    def forget(self, name: str, example_id: str | None = None) -> None: ...


@dataclass(frozen=True)
class Entity:
    """How Home Assistant offers a command: a ``button`` that sends ``payload``, a ``switch`` that
    sends ``payload`` for on and ``off`` for off and reads the state's ``state`` field, or a
    ``text`` whose value is sent through the template ``payload``."""

    component: str
    key: str  # the entity's object id: keep it, or Home Assistant makes a new entity
    name: str
    icon: str
    payload: str
    off: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class Command:
    """One request: the :class:`Controls` method ``name``, which drives ``uses`` (``pipeline``,
    ``framing``, ``corrector`` or ``teacher``: the last two need taught actions, ``--actions``).

    ``key``: the window's key and its word in the keys' help; ``mqtt``: the command topic's
    forms, ``ID`` an event id (or a unique start of it, 4 hex digits at least) and ``NAME`` the
    rest of the message; ``entity``: what Home Assistant shows; ``routes``: the live view's
    ``"METHOD /path"``, ``{x}`` one part of the path passed as ``x``.
    """

    name: str
    uses: str
    does: str
    key: tuple[str, str] | None = None
    mqtt: tuple[str, ...] = ()
    entity: Entity | None = None
    routes: tuple[str, ...] = ()


# fmt: off
COMMANDS: tuple[Command, ...] = (
    Command("reset", "pipeline", "forget what the model saw so far", key=("r", "reset"), mqtt=("reset",),
            entity=Entity("button", "reset", "Reset model", "mdi:restart", "reset")),
    Command("pause", "pipeline", "freeze the picture and the model", mqtt=("pause",),
            entity=Entity("switch", "pause", "Pause", "mdi:pause", "pause", off="resume", state="paused")),
    Command("resume", "pipeline", "go on after a pause", mqtt=("resume",)),
    Command("toggle_pause", "pipeline", "pause, or go on when paused", key=(" ", "pause")),
    Command("set_region", "framing", "watch this part of the picture, kept for restarts", routes=("POST /region",)),
    Command("clear_region", "framing", "forget the drawn region", routes=("DELETE /region",)),
    Command("correct", "corrector", "say what an event was: wrong, right, undo or an action's name",
            routes=("POST /events/{event_id}/correct",)),
    Command("wrong", "corrector", "the event (the newest) was something else: taught as other", mqtt=("wrong", "wrong ID"),
            entity=Entity("button", "wrong", "Last action was wrong", "mdi:thumb-down-outline", "wrong")),
    Command("right", "corrector", "the event (the newest) was right: an example of its action", mqtt=("right", "right ID")),
    Command("it_was", "corrector", "the event (the newest) was NAME", mqtt=("it was NAME", "ID was NAME"),
            entity=Entity("text", "it_was", "It was ...", "mdi:form-textbox", "it was {{ value }}")),
    Command("undo", "corrector", "take back the event's correction (the last correction made)", mqtt=("undo", "undo ID"),
            entity=Entity("button", "undo", "Undo last correction", "mdi:undo", "undo")),
    Command("teach", "teacher", "record examples of an action now", routes=("POST /teach",)),
    Command("cancel", "teacher", "end the lesson in progress (examples saved so far stay)", routes=("POST /teach/cancel",)),
    Command("forget", "teacher", "delete an action, or one of its examples",
            routes=("DELETE /teach/actions/{name}", "DELETE /teach/actions/{name}/examples/{example_id}")),
)
# fmt: on


def commands() -> tuple[Command, ...]:
    """The table as it is now: every surface reads it here, when it is used."""
    return COMMANDS


# Why a command is refused when the part it drives is not in this run.
MISSING = {
    "framing": "this app has no region to set",
    "corrector": "corrections need taught actions: run with --actions FILE",
    "teacher": "teaching needs taught actions and the live view: run with --actions FILE --serve",
}


@dataclass(frozen=True)
class Between:
    """The numbers from ``low`` to ``high``, both included (``5 in Between(2, 60)``); "2 to 60"."""

    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low:g} to {self.high:g}"


# A lesson's limits, wherever it is asked for: --seconds and --examples, and the Teach panel.
LESSON_SECONDS = Between(MIN_TEACH_SECONDS, MAX_TEACH_SECONDS)
LESSON_EXAMPLES = Between(1, MAX_TEACH_EXAMPLES)


def check_lesson(seconds: float, examples: int) -> None:
    """Raise :class:`UserError` unless a lesson of ``examples`` recordings of ``seconds`` each is
    within the limits (the same as ``--seconds`` and ``--examples``)."""
    if seconds not in LESSON_SECONDS or examples not in LESSON_EXAMPLES:
        raise UserError(
            f"a lesson is {LESSON_SECONDS} seconds per example and {LESSON_EXAMPLES} examples: "
            f"{seconds:g} s and {examples} asked for"
        )


class Controls:
    """The requests a user can make, on ``pipeline``, with ``--actions`` on ``corrector``, and
    with the Teach panel on ``teacher``: one method per command of :data:`COMMANDS`."""

    def __init__(self, pipeline: Pausable, corrector: Correcting | None = None, teacher: Tutor | None = None) -> None:
        self.pipeline = pipeline
        self.corrector = corrector
        self.teacher = teacher

    def available(self, command: Command) -> bool:
        """Whether this run has the part ``command`` drives."""
        return self._part(command.uses) is not None

    def run(self, command: Command, **args) -> object:
        """Do ``command`` with ``args`` (its MQTT form's ``event_id`` and ``name``, its route's
        parts); a :class:`UserError` when this run cannot."""
        if not self.available(command):
            raise UserError(MISSING[command.uses])
        return getattr(self, command.name)(**args)

    def _part(self, uses: str):
        return self.pipeline.framing if uses == "framing" else getattr(self, uses)

    def _need(self, uses: str):
        part = self._part(uses)
        if part is None:
            raise UserError(MISSING[uses])
        return part

    # -- the pipeline ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget what the model saw so far (done before its next frame)."""
        self.pipeline.request_reset()

    @property
    def paused(self) -> bool:
        return self.pipeline.paused

    def set_paused(self, paused: bool) -> None:
        """Freeze (True) or go on (False); every output hears of it through ``on_pause``."""
        self.pipeline.set_paused(paused)

    def pause(self) -> None:
        self.set_paused(True)

    def resume(self) -> None:
        self.set_paused(False)

    def toggle_pause(self) -> None:
        self.set_paused(not self.paused)

    def set_region(self, x: int, y: int, w: int, h: int) -> dict:
        """Watch the region X,Y,W,H of the picture and keep it for restarts; its state. Raises
        ``RegionError`` for a region the model cannot watch, ``OSError`` when it is watched but
        cannot be kept."""
        framing = self._need("framing")
        framing.set_drawn(Region(x, y, w, h))
        return framing.state()

    def clear_region(self) -> dict:
        """Forget the drawn region (``--region``, or the whole picture, again); its state."""
        framing = self._need("framing")
        framing.clear_drawn()
        return framing.state()

    # -- corrections -----------------------------------------------------------------------------
    def correct(self, event_id: str | None, verdict: str) -> str:
        """Say what event ``event_id`` really was (None: the newest event of a taught action).

        ``verdict`` is ``"wrong"`` (something else happened: taught as ``other``), ``"right"``
        (an example of the event's own action), ``"undo"`` (take its correction back) or the name
        of the action it was (taught or new). Returns one line saying what was done, once it is
        saved; raises :class:`UserError` with one line when the event is unknown or cannot be
        corrected, or the correction was not saved (``corrections.NotSaved``). The running app
        scores with the correction within a second.
        """
        if not verdict.strip():
            raise UserError("say what the event was: wrong, right, undo or an action's name")
        return self._need("corrector").correct(event_id, verdict)

    def wrong(self, event_id: str | None = None) -> str:
        return self.correct(event_id, "wrong")

    def right(self, event_id: str | None = None) -> str:
        return self.correct(event_id, "right")

    def it_was(self, name: str, event_id: str | None = None) -> str:
        return self.correct(event_id, name)

    def undo(self, event_id: str | None = None) -> str:
        """Take back the correction of ``event_id`` (None: of the event corrected last)."""
        return self.correct(event_id or self._need("corrector").last_corrected(), "undo")

    # -- teaching --------------------------------------------------------------------------------
    @property
    def teaching(self) -> bool:
        """Whether a lesson is in progress."""
        return self.teacher is not None and self.teacher.busy

    def teach(self, name: str, seconds: float = TEACH_SECONDS, examples: int = TEACH_EXAMPLES, source: str = "browser") -> None:
        """Start recording ``examples`` of ``seconds`` each of the action ``name`` (checked first;
        a lesson in progress, a bad name or a full action is a ``LibraryError``)."""
        teacher = self._need("teacher")
        check_lesson(seconds, examples)
        teacher.begin(name, seconds, examples, source)

    def cancel(self) -> None:
        """End the lesson in progress (examples already saved stay)."""
        if not self._need("teacher").cancel():
            raise UserError("no lesson to cancel")

    def forget(self, name: str, example_id: str | None = None) -> None:
        """Delete the action ``name``, or its example ``example_id`` (a ``LibraryError`` if it is
        not there); waits until the file is written."""
        self._need("teacher").forget(name, example_id)


# In a command's forms (its ``mqtt`` ones): an event id, or a unique start of it (4 characters at
# least), as on the command line; and a name, the rest of the message.
_PARTS = {"ID": r"(?P<event_id>[0-9a-f]{4,8})", "NAME": r"(?P<name>.+)"}


@functools.cache
def _pattern(form: str) -> re.Pattern:
    return re.compile(" ".join(_PARTS.get(word, re.escape(word)) for word in form.split(" ")), re.DOTALL)


def parse_command(text: str) -> tuple[Command, dict[str, str]] | None:
    """The command ``text`` asks for and its arguments, or None when it is none of the forms of
    the commands' table."""
    for command in commands():
        for form in command.mqtt:
            if match := _pattern(form).fullmatch(text):
                return command, {k: v for k, v in match.groupdict().items() if v is not None}
    return None


def usage() -> str:
    """Every form the command topic takes: "reset, pause, ... or undo ID"."""
    forms = [form for command in commands() for form in command.mqtt]
    return ", ".join(forms[:-1]) + f" or {forms[-1]}"
