"""Labels plus a stateful stream model: frames in, top-k actions out."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from video_classifier.data import Category
from video_classifier.errors import UserError
from video_classifier.model.scores import softmax, top_k


class StreamModel(Protocol):
    """A model that sees one frame at a time and remembers the ones before (a MoViNet stream,
    :class:`~video_classifier.model.movinet.MovinetStream`, is one)."""

    path: Path
    input_size: tuple[int, int]  # (width, height) of the model's frames
    num_classes: int

    def timed_step(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """Feed the next BGR frame; its logits and the model's own time in ms."""
        ...

    def reset(self) -> None:
        """Forget every frame seen so far."""
        ...

    def pooled_features(self) -> np.ndarray:
        """The features the last logits were computed from, pooled over the remembered frames."""
        ...

    def frame_features(self) -> np.ndarray:
        """The last frame's own share of the pooled features."""
        ...

    def cut_window(self, keep: int) -> None:
        """Forget all but the last ``keep`` remembered frames."""
        ...


class Scorer(Protocol):
    """Turns one model step into a score per label (the labels may change between calls). A
    scorer that needs a few frames after a reset before it can name anything may say how many
    seconds are left in a ``warming_up`` attribute (None when it scores)."""

    labels: list[str]  # the labels as they are now

    def score(self, logits: np.ndarray, model: StreamModel) -> tuple[list[str], np.ndarray]: ...

    def reset(self) -> None:
        """The model starts a fresh stream."""
        ...


class ModelClasses:
    """The model's own classes: the softmax of its logits."""

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels

    def score(self, logits: np.ndarray, model: StreamModel) -> tuple[list[str], np.ndarray]:
        return self.labels, softmax(logits)

    def reset(self) -> None:
        pass


class ActionClassifier:
    """Names the actions a :class:`StreamModel` sees: its own classes (``labels``), or whatever
    ``scorer`` makes of each step (the taught actions of ``--actions``).

    With ``keep_features`` each step's frame features are kept in :attr:`features`, for teaching.
    """

    def __init__(
        self,
        model: StreamModel,
        labels: list[str] | None = None,
        k: int = 3,
        smoothing: float = 0.0,
        scorer: Scorer | None = None,
        keep_features: bool = False,
    ) -> None:
        if scorer is None:
            if labels is None or len(labels) != model.num_classes:
                raise UserError(f"{len(labels or [])} labels for a model with {model.num_classes} classes")
            if not 1 <= k <= len(labels):
                raise UserError(f"--top-k must be between 1 and {len(labels)} (the model's classes), got {k}")
            scorer = ModelClasses(labels)
        if not 0.0 <= smoothing < 1.0:
            raise UserError(f"--smooth must be from 0 (off) to below 1, got {smoothing}")
        self.model = model
        self.scorer = scorer
        self.labels = scorer.labels
        self.k = k
        # Exponential smoothing of the scores: weight of the past (0 = off).
        self.smoothing = smoothing
        self._smoothed: np.ndarray | None = None
        self.keep_features = keep_features
        self.features: np.ndarray | None = None  # the last step's frame features, with keep_features
        # Seconds until the scorer names anything after a start or reset (None: it does now).
        self.warming_up: float | None = None

    def scores(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """Class probabilities after feeding ``frame``, and the model's time in ms."""
        logits, ms = self.model.timed_step(frame)
        labels, probabilities = self.scorer.score(logits, self.model)
        if labels is not self.labels:  # the taught actions changed: what was smoothed no longer fits
            self.labels, self._smoothed = labels, None
        if self.keep_features:
            self.features = self.model.frame_features()
        self.warming_up = getattr(self.scorer, "warming_up", None)
        if self.warming_up is not None:  # no scores yet: nothing to smooth
            self._smoothed = None
            return probabilities, ms
        if self.smoothing:
            if self._smoothed is not None:
                probabilities = self.smoothing * self._smoothed + (1.0 - self.smoothing) * probabilities
            self._smoothed = probabilities
        return probabilities, ms

    def top(self, probabilities: np.ndarray) -> list[Category]:
        """The ``k`` most likely actions (none while warming up)."""
        if self.warming_up is not None:
            return []
        return [Category(self.labels[i], s) for i, s in top_k(probabilities, self.k)]

    def reset(self) -> None:
        """Start a fresh stream (see :meth:`MovinetStream.reset`)."""
        self.model.reset()
        self.scorer.reset()
        self._smoothed = None
        self.warming_up = None
