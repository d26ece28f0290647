"""Recognition of taught actions: the stream model's pooled features compared with the examples.

Each taught action's similarity is the best cosine similarity between the current window's
pooled features and one of its examples. Similarities are absolute (two different actions in
one room are still fairly alike), so the scores are made relative: a softmax over the actions'
similarities and a reserved ``unknown`` whose similarity is fixed at ``unknown_at``. Scores are
in [0, 1] and sum to 1, like Kinetics probabilities, so ``--threshold``, events, MQTT and clips
work unchanged; ``unknown`` wins when nothing taught is close enough, and until the window is full
after a start or reset. ``other`` ("something else") is scored like a taught action and is
taught by corrections.
``benchmarks/teach.py`` measured the defaults.
"""

from __future__ import annotations

import numpy as np

from video_classifier.action_library import OTHER, UNKNOWN, Library
from video_classifier.library_keeper import LibraryKeeper
from video_classifier.scores import softmax

UNKNOWN_AT = 0.5  # cosine similarity at which a taught action and "unknown" are even
SHARPNESS = 0.04  # softmax temperature over similarities: a 0.1 lead is a factor of e^2.5


class TaughtScorer:
    """Scores frames against the actions the ``keeper`` holds; a new library (taught, corrected
    or changed by another process) is compiled in the keeper's thread and used from the next
    frame on, so the model's thread never reads a file."""

    def __init__(
        self, keeper: LibraryKeeper, unknown_at: float = UNKNOWN_AT, sharpness: float = SHARPNESS, warm_up: int = 0
    ) -> None:
        self.keeper = keeper
        self.unknown_at = unknown_at
        self.sharpness = sharpness
        # Frames after a start or reset that read "unknown": until the window is full, the first
        # frames of a fresh stream (which show the room more than the motion) weigh too much.
        self.warm_up = warm_up
        self._frames = 0
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

    def score(self, logits: np.ndarray, model) -> tuple[list[str], np.ndarray]:
        """The labels and their scores for the model's current window."""
        labels, examples, starts = self._compiled
        self._frames += 1
        if len(labels) == 1 or self._frames < self.warm_up:
            return labels, np.eye(1, len(labels), len(labels) - 1, dtype=np.float32)[0]  # all "unknown"
        features = model.pooled_features()
        norm = float(np.linalg.norm(features))
        similarity = examples @ (features / norm) if norm > 0 else np.zeros(len(examples), np.float32)
        best = np.maximum.reduceat(similarity, starts)
        return labels, softmax(np.append(best, self.unknown_at) / self.sharpness)
