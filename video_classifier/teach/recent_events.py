"""The recent events of taught actions, with the features behind each, kept beside the action
file (``actions.json`` -> ``actions.events.json``) so that an event can be corrected after the
fact: from the live view, Home Assistant, or over SSH with ``--correct ID`` after a restart.

An event's features are the mean of the model's per-frame features over the window the scorer
saw when the event started and every frame of the event after it: what the app took for the
action. A correction makes that an example of what it really was (see ``corrections.py``).
An event's *part* is the mean of the windows in it that did not look like its action's examples
(no cosine of :data:`~.conflicts.ALIKE_AT` to any): when one event covers the action and then
something else taken for it, a correction teaches that part, not the whole event.

The file keeps the newest :data:`EVENTS_KEPT` events; it is written in the library keeper's
thread (never the model's), read with the same limits as the action library, and merged by id
with what is on disk under the library's own lock, so that two cameras sharing one action file
keep each other's events.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utils.safe_files import UnsafeFile, loads_strict, read_regular_file
from video_classifier.data import ActionEvent, Prediction
from video_classifier.errors import UserError, quoted
from video_classifier.outputs import Output
from video_classifier.outputs.clips import ClipLibrary
from video_classifier.teach.conflicts import ALIKE_AT, unit_rows
from video_classifier.teach.examples import Library, LibraryError, ModelIdentity
from video_classifier.teach.keeper import LibraryKeeper
from video_classifier.teach.library import ActionLibrary, atomic_write

log = logging.getLogger("teach")

FORMAT = "movinet-events"
VERSION = 1
EVENTS_KEPT = 100
MAX_FILE_BYTES = 4 * 1024 * 1024
FIX = "delete it (only the recent events are lost)"
CLOSE_WAIT_S = 5.0


def events_path(actions: str | Path) -> Path:
    """Where the recent events of the action file ``actions`` are kept."""
    path = Path(actions)
    return path.with_name(f"{path.stem}.events.json")


@dataclass
class EventRecord:
    """One event of a taught action, and the features the app saw in it."""

    id: str
    label: str
    started_at: float  # wall clock (time.time())
    start_s: float
    end_s: float | None  # None while it lasts
    peak: float
    frames: int
    vector: np.ndarray
    clip: str | None = None
    part: np.ndarray | None = None  # the mean of its windows unlike its action's examples (None: none, or all)
    part_frames: int = 0  # how many windows were unlike

    def to_json(self, vector: bool = True) -> dict:
        record = {
            "id": self.id,
            "label": self.label,
            "started_at": round(self.started_at, 3),
            "start_s": round(self.start_s, 3),
            "end_s": None if self.end_s is None else round(self.end_s, 3),
            "peak": round(self.peak, 4),
            "frames": self.frames,
            "clip": self.clip,
        }
        if vector:
            record["vector"] = [round(float(x), 5) for x in self.vector]
            if self.part is not None:
                record["part"] = [round(float(x), 5) for x in self.part]
            if self.part_frames:
                record["part_frames"] = self.part_frames
        return record

    @property
    def when(self) -> str:
        """The local start time, for people."""
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))


def _record(item: dict, size: int) -> EventRecord:
    def number(key: str, low: float, high: float) -> float:
        value = item[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ValueError(f"an event's {key} is out of range")
        return float(value)

    texts = {key: item[key] for key in ("id", "label")}
    if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in texts.values()):
        raise ValueError("an event's id or label is not a short text")
    clip = item.get("clip")
    if clip is not None and (not isinstance(clip, str) or len(clip) > 200):
        raise ValueError("an event's clip is not a file name")

    def features(key: str) -> np.ndarray:
        vector = item[key]
        if not isinstance(vector, list) or len(vector) != size or not all(type(x) in (int, float) for x in vector):
            raise ValueError(f"an event's {key} does not have the model's {size} numbers")
        array = np.asarray(vector, np.float32)
        if not np.isfinite(array).all():
            raise ValueError(f"an event's {key} is out of range")
        return array

    array = features("vector")
    part = None if item.get("part") is None else features("part")
    end = None if item.get("end_s") is None else number("end_s", 0, 1e9)
    return EventRecord(
        texts["id"],
        texts["label"],
        number("started_at", 0, 1e11),
        number("start_s", 0, 1e9),
        end,
        number("peak", 0, 1),
        int(number("frames", 0, 1e9)),
        array,
        clip,
        part,
        int(number("part_frames", 1, 1e9)) if "part_frames" in item or part is not None else 0,
    )


class EventFile:
    """The file of recent events, for one model; ``lock`` (a context manager's factory) is held
    while it is read, merged and written."""

    def __init__(
        self, path: str | Path, model: ModelIdentity, lock: Callable[[], contextlib.AbstractContextManager] | None = None
    ) -> None:
        self.path = Path(path)
        self.model = model
        self._lock = lock or contextlib.nullcontext

    @classmethod
    def beside(cls, library: ActionLibrary) -> EventFile:
        """The recent events kept beside ``library``, saved under its lock: another app writing
        the same files at once cannot make either lose the other's events."""
        return cls(events_path(library.path), library.model, library.locked)

    def load(self) -> list[EventRecord]:
        """The events on disk, oldest first (none when there is no file). Raises :class:`LibraryError`."""
        where = f"the recent events file {self.path}"
        try:
            data = read_regular_file(self.path, MAX_FILE_BYTES)
        except FileNotFoundError:
            return []
        except UnsafeFile as exc:
            raise LibraryError(f"{where} {exc}: {FIX}") from None
        except OSError as exc:
            raise LibraryError(f"cannot read {where} ({exc.strerror})") from None
        try:
            doc = loads_strict(data.decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
                raise ValueError("not a recent events file of this app")
            if doc["model"].get("sha256") != self.model.sha256:
                raise ValueError("its events were seen by another model")
            items = doc["events"]
            if not isinstance(items, list) or len(items) > EVENTS_KEPT:
                raise ValueError(f"not a list of at most {EVENTS_KEPT} events")
            return [_record(item, self.model.feature_size) for item in items]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            raise LibraryError(f"{where} is damaged ({exc}): {FIX}") from None

    def save(self, records: list[EventRecord]) -> None:
        """Merge ``records`` with what is on disk (these win), keep the newest, write atomically,
        all under the lock. Raises :class:`LibraryError` when it cannot be saved."""
        with self._lock():
            try:
                on_disk = self.load()
            except LibraryError:
                on_disk = []  # a damaged file of recent events is replaced, not worth stopping for
            merged = {r.id: r for r in on_disk} | {r.id: r for r in records}
            newest = sorted(merged.values(), key=lambda r: r.started_at)[-EVENTS_KEPT:]
            events = [r.to_json() for r in newest]
            doc = {"format": FORMAT, "version": VERSION, "model": self.model.__dict__, "events": events}
            atomic_write(self.path, json.dumps(doc, ensure_ascii=False) + "\n")


def find(records: list[EventRecord], event_id: str | None) -> EventRecord:
    """The event ``event_id`` (or a unique start of it, at least 4 characters), or the newest
    when None. Raises :class:`UserError` with one line when there is no such event."""
    if not records:
        raise UserError("no event of a taught action yet: there is nothing to correct")
    if event_id is None:
        return max(records, key=lambda r: r.started_at)
    event_id = event_id.strip().lower()
    matches = [r for r in records if r.id == event_id] or (
        [r for r in records if r.id.startswith(event_id)] if len(event_id) >= 4 else []
    )
    if len(matches) != 1:
        what = "more than one event starts with" if matches else "no event"
        raise UserError(
            f"{what} {quoted(event_id)} among the last {EVENTS_KEPT} events of taught actions "
            "(an event of the model's own classes cannot be corrected): --list-events shows them"
        )
    return matches[0]


class RecentEvents(Output):
    """Keeps the features behind each event of a taught action (inference thread) and saves
    them through ``keeper``. ``window`` is the scorer's window in frames."""

    def __init__(self, keeper: LibraryKeeper, file: EventFile, window: int, clips: ClipLibrary | None = None) -> None:
        self.keeper = keeper
        self.file = file
        self.clips = clips
        self._recent: deque[np.ndarray] = deque(maxlen=max(1, window))
        self._records: deque[EventRecord] = deque(maxlen=EVENTS_KEPT)
        self._active: EventRecord | None = None
        self._sum: np.ndarray | None = None
        self._part: np.ndarray | None = None  # the sum of the active event's windows unlike its action
        self._windows = 0  # the active event's windows so far
        self._examples: tuple[Library, str, np.ndarray | None] | None = None  # its action's, per library
        self._lock = threading.Lock()  # records are read by the browser's and MQTT's threads
        self._pending = False
        try:
            self._records.extend(file.load())
        except LibraryError as exc:
            log.warning("%s", str(exc).replace(FIX, "a new list of recent events replaces it"))

    # -- output hooks (inference thread) ---------------------------------------------------
    def on_prediction(self, prediction: Prediction) -> None:
        features = prediction.features
        if features is None:
            return
        self._recent.append(features)
        active = self._active  # set and cleared in this thread only
        if active is None:
            return
        window = np.add.reduce(np.asarray(self._recent), axis=0, dtype=np.float64) / len(self._recent)
        unlike = not self._looks_like(active.label, window)
        with self._lock:
            self._sum += features
            active.frames += 1
            self._windows += 1
            if unlike:
                self._part += window
                active.part_frames += 1

    def on_event_start(self, event: ActionEvent) -> None:
        if not self._recent:
            return
        with self._lock:
            self._sum = np.sum(self._recent, axis=0, dtype=np.float64)
            self._part, self._windows = np.zeros_like(self._sum), 0
            self._active = EventRecord(
                event.id, event.label, time.time(), event.start_s, None, max(event.scores), len(self._recent), np.empty(0)
            )
            self._records.append(self._active)
        self._save_soon()

    def on_event_end(self, event: ActionEvent) -> None:
        with self._lock:
            active = self._active
            if active is None or active.id != event.id:
                return
            self._mean()
            active.end_s, active.peak = event.end_s, max(event.scores)
            self._active = self._sum = self._part = None
        self._save_soon()

    def close(self) -> None:
        with self._lock:
            if self._active is not None:  # the stream ended mid-event: keep what there is
                self._mean()
        try:  # wait for it, a little: the command line may correct it next, but exit must not hang
            self.keeper.run(self._save).exception(timeout=CLOSE_WAIT_S)
        except FutureTimeout:
            log.warning("the recent events were not saved: the action library is busy")

    # -- readers (any thread) --------------------------------------------------------------
    def records(self) -> list[EventRecord]:
        """The recent events, newest first; the one in progress has its features so far."""
        with self._lock:
            if self._active is not None:
                self._mean()
            return list(reversed(self._records))

    def find(self, event_id: str | None) -> EventRecord:
        """See :func:`find`."""
        return find(self.records(), event_id)

    def _mean(self) -> None:
        """The active event's features so far, and its part unlike its action (under the lock)."""
        active = self._active
        active.vector = (self._sum / max(1, active.frames)).astype(np.float32)
        partial = 0 < active.part_frames < self._windows  # all of it unlike: the whole is that part
        active.part = (self._part / active.part_frames).astype(np.float32) if partial else None

    def _looks_like(self, label: str, window: np.ndarray) -> bool:
        """Whether ``window`` is alike one of ``label``'s examples (an action without any: yes)."""
        library = self.keeper.current
        cached = self._examples
        if cached is None or cached[0] is not library or cached[1] != label:
            kept = library.actions.get(label)
            cached = self._examples = (library, label, unit_rows(kept) if kept else None)
        norm = float(np.linalg.norm(window))
        return cached[2] is None or norm == 0 or float((cached[2] @ window).max()) / norm >= ALIKE_AT

    # -- saving (keeper's thread) ----------------------------------------------------------
    def _save_soon(self) -> None:
        """One save at a time: events that come meanwhile go with the next."""
        if not self._pending:
            self._pending = True
            self.keeper.run(self._save)

    def _save(self) -> None:
        self._pending = False
        records = [r for r in self.records() if r.vector.size]
        if self.clips is not None:
            for record in records:
                record.clip = record.clip or self.clips.clip_of(record.id)
        try:
            self.file.save(records)
        except LibraryError as exc:
            log.warning("%s; the recent events are kept in memory", exc)


def attach(app) -> RecentEvents:
    """With ``--actions``: the events of taught actions, with their features, for corrections."""
    keeper = app.keeper
    file = EventFile.beside(keeper.library)
    clips = app.recorder.library if app.recorder else None
    return RecentEvents(keeper, file, app.classifier.scorer.window, clips)
