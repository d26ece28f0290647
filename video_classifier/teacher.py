"""Teaching: an example of an action is the mean of the model's per-frame pooled features over
a few seconds of the running stream.

    requested --> countdown ("waving in 3, 2, 1") --> recording (progress) --> saved
                      ^------------ pause between examples ---------------------/

Driven by the predictions' capture times, so it works the same on a camera (with a countdown
for the person to get ready), on a video file (no countdown: the clip's first seconds) and from
the browser's Teach panel. Each example is saved as soon as it is recorded: stopping halfway
keeps what was taught.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from video_classifier.action_library import ActionLibrary, Example, LibraryError, check_name
from video_classifier.data import Prediction
from video_classifier.outputs import Output

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
    phase: str = "waiting"  # waiting, countdown, recording, pause, done
    progress: float = 0.0  # of the current phase, 0..1
    error: str = ""
    _phase_start: float | None = None
    _features: list[np.ndarray] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.phase == "done"


class Teacher(Output):
    """Runs one :class:`Lesson` at a time on the predictions it is given (inference thread) and
    saves each example in ``library``. ``on_saved`` hears of every saved example (the scorer
    reloads), ``on_done`` of the end of a lesson, saved or failed.
    """

    def __init__(
        self,
        library: ActionLibrary,
        fps: float = 5.0,
        on_saved: Callable[[], None] | None = None,
        on_done: Callable[[Lesson], None] | None = None,
    ) -> None:
        self.library = library
        self.fps = fps  # model frames per second: an example of S seconds is S * fps frames
        self.on_saved = on_saved
        self.on_done = on_done
        self.lesson: Lesson | None = None  # the current or the last lesson
        self._lock = threading.Lock()  # lessons are asked for from the browser's threads

    def teach(self, lesson: Lesson) -> Lesson:
        """Start ``lesson`` (its name is checked first); a lesson already running is refused."""
        lesson.name = check_name(lesson.name)
        with self._lock:
            if self.lesson is not None and not self.lesson.done:
                raise LibraryError(f"already teaching {self.lesson.name!r}: wait until it is saved")
            self.lesson = lesson
        return lesson

    def forget(self, name: str, example_id: str | None = None) -> None:
        """Delete an action or one of its examples (a :class:`LibraryError` if it is not there)."""
        self.library.forget(name, example_id)
        if self.on_saved is not None:
            self.on_saved()

    def state(self) -> dict:
        """The lesson in progress (or the last one) and what the library holds, for the browser."""
        lesson = self.lesson
        actions = self.library.read().actions
        return {
            "status": self.describe(),
            "lesson": None
            if lesson is None
            else {k: getattr(lesson, k) for k in ("name", "phase", "progress", "saved", "examples", "seconds", "error")},
            "actions": [
                {
                    "name": name,
                    "examples": [{k: getattr(e, k) for k in ("id", "source", "taught_at", "seconds")} for e in examples],
                }
                for name, examples in actions.items()
            ],
        }

    @property
    def status(self) -> str:
        """One line for the overlay ("" when idle), its progress drawn as an ASCII bar."""
        return self.describe(ascii_bar=True)

    def describe(self, ascii_bar: bool = False) -> str:
        """The lesson in one line ("" when idle); the page draws its own progress bar."""
        lesson = self.lesson
        if lesson is None or lesson.done:
            return ""
        which = f" ({lesson.saved + 1} of {lesson.examples})" if lesson.examples > 1 else ""
        if lesson.phase == "countdown":
            return f"{lesson.name} in {max(1, math.ceil(lesson.countdown_s * (1 - lesson.progress)))}{which}"
        if lesson.phase == "recording" and not ascii_bar:
            return f"recording {lesson.name}{which}"
        if lesson.phase == "recording":
            done = round(lesson.progress * 10)  # an ASCII bar: the overlay's font has no block characters
            return f"recording {lesson.name} [{'#' * done}{'-' * (10 - done)}] {lesson.progress * 100:.0f}%{which}"
        if lesson.phase == "pause":
            return f"saved; next {lesson.name} in {max(1, math.ceil(lesson.pause_s * (1 - lesson.progress)))}"
        return f"get ready for {lesson.name}"

    def on_prediction(self, prediction: Prediction) -> None:
        lesson = self.lesson
        if lesson is None or lesson.done:
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
        try:
            self.library.add_examples(lesson.name, [example])
        except LibraryError as exc:
            lesson.error = str(exc)
            self._end(lesson)
            return
        lesson.saved += 1
        log.info("taught %r: example %d of %d saved in %s", lesson.name, lesson.saved, lesson.examples, self.library.path)
        if self.on_saved is not None:
            self.on_saved()
        if lesson.saved >= lesson.examples:
            self._end(lesson)
        else:  # the pause starts where the last recorded frame's time ends
            self._enter(lesson, "pause" if lesson.pause_s > 0 else "recording", t + 1.0 / self.fps)

    def _end(self, lesson: Lesson) -> None:
        lesson.phase, lesson._features = "done", []
        if self.on_done is not None:
            self.on_done(lesson)
