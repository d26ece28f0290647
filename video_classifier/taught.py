"""Recognition of taught actions: the stream model's pooled features compared with the examples.

Each taught action's similarity is the best cosine similarity between the current window's
pooled features and one of its examples. Similarities are absolute (two different actions in
one room are still fairly alike), so the scores are made relative: a softmax over the actions'
similarities and a reserved ``unknown`` whose similarity is fixed at ``unknown_at``. Scores are
in [0, 1] and sum to 1, like Kinetics probabilities, so ``--threshold``, events, MQTT and clips
work unchanged; ``unknown`` wins when nothing taught is close enough.
``benchmarks/teach.py`` measured the defaults.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from video_classifier.action_library import UNKNOWN, ActionLibrary, LibraryError
from video_classifier.scores import softmax

log = logging.getLogger("teach")

UNKNOWN_AT = 0.5  # cosine similarity at which a taught action and "unknown" are even
SHARPNESS = 0.04  # softmax temperature over similarities: a 0.1 lead is a factor of e^2.5


class TaughtScorer:
    """Scores frames against the actions in ``library``; sees changes to the file within
    ``check_every_s`` (another process teaching) or at once after :meth:`invalidate`."""

    def __init__(
        self,
        library: ActionLibrary,
        unknown_at: float = UNKNOWN_AT,
        sharpness: float = SHARPNESS,
        check_every_s: float = 1.0,
        clock=time.monotonic,
    ) -> None:
        self.library = library
        self.unknown_at = unknown_at
        self.sharpness = sharpness
        self.check_every_s = check_every_s
        self._clock = clock
        self._stale = threading.Event()
        self._checked_at = clock()
        self._stamp = library.stamp()
        self._use(library.read())  # a bad file is an error at start

    @property
    def labels(self) -> list[str]:
        """The taught actions, then ``unknown``."""
        return self._labels

    def invalidate(self) -> None:
        """The library changed (from any thread): the next frame is scored with the new one."""
        self._stale.set()

    def _use(self, library) -> None:
        names, rows, starts = [], [], []
        for name, examples in library.actions.items():
            starts.append(len(rows))
            names.append(name)
            rows += [e.vector / max(float(np.linalg.norm(e.vector)), 1e-9) for e in examples]
        self._examples = np.asarray(rows, np.float32).reshape(len(rows), library.model.feature_size)
        self._starts = np.asarray(starts, np.intp)
        self._labels = [*names, UNKNOWN]

    def _refresh(self) -> None:
        now = self._clock()
        if not self._stale.is_set() and now - self._checked_at < self.check_every_s:
            return
        self._checked_at = now
        stamp = self.library.stamp()
        if not self._stale.is_set() and stamp == self._stamp:
            return
        self._stale.clear()
        self._stamp = stamp
        try:
            self._use(self.library.read())
        except LibraryError as exc:  # someone else damaged it mid-run: keep recognising what was taught
            log.warning("%s; still using the actions loaded before", exc)

    def score(self, logits: np.ndarray, model) -> tuple[list[str], np.ndarray]:
        """The labels and their scores for the model's current window."""
        self._refresh()
        labels = self._labels
        if len(labels) == 1:
            return labels, np.ones(1, np.float32)
        features = model.pooled_features()
        norm = float(np.linalg.norm(features))
        similarity = self._examples @ (features / norm) if norm > 0 else np.zeros(len(self._examples), np.float32)
        best = np.maximum.reduceat(similarity, self._starts)
        return labels, softmax(np.append(best, self.unknown_at) / self.sharpness)
