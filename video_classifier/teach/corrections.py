"""Corrections: a user's verdict on an event of a taught action becomes an example.

    "wrong"        something else happened: the event's features are taught as ``other``
    "right"        the event was right: its features become an example of its own action
    NAME           it was NAME (a taught action or a new one; ``other`` as "wrong")
    "undo"         take back the event's correction

An event corrected as anything but its own action teaches the part of it that did not look like
its action's examples, when part of it did (one long event over the action, then something else
taken for it): the action's own part stays out. An event corrected again replaces its earlier
correction, so a slip of the finger is mended by correcting once more. A correction that leaves
``other`` and a taught action with examples alike says so (``conflicts.py``).

The same edit serves the running app (:class:`Corrector`, saved in the library keeper's thread:
the model never waits for the disk, the one who asked does, to hear whether it was saved) and the
command line (:func:`correct_offline`, ``--correct ID --as NAME``), so both have one effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

import numpy as np

from video_classifier.data import shown
from video_classifier.errors import UserError
from video_classifier.teach.conflicts import Alike, advice, alike, command, moves
from video_classifier.teach.examples import Example, Library, LibraryError, add_to, check_name
from video_classifier.teach.keeper import LibraryKeeper
from video_classifier.teach.library import OTHER, ActionLibrary
from video_classifier.teach.recent_events import EventFile, EventRecord, RecentEvents, find
from video_classifier.teach.teacher import wait_saved

log = logging.getLogger("teach")

WRONG, RIGHT, UNDO = "wrong", "right", "undo"
VERDICTS = (WRONG, RIGHT, UNDO)
LONG_EVENT_S = 20.0  # a longer event taught whole by a correction: say how to take it back
CLI_UNDO = "--correct {id} --as undo"
APP_UNDO = "Undo on the event in the live view, or 'undo {id}' on the MQTT command topic"


def target_of(verdict: str, record: EventRecord) -> str | None:
    """The action the event's features are to be taught as (None: only take back a correction)."""
    verdict = verdict.strip()
    if verdict.lower() == WRONG:
        return OTHER
    if verdict.lower() == RIGHT:
        return record.label
    if verdict.lower() == UNDO:
        return None
    return check_name(verdict)


def _taught_part(record: EventRecord, name: str | None) -> bool:
    """Whether a correction as ``name`` teaches only the part of the event unlike its action."""
    return record.part is not None and name != record.label


def example_of(record: EventRecord, name: str | None, fps: float) -> Example:
    """The example a correction of ``record`` as ``name`` teaches: for anything but its own
    action the part of it that did not look like its action (when part of it did), else all of it."""
    if _taught_part(record, name):
        return Example(record.part, "correction", max(0.2, record.part_frames / fps), event=record.id)
    return Example(record.vector, "correction", max(0.2, record.frames / fps), event=record.id)


def correction(record: EventRecord, name: str | None, fps: float) -> Callable[[Library], None]:
    """The edit that teaches ``record`` as ``name`` (see :func:`example_of`), replacing an
    earlier correction of the same event (``name`` None: only removing it)."""
    example = example_of(record, name, fps)

    def edit(library: Library) -> None:
        if name is None and record.id not in library.corrected():
            raise LibraryError(f"{_event(record)} has no correction to take back")
        for action in list(library.actions):
            kept = [e for e in library.actions[action] if e.event != record.id]
            if kept:
                library.actions[action] = kept
            else:
                del library.actions[action]
        if name is not None:
            add_to(library, name, [example])

    return edit


def _event(record: EventRecord) -> str:
    return f"event {record.id} ({record.label!r} at {record.when})"


def describe(record: EventRecord, name: str | None, fps: float, *, saved: Library | None = None, undo: str = CLI_UNDO) -> str:
    """What a correction of ``record`` as ``name`` did, in a line; with the library ``saved``,
    also the examples on the other side of ``other`` it looks like (:func:`~.conflicts.advice`);
    ``undo`` says how to take it back where it was made (``{id}``: the event's)."""
    what = _event(record)
    if name is None:
        return f"{what}: its correction taken back"
    seconds = record.frames / fps
    note = ""
    if _taught_part(record, name):
        note = (
            f": the {record.part_frames / fps:.0f} s of its {seconds:.0f} s that did not look like {record.label!r} "
            "(the rest did, and is left out)"
        )
    elif seconds > LONG_EVENT_S and name != record.label and not record.part_frames:
        note = (
            f"; it lasted {seconds:.0f} s and all of it looked like {record.label!r}, and is taught: if part of it "
            f"really was {record.label!r}, take this back ({undo.format(id=record.id)}) and correct a shorter event"
        )
    text = f"{what} taught as {shown(name)!r}{note}"
    found = [] if saved is None else alike_after(saved, record, name)
    if found:
        text += ". Note: " + advice(found, corrected=record.id if name == OTHER else None)
    return text


def alike_after(saved: Library, record: EventRecord, name: str | None) -> list[Alike]:
    """The examples across ``other`` that ``record``'s correction as ``name`` looks like in ``saved``."""
    if name is None:
        return []
    return alike(saved, name, [e for e in saved.actions.get(name, []) if e.event == record.id])


class Corrector:
    """Corrections in the running app: checked at once (an unknown event, a bad name or a full
    action is an error for the caller), saved in the keeper's thread while the caller waits."""

    def __init__(self, keeper: LibraryKeeper, events: RecentEvents, fps: float) -> None:
        self.keeper = keeper
        self.events = events
        self.fps = fps

    def correct(self, event_id: str | None, verdict: str) -> str:
        """What was done, once it is saved (the caller waits for the keeper, a few seconds at
        most). Raises :class:`UserError` for a correction that cannot be made, and
        :class:`NotSaved` for one that was not saved (the action file replaced by a folder, a
        full disk) or not yet (another program holds the library's lock)."""
        record = self.events.find(event_id)
        name = target_of(verdict, record)
        edit = correction(record, name, self.fps)
        current = self.keeper.current
        edit(Library(current.model, {k: list(v) for k, v in current.actions.items()}))  # limits: fail now, not later
        done = describe(record, name, self.fps, undo=APP_UNDO)  # for the log, if it is saved after the caller stops waiting

        def saved(future: Future) -> None:  # heard by the log only: the caller has its answer
            error = future.exception()
            if error is None:
                log.info("corrected: %s", done)
            else:
                log.warning("correction not saved: %s", error)

        saved_as = wait_saved(self.keeper.change(edit), _event(record), "corrected", later=saved)
        done = describe(record, name, self.fps, saved=saved_as, undo=APP_UNDO)
        log.info("corrected: %s", done)
        return done

    def last_corrected(self) -> str:
        """The id of the recent event corrected last (a :class:`UserError` if none is)."""
        return last_corrected(self.keeper.current, self.events.records()).id


def last_corrected(library: Library, records: list[EventRecord]) -> EventRecord:
    """Of the recent events ``records`` (newest first), the one whose correction was taught last
    (the newer event when two were taught in the same second)."""
    taught = {e.event: _taught_at(e.taught_at) for examples in library.actions.values() for e in examples if e.event}
    corrected = [r for r in records if r.id in taught]
    if not corrected:
        raise UserError("no recent event has a correction to take back")
    return max(corrected, key=lambda r: taught[r.id])


def _taught_at(text: str) -> float:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:  # written by hand: the oldest
        return float("-inf")


def correct_offline(
    library: ActionLibrary, events: EventFile, event_id: str | None, verdict: str, fps: float, model: str | None = None
) -> str:
    """``--correct``: the same correction from the command line, while the app runs or not
    (``model``: the ``--model`` flag its advice repeats, None for the default)."""
    record = find(events.load(), event_id)
    name = target_of(verdict, record)
    saved = library.change(correction(record, name, fps))
    found = alike_after(saved, record, name)
    moving = [(record.id, found[0].action)] if name == OTHER and found else moves(found)
    return "\n".join([describe(record, name, fps, saved=saved), *(f"  {command(library.path, *move, model)}" for move in moving)])


def watch(keeper: LibraryKeeper, on_correction: Callable[[str, str | None], None]) -> None:
    """Tell ``on_correction(event id, action)`` of every correction that appears or changes in
    the keeper's library, whoever made it (this app, the command line, another app), and
    ``(event id, None)`` when one is no longer there (taken back, or its example deleted)."""
    seen = keeper.current.corrected()

    def changed(library: Library) -> None:  # in the keeper's thread
        nonlocal seen
        now = library.corrected()
        for event in sorted(now.keys() | seen.keys()):
            if now.get(event) != seen.get(event):
                try:
                    on_correction(event, now.get(event))
                except UserError as exc:  # the change is saved all the same: the listener's failure is its own
                    log.warning("%s", exc)
        seen = now

    keeper.on_change(changed)


def list_events(library: Library, records: list[EventRecord]) -> str:
    """``--list-events``: one line per recent event, newest first, with its correction if any."""
    if not records:
        return "no events of taught actions yet"
    corrected = {e.event: (name, e) for name, examples in library.actions.items() for e in examples if e.event}
    lines = [f"{'id':8}  {'started':19}  {'label':24}  {'peak':>5}  {'seconds':>7}  clip / correction"]
    for r in sorted(records, key=lambda r: r.started_at, reverse=True):
        seconds = "now" if r.end_s is None else f"{r.end_s - r.start_s:.1f}"
        note = ""
        if r.id in corrected:
            name, example = corrected[r.id]
            part = r.part is not None and np.allclose(example.vector, r.part, atol=1e-4)  # as saved: 5 decimals
            note = f"corrected: {shown(name)}" + (f" (the {example.seconds:.0f} s unlike {r.label[:24]!r})" if part else "")
        extra = "  ".join(x for x in (r.clip or "", note) if x)
        lines.append(f"{r.id:8}  {r.when:19}  {r.label[:24]:24}  {r.peak:5.2f}  {seconds:>7}  {extra}")
    return "\n".join(lines)
