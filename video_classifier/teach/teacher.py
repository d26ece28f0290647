"""Teaching: an example of an action is the mean of the model's per-frame pooled features over
a few seconds of the running stream.

    requested --> countdown ("waving in 3, 2, 1") --> recording (progress) --> saved
                      ^------------ pause between examples ---------------------/
    (cancel, Ctrl-C, or forgetting the action ends a lesson at any point; what was saved stays)

Driven by the predictions' capture times, so it works the same on a camera (with a countdown
for the person to get ready), on a video file (no countdown: the clip's first seconds) and from
the browser's Teach panel. Each example is saved as soon as it is recorded: stopping halfway
keeps what was taught. Saving happens in the library keeper's thread: the model never waits
for the disk. A lesson whose examples look like examples of ``other`` (or, teaching ``other``,
like a taught action's) says so when it ends, on the Teach panel and the command line, with how
to move them (``conflicts.py``), for as long as they stay alike.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import numpy as np

from video_classifier.data import Prediction, shown
from video_classifier.errors import UserError, quoted
from video_classifier.outputs import Output, say
from video_classifier.teach.conflicts import Alike, advice, alike
from video_classifier.teach.examples import (
    Example,
    LibraryError,
    NoSuchAction,
    NotSaved,
    add_to,
    check_name,
    check_room,
    forget_from,
)
from video_classifier.teach.keeper import LibraryKeeper

LESSON_FIELDS = ("name", "phase", "progress", "saved", "examples", "seconds", "error", "cancelled")
ANSWER_WAIT_S = 8.0  # how long a request from the browser waits for the library to be written

log = logging.getLogger("teach")


@dataclass
class Lesson:
    """What to teach: ``examples`` recordings of ``seconds`` each, of the action ``name``."""

    name: str
    seconds: float = 5.0
    examples: int = 1
    countdown_s: float = 3.0
    pause_s: float = 2.0
    source: str = "camera"
    saved: int = 0  # examples saved so far
    recorded: int = 0  # examples recorded so far (saving follows in the keeper's thread)
    phase: str = "waiting"  # waiting, countdown, recording, pause, saving, done
    cancelled: bool = False
    progress: float = 0.0  # of the current phase, 0..1
    error: str = ""
    _phase_start: float | None = None
    _features: list[np.ndarray] = field(default_factory=list)
    _taught: list[Example] = field(default_factory=list)  # the examples saved

    @property
    def done(self) -> bool:
        return self.phase == "done"


class Teacher(Output):
    """Runs one :class:`Lesson` at a time on the predictions it is given (inference thread) and
    saves each example through ``keeper``; ``on_done`` hears of the end of a lesson (saved,
    failed or cancelled).
    """

    def __init__(self, keeper: LibraryKeeper, fps: float = 5.0, on_done: Callable[[Lesson], None] | None = None) -> None:
        self.keeper = keeper
        self.fps = fps  # model frames per second: an example of S seconds is S * fps frames
        self.on_done = on_done
        self.lesson: Lesson | None = None  # the current or the last lesson
        self._lock = threading.Lock()  # lessons are asked for from the browser's threads
        self._state: tuple[int, list] | None = None  # the library summary, per keeper version

    def teach(self, lesson: Lesson) -> Lesson:
        """Start ``lesson`` (its name is checked first); a lesson already running is refused."""
        lesson.name = check_name(lesson.name)
        check_room(self.keeper.current, lesson.name, lesson.examples)  # refused now, not after the recording
        with self._lock:
            if self.lesson is not None and not self.lesson.done:
                raise LibraryError(f"already teaching {self.lesson.name!r}: wait until it is saved, or cancel it")
            self.lesson = lesson
        return lesson

    def begin(self, name: str, seconds: float, examples: int, source: str) -> Lesson:
        """Start a lesson of ``name`` with the usual countdown and pauses (see :meth:`teach`)."""
        return self.teach(Lesson(name, seconds=seconds, examples=examples, source=source))

    @property
    def busy(self) -> bool:
        """Whether a lesson is in progress."""
        lesson = self.lesson
        return lesson is not None and not lesson.done

    def cancel(self) -> bool:
        """End the lesson in progress (examples already saved are kept); False if there was none."""
        with self._lock:
            lesson = self.lesson
            if lesson is None or lesson.done:
                return False
            lesson.cancelled = True
        self._end(lesson)
        return True

    def forget(self, name: str, example_id: str | None = None) -> None:
        """Delete an action or one of its examples, ending a lesson of that action. Waits for the
        file to be written (not in the model's thread): a :class:`NoSuchAction` if it is not there,
        a :class:`NotSaved` if it could not be saved, or not yet (another program holds the lock)."""
        lesson = self.lesson
        if example_id is None and lesson is not None and not lesson.done and lesson.name == name:
            self.cancel()  # else its next example would bring the action back
        future = self.keeper.change(lambda library: forget_from(library, name, example_id))
        what = quoted(name) if example_id is None else f"example {quoted(example_id)} of {quoted(name)}"
        wait_saved(future, what, "forgotten", lambda done: _said_forgotten(done, what))

    def state(self, library_seen: int | None = None) -> dict:
        """The lesson in progress (or the last one) and the library's actions with their examples,
        for the browser; the actions only when the library changed since version ``library_seen``
        (a page polling every second gets a few hundred bytes, not the whole library)."""
        lesson = self.lesson
        version, actions = self._summary()
        notice = self.notice(lesson)
        state = {
            "status": self.describe() or notice,  # the page shows the status, or how the lesson ended
            "lesson": None if lesson is None else {k: getattr(lesson, k) for k in LESSON_FIELDS} | {"notice": notice},
            "library_version": version,
        }
        if library_seen != version:
            state["actions"] = actions
        return state

    def _summary(self) -> tuple[int, list]:
        """Per action: its examples' ids, sources and lengths (bounded by the library's limits),
        computed once per version of the library, not per request."""
        library = self.keeper.current  # before the version: at worst a newer library is sent again
        version = self.keeper.version
        cached = self._state
        if cached is not None and cached[0] == version:
            return cached
        summary = [
            {
                "name": name,
                "examples": [{k: getattr(e, k) for k in ("id", "source", "taught_at", "seconds", "event")} for e in examples],
            }
            for name, examples in library.actions.items()
        ]
        self._state = (version, summary)
        return self._state

    def alike(self, lesson: Lesson | None) -> list[Alike]:
        """What ``lesson``'s examples (those still taught) look like across ``other`` now."""
        if lesson is None:
            return []
        library = self.keeper.current
        kept = {e.id for e in library.actions.get(lesson.name, [])}
        return alike(library, lesson.name, [e for e in lesson._taught if e.id in kept])

    def notice(self, lesson: Lesson | None) -> str:
        """How ``lesson`` ended and what its examples look like across ``other`` ("" while it
        runs, failed, or has nothing alike)."""
        if lesson is None or not lesson.done or lesson.error:
            return ""
        found = self.alike(lesson)
        if not found:
            return ""
        ended = "cancelled" if lesson.cancelled else "saved"
        return f"{ended}: {lesson.saved} example(s) of {shown(lesson.name)}. {advice(found)}"

    @property
    def status(self) -> str:
        """One line for the overlay ("" when idle), its progress drawn as an ASCII bar."""
        return self.describe(ascii_bar=True)

    def describe(self, ascii_bar: bool = False) -> str:
        """The lesson in one line ("" when idle); the page draws its own progress bar."""
        lesson = self.lesson
        if lesson is None or lesson.done:
            return ""
        which = f" ({lesson.recorded + 1} of {lesson.examples})" if lesson.examples > 1 else ""
        if lesson.phase == "countdown":
            return f"{lesson.name} in {max(1, math.ceil(lesson.countdown_s * (1 - lesson.progress)))}{which}"
        if lesson.phase == "recording" and not ascii_bar:
            return f"recording {lesson.name}{which}"
        if lesson.phase == "recording":
            done = round(lesson.progress * 10)  # an ASCII bar: the overlay's font has no block characters
            return f"recording {lesson.name} [{'#' * done}{'-' * (10 - done)}] {lesson.progress * 100:.0f}%{which}"
        if lesson.phase == "pause":
            return f"saved; next {lesson.name} in {max(1, math.ceil(lesson.pause_s * (1 - lesson.progress)))}"
        if lesson.phase == "saving":
            return f"saving {lesson.name}"
        return f"get ready for {lesson.name}"

    def on_prediction(self, prediction: Prediction) -> None:
        lesson = self.lesson
        if lesson is None or lesson.done or lesson.phase == "saving":
            return
        t = prediction.time_s
        if lesson.phase == "waiting":
            self._enter(lesson, "countdown" if lesson.countdown_s > 0 else "recording", t)
        elapsed = t - lesson._phase_start
        if lesson.phase in ("countdown", "pause"):
            length = lesson.countdown_s if lesson.phase == "countdown" else lesson.pause_s
            lesson.progress = min(1.0, elapsed / length)
            if elapsed < length - 1e-6:  # capture times are sums of 1/fps steps
                return
            self._enter(lesson, "recording", t)
        if prediction.features is None:
            raise LibraryError("teaching needs the model's pooled features: run with --actions")
        lesson._features.append(prediction.features)
        frames_wanted = max(1, round(lesson.seconds * self.fps))
        lesson.progress = min(1.0, len(lesson._features) / frames_wanted)
        if len(lesson._features) >= frames_wanted:
            self._save(lesson, t)

    def _enter(self, lesson: Lesson, phase: str, t: float) -> None:
        lesson.phase, lesson._phase_start, lesson.progress = phase, t, 0.0
        if phase == "recording":
            lesson._features = []

    def _save(self, lesson: Lesson, t: float) -> None:
        vector = np.mean(lesson._features, axis=0).astype(np.float32)
        example = Example(vector, lesson.source, len(lesson._features) / self.fps)
        lesson.recorded += 1
        last = lesson.recorded >= lesson.examples
        if last:
            self._enter(lesson, "saving", t)
        else:  # the pause starts where the last recorded frame's time ends
            self._enter(lesson, "pause" if lesson.pause_s > 0 else "recording", t + 1.0 / self.fps)

        def saved(future: Future) -> None:  # in the keeper's thread
            if lesson.done:
                return  # cancelled meanwhile: the example is kept, the lesson stays ended
            error = future.exception()
            if error is not None:
                lesson.error = str(error)
                self._end(lesson)
                return
            lesson.saved += 1
            lesson._taught.append(example)
            where = self.keeper.library.path
            log.info("taught %r: example %d of %d saved in %s", lesson.name, lesson.saved, lesson.examples, where)
            if last:
                self._end(lesson)

        self.keeper.change(lambda library: add_to(library, lesson.name, [example])).add_done_callback(saved)

    def _end(self, lesson: Lesson) -> None:
        with self._lock:
            if lesson.done:
                return
            lesson.phase, lesson._features = "done", []
        if self.on_done is not None:
            self.on_done(lesson)


def _said_if_failed(lesson: Lesson) -> None:
    """A Teach panel lesson that could not be saved, also said on stderr: the panel may be closed
    by then. (``--learn`` says it as its error line.)"""
    if lesson.error:
        log.warning("lesson ended with %s: %s", _saved(lesson), lesson.error)


def finish_run(app) -> None:
    """After the run: with ``--learn``, say what was saved, or why not (a clip too short is an
    error); a Teach panel lesson still running is said on stderr (the panel that started it may be
    closed, and a video's end would otherwise leave it unsaid)."""
    lesson, s, source = app.tutor.lesson, app.settings, app.source
    if s.learn is None:  # the Teach panel's
        if lesson is None or lesson.done:
            return
        if source.live or app.stopped:
            print(f"stopped during a lesson: {_saved(lesson)}", file=sys.stderr)
        else:
            print(
                f"warning: {source.name} ended during a lesson: {_saved(lesson)}: "
                "teach from a longer clip, or play it again and again with --loop",
                file=sys.stderr,
            )
        return
    if lesson.error:
        raise UserError(lesson.error)
    if not lesson.done:
        if source.live or app.stopped:  # a clip stopped by the user was not too short
            print(f"stopped: {_saved(lesson)}", file=sys.stderr)
        else:
            raise UserError(
                f"{source.name} is too short to teach {lesson.name!r}: {s.seconds * s.examples:g} s needed ("
                f"--seconds {s.seconds:g} x --examples {s.examples}), {lesson.saved} example(s) saved: "
                "pass a longer clip or a smaller --seconds (at least 2)"
            )
    say(f"{s.actions}:\n{app.keeper.library.load().summary()}")
    found = app.tutor.alike(lesson)
    if found:
        from video_classifier.teach.conflicts import command, moves

        lines = [f"note: {advice(found)}", *(f"  {command(s.actions, *move, s.model_flag)}" for move in moves(found))]
        print("\n".join(lines), file=sys.stderr)


def _saved(lesson: Lesson) -> str:
    """How much of ``lesson`` was saved, in words."""
    return f"{lesson.saved} of {lesson.examples} example(s) of {lesson.name!r} saved"


def _said_forgotten(future: Future, what: str) -> None:
    """The log's word on a deletion saved after its request stopped waiting."""
    if future.exception() is None:
        log.info("forgot %s", what)
    else:
        log.warning("%s not forgotten: %s", what, future.exception())


def wait_for(future: Future):
    """The Future's result, waited for at most :data:`ANSWER_WAIT_S` (a browser request waits,
    never the model); a :class:`LibraryError` when the file stays locked that long."""
    try:
        return future.result(ANSWER_WAIT_S)
    except FutureTimeout:
        raise LibraryError(
            "the action library is busy (another program holds its lock?): the change will be made when it is free"
        ) from None


def wait_saved(future: Future, what: str, done: str, later: Callable[[Future], None]):
    """The result of a change to the action library (waited for as :func:`wait_for`), or a
    :class:`NotSaved`: "WHAT is not DONE yet" while another program holds the library's lock
    (``later`` then hears how the change ended), "WHAT was not DONE: why" when it failed (a full
    disk, a read-only one, a library of another model). A :class:`NoSuchAction` stays itself."""
    try:
        return wait_for(future)
    except LibraryError as exc:
        if not future.done():
            future.add_done_callback(later)
            raise NotSaved(f"{what} is not {done} yet: {exc}", pending=True) from None
        if isinstance(exc, NoSuchAction):
            raise
        raise NotSaved(f"{what} was not {done}: {exc}") from None


def attach(app) -> Teacher:
    """The teacher: with ``--learn`` it teaches that action now (a countdown on a camera, the
    first seconds of a video), then stops the app; with ``--serve`` the Teach panel uses it."""
    s, pipeline, source = app.settings, app.pipeline, app.source
    on_done = (lambda lesson: pipeline.request_stop()) if s.learn is not None else _said_if_failed
    tutor = Teacher(app.keeper, s.fps, on_done=on_done)
    if s.learn is not None:
        live = source.live
        what = "camera" if live else source.name
        tutor.teach(Lesson(s.learn, s.seconds, s.examples, 3.0 if live else 0.0, 2.0 if live else 0.0, what))
    return tutor
