"""Recognition of taught actions: the stream model's per-frame features compared with the examples.

Each taught action's similarity is the best cosine similarity between the mean of the last frames'
features (the window) and one of its examples. Similarities are absolute (two different actions in
one room are still fairly alike), so the scores are made relative: a softmax over the actions'
similarities and a reserved ``unknown`` whose similarity is fixed at ``unknown_at``. Scores are
in [0, 1] and sum to 1, like Kinetics probabilities, so ``--threshold``, events, MQTT and clips
work unchanged; ``unknown`` wins when nothing taught is close enough. ``other`` ("something else")
is scored like a taught action and is taught by corrections.

The window is as long as the examples: the median length of the examples taught by lessons in
the library (:func:`taught_window`; ``--window`` sets it instead), and it follows the library
while the app runs. The scorer pools it from the model's per-frame features itself.

A fresh stream (a start or a reset) is warmed up (:class:`WarmUp`): the stream model's first
frames, without temporal context yet, come out large and show the room more than the motion (in
one room they look alike whatever happens), so they are never pooled; the window is scored once
it holds a few frames after them, a partial window compared with the examples like a full one.
Until then the scorer is warming up (:attr:`TaughtScorer.warming_up`: the seconds left) and
gives no scores: the outputs say so instead of showing an ``unknown`` nothing measured.

The window is as long as an example, so after a switch the old action's frames hold it for
seconds. A short window of the last frames, scored the same way, confirms a switch early: when
it names another taught action confidently for long enough, the window is cut to its last frames
(mostly from after the switch) and grows back (:class:`ShortWindow`).
``benchmarks/teach.py`` measured the defaults (``--sweep``: the short window's; ``--cold-start``:
the warm-up's).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from video_classifier.model.scores import softmax
from video_classifier.model.windows import Streak, challenger_over
from video_classifier.settings import MAX_TEACH_SECONDS, MIN_TEACH_SECONDS, TEACH_SECONDS
from video_classifier.teach.examples import UNKNOWN, Library
from video_classifier.teach.keeper import LibraryKeeper
from video_classifier.teach.library import OTHER

UNKNOWN_AT = 0.5  # cosine similarity at which a taught action and "unknown" are even
SHARPNESS = 0.04  # softmax temperature over similarities: a 0.1 lead is a factor of e^2.5


@dataclass(frozen=True)
class ShortWindow:
    """When the short window's best taught action is not the window's, scores at least
    ``confirm`` there and leaves the window's action at most ``old``, for ``hold`` frames in a
    row, the window is cut to its last ``keep`` frames (frames at 5 fps; chosen over every
    switch between taught actions by ``benchmarks/teach.py --sweep``)."""

    short: int = 8  # frames in the short window (1.6 s)
    confirm: float = 0.6
    old: float = 0.2
    hold: int = 1
    keep: int = 10  # 2 s


SHORT_WINDOW = ShortWindow()


@dataclass(frozen=True)
class WarmUp:
    """After a start or reset the first ``skip`` model frames are never pooled, and the window is
    scored once it holds ``frames`` more (None: once it is full, as the app did before); a window
    of at most ``skip + frames`` frames is simply waited for, whole. Frames of the model, whatever
    the rate: the stream's states fill frame by frame. Chosen by ``benchmarks/teach.py
    --cold-start`` (at 5 fps, the first scores 2.2 s after a start, 1.8 s with 2 s examples)."""

    skip: int = 6  # the large first frames of a fresh stream, which show the room (1.2 s)
    frames: int | None = 6  # then 1.2 s of the action


WARM_UP = WarmUp()
FULL_WINDOW = WarmUp(skip=0, frames=None)  # no score until the window is full (before)


def taught_window(library: Library, fps: float, default: int) -> int:
    """The window in frames at ``fps``: the median length of the examples lessons taught (not
    ``other``'s, nor the events corrections made examples of, whose length is an event's), within
    the lengths a lesson may have; ``default`` when there are none."""
    seconds = [e.seconds for name, examples in library.actions.items() if name != OTHER for e in examples if e.event is None]
    if not seconds:
        return default
    median = min(max(float(np.median(seconds)), MIN_TEACH_SECONDS), MAX_TEACH_SECONDS)
    return max(1, round(median * fps))


def mean_of(frames: deque[np.ndarray]) -> np.ndarray:
    """The mean of frames' features, summed in float64 (nothing drifts), as float32."""
    return np.add.reduce(np.asarray(frames), axis=0, dtype=np.float64).astype(np.float32) / np.float32(len(frames))


class TaughtScorer:
    """Scores frames against the actions the ``keeper`` holds; a new library (taught, corrected
    or changed by another process) is compiled in the keeper's thread and used from the next
    frame on, so the model's thread never reads a file.

    ``window`` is the frames compared with the examples (None: :func:`taught_window` of each
    library at ``fps``, ``default_window`` when nothing is taught yet); ``warm_up`` (None: none)
    how a fresh stream starts; ``short_window`` (None: off) cuts the window on a confirmed switch.
    Only the model's per-frame features are read (``frame_features``)."""

    def __init__(
        self,
        keeper: LibraryKeeper,
        unknown_at: float = UNKNOWN_AT,
        sharpness: float = SHARPNESS,
        window: int | None = None,
        fps: float = 5.0,
        default_window: int | None = None,
        warm_up: WarmUp | None = WARM_UP,
        short_window: ShortWindow | None = SHORT_WINDOW,
    ) -> None:
        self.keeper = keeper
        self.unknown_at = unknown_at
        self.sharpness = sharpness
        self.fps = fps
        self.fixed_window = window
        self.default_window = default_window or round(TEACH_SECONDS * fps)
        self.warm_up = warm_up
        self.short_window = short_window
        # Seconds until the first scores after a start or reset (None: scoring).
        self.warming_up: float | None = None
        self._fresh = 0  # frames since the start or reset
        self._warm = warm_up is None
        self._pool: deque[np.ndarray] = deque()
        self._recent: deque[np.ndarray] = deque(maxlen=short_window.short if short_window else 1)
        self._streak = Streak()  # the short window's new action, and for how many frames
        self.use(keeper.current)
        keeper.on_change(self.use)

    @property
    def labels(self) -> list[str]:
        """The taught actions, then ``other`` (when taught), then ``unknown``."""
        return self._compiled[0]

    @property
    def window(self) -> int:
        """The frames compared with the examples, now."""
        return self._compiled[3]

    def use(self, library: Library) -> None:
        """Score with ``library`` from the next frame on (any thread)."""
        names = [name for name in library.actions if name != OTHER]
        if OTHER in library.actions:
            names.append(OTHER)  # "something else" competes like an action, and never makes an event
        rows, starts = [], []
        for name in names:
            starts.append(len(rows))
            rows += [e.vector / max(float(np.linalg.norm(e.vector)), 1e-9) for e in library.actions[name]]
        examples = np.asarray(rows, np.float32).reshape(len(rows), library.model.feature_size)
        window = self.fixed_window or taught_window(library, self.fps, self.default_window)
        self._compiled = ([*names, UNKNOWN], examples, np.asarray(starts, np.intp), window)  # one assignment: atomic

    def reset(self) -> None:
        """The model starts a fresh stream: warm up again."""
        self._pool.clear()
        self._recent.clear()
        self._streak.clear()
        self._fresh, self._warm = 0, self.warm_up is None

    def score(self, logits: np.ndarray, model) -> tuple[list[str], np.ndarray]:
        """The labels and their scores for the window with the model's newest frame (cut first
        if the short window confirms a switch). While warming up, :attr:`warming_up` says how
        long is left and every score is 0."""
        compiled = self._compiled  # one library for the whole frame
        labels, window = compiled[0], compiled[3]
        if self._pool.maxlen != window:  # the examples' length changed: the newest frames stay
            self._pool = deque(self._pool, maxlen=window)
        self._fresh += 1
        skip, needed = self._warm_up_for(window)
        skipped = not self._warm and self._fresh <= skip
        if not skipped:
            frame = np.array(model.frame_features(), np.float32)
            self._pool.append(frame)
            self._recent.append(frame)  # the short window watches the warm-up too: a switch then is a switch
        if not self._warm:
            if skipped or len(self._pool) < needed:
                self.warming_up = (skip + needed - self._fresh) / self.fps
                return labels, np.zeros(len(labels), np.float32)
            self._warm = True
        self.warming_up = None
        if len(labels) == 1:
            return labels, np.ones(1, np.float32)  # only "unknown"
        scores = self._scores(compiled, self._pooled())
        if self.short_window and self._switched(compiled, scores):
            while len(self._pool) > self.short_window.keep:
                self._pool.popleft()
            scores = self._scores(compiled, self._pooled())
        return labels, scores

    def _warm_up_for(self, window: int) -> tuple[int, int]:
        """The frames never pooled after a start, then the frames pooled before the first score:
        a short window that fills no later than the warm-up would end is simply waited for."""
        p = self.warm_up
        if p is None or p.frames is None or p.skip + p.frames >= window:
            return 0, window
        return p.skip, p.frames

    def _pooled(self) -> np.ndarray:
        """The window's mean features: float32 frames summed afresh in float64, as the model pools them."""
        return mean_of(self._pool)

    def _scores(self, compiled: tuple, features: np.ndarray) -> np.ndarray:
        """Each action's score (its best example's cosine similarity, made relative), then unknown's."""
        _, examples, starts, _ = compiled
        norm = float(np.linalg.norm(features))
        similarity = examples @ (features / norm) if norm > 0 else np.zeros(len(examples), np.float32)
        best = np.maximum.reduceat(similarity, starts)
        return softmax(np.append(best, self.unknown_at) / self.sharpness)

    def _switched(self, compiled: tuple, scores: np.ndarray) -> bool:
        """Whether the short window (the last frames, this one's included) has confirmed a switch."""
        p, labels = self.short_window, compiled[0]
        if len(self._recent) < p.short:
            return False
        short = self._scores(compiled, mean_of(self._recent))
        challenger = challenger_over(int(np.argmax(scores)), short, p.confirm, p.old)
        if challenger is not None and labels[challenger] == UNKNOWN:  # "nothing I know" is not an action to switch to
            challenger = None
        if self._streak.see(None if challenger is None else labels[challenger]) < p.hold:
            return False
        self._streak.clear()
        return True
