"""Recognition of taught actions: the stream model's pooled features compared with the examples.

Each taught action's similarity is the best cosine similarity between the current window's
pooled features and one of its examples. Similarities are absolute (two different actions in
one room are still fairly alike), so the scores are made relative: a softmax over the actions'
similarities and a reserved ``unknown`` whose similarity is fixed at ``unknown_at``. Scores are
in [0, 1] and sum to 1, like Kinetics probabilities, so ``--threshold``, events, MQTT and clips
work unchanged; ``unknown`` wins when nothing taught is close enough, and until the window is full
after a start or reset. ``other`` ("something else") is scored like a taught action and is
taught by corrections.

The window is as long as an example, so after a switch the old action's frames hold it for
seconds. A short window of the last frames, scored the same way, confirms a switch early: when
it names another taught action confidently for long enough, the model's window is cut to its
last frames (mostly from after the switch) and grows back (:class:`ShortWindow`).
``benchmarks/teach.py`` measured the defaults (``--sweep``: the short window's).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from video_classifier.action_library import OTHER, UNKNOWN, Library
from video_classifier.library_keeper import LibraryKeeper
from video_classifier.scores import softmax

UNKNOWN_AT = 0.5  # cosine similarity at which a taught action and "unknown" are even
SHARPNESS = 0.04  # softmax temperature over similarities: a 0.1 lead is a factor of e^2.5


@dataclass(frozen=True)
class ShortWindow:
    """When the short window's best taught action is not the model window's, scores at least
    ``confirm`` there and leaves the window's action at most ``old``, for ``hold`` frames in a
    row, the model's window is cut to its last ``keep`` frames (frames at 5 fps; chosen over
    every switch between taught actions by ``benchmarks/teach.py --sweep``)."""

    short: int = 8  # frames in the short window (1.6 s)
    confirm: float = 0.6
    old: float = 0.2
    hold: int = 1
    keep: int = 10  # 2 s


SHORT_WINDOW = ShortWindow()


class TaughtScorer:
    """Scores frames against the actions the ``keeper`` holds; a new library (taught, corrected
    or changed by another process) is compiled in the keeper's thread and used from the next
    frame on, so the model's thread never reads a file. ``short_window`` (None: off) cuts the
    model's window on a confirmed switch."""

    def __init__(
        self,
        keeper: LibraryKeeper,
        unknown_at: float = UNKNOWN_AT,
        sharpness: float = SHARPNESS,
        warm_up: int = 0,
        short_window: ShortWindow | None = SHORT_WINDOW,
    ) -> None:
        self.keeper = keeper
        self.unknown_at = unknown_at
        self.sharpness = sharpness
        # Frames after a start or reset that read "unknown": until the window is full, the first
        # frames of a fresh stream (which show the room more than the motion) weigh too much.
        self.warm_up = warm_up
        self.short_window = short_window
        self._frames = 0
        self._recent: deque[np.ndarray] = deque(maxlen=short_window.short if short_window else 1)
        self._candidate: str | None = None  # the short window's new action, and for how many frames
        self._held = 0
        self.use(keeper.current)
        keeper.on_change(self.use)

    @property
    def labels(self) -> list[str]:
        """The taught actions, then ``other`` (when taught), then ``unknown``."""
        return self._compiled[0]

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
        self._compiled = ([*names, UNKNOWN], examples, np.asarray(starts, np.intp))  # one assignment: atomic

    def reset(self) -> None:
        """The model starts a fresh stream: warm up again."""
        self._frames = 0
        self._recent.clear()
        self._candidate, self._held = None, 0

    def score(self, logits: np.ndarray, model) -> tuple[list[str], np.ndarray]:
        """The labels and their scores for the model's current window (cut first if the short
        window confirms a switch: the model's ``cut_window``)."""
        compiled = self._compiled  # one library for the whole frame
        labels = compiled[0]
        self._frames += 1
        if len(labels) == 1:
            return labels, np.ones(1, np.float32)  # only "unknown"
        scores = self._scores(compiled, model.pooled_features())
        # The short window watches during the warm-up too: a switch then is a switch.
        if self.short_window and self._switched(compiled, scores, model.frame_features()):
            model.cut_window(self.short_window.keep)
            scores = self._scores(compiled, model.pooled_features())
        if self._frames < self.warm_up:
            return labels, np.eye(1, len(labels), len(labels) - 1, dtype=np.float32)[0]  # all "unknown"
        return labels, scores

    def _scores(self, compiled: tuple, features: np.ndarray) -> np.ndarray:
        """Each action's score (its best example's cosine similarity, made relative), then unknown's."""
        _, examples, starts = compiled
        norm = float(np.linalg.norm(features))
        similarity = examples @ (features / norm) if norm > 0 else np.zeros(len(examples), np.float32)
        best = np.maximum.reduceat(similarity, starts)
        return softmax(np.append(best, self.unknown_at) / self.sharpness)

    def _switched(self, compiled: tuple, scores: np.ndarray, frame: np.ndarray) -> bool:
        """Whether the short window, with this frame's own features, has confirmed a switch."""
        p, labels = self.short_window, compiled[0]
        self._recent.append(np.array(frame, np.float32))
        if len(self._recent) < p.short:
            return False
        short = self._scores(compiled, np.mean(self._recent, axis=0, dtype=np.float64).astype(np.float32))
        leader, challenger = int(np.argmax(scores)), int(np.argmax(short))
        changed = (
            challenger != leader
            and labels[challenger] != UNKNOWN  # "nothing I know" is not an action to switch to
            and short[challenger] >= p.confirm
            and short[leader] <= p.old
        )
        self._held = (self._held + 1 if labels[challenger] == self._candidate else 1) if changed else 0
        self._candidate = labels[challenger] if changed else None
        if self._held < p.hold:
            return False
        self._candidate, self._held = None, 0
        return True
