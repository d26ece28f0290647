"""Labels plus a stateful MoViNet stream: frames in, top-k actions out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from video_classifier.errors import UserError
from video_classifier.labels import load_labels
from video_classifier.movinet import MovinetStream
from video_classifier.results import Category, Prediction, softmax, top_k


class ActionClassifier:
    """Names the actions a :class:`MovinetStream` sees.

    ``scores`` of the last prediction are kept so that the display can draw them again
    without recomputing.
    """

    def __init__(self, model: MovinetStream, labels: list[str], k: int = 3, smoothing: float = 0.0) -> None:
        if len(labels) != model.num_classes:
            raise UserError(f"{len(labels)} labels for a model with {model.num_classes} classes")
        if not 1 <= k <= len(labels):
            raise UserError(f"--top-k must be between 1 and {len(labels)} (the model's classes), got {k}")
        if not 0.0 <= smoothing < 1.0:
            raise UserError(f"--smooth must be from 0 (off) to below 1, got {smoothing}")
        self.model = model
        self.labels = labels
        self.k = k
        # Exponential smoothing of the scores: weight of the past (0 = off).
        self.smoothing = smoothing
        self._smoothed: np.ndarray | None = None

    @classmethod
    def open(
        cls,
        model_path: str | Path,
        labels_path: str | Path | None = None,
        default_labels: str | Path | None = None,
        k: int = 3,
        smoothing: float = 0.0,
        **model_options,
    ) -> ActionClassifier:
        """Load the model and its labels (see :func:`load_labels` for where labels come from)."""
        model = MovinetStream(model_path, **model_options)
        labels = load_labels(model_path, labels_path, model.num_classes, default_labels)
        return cls(model, labels, k, smoothing)

    def scores(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """Class probabilities after feeding ``frame``, and the model's time in ms."""
        logits, ms = self.model.timed_step(frame)
        probabilities = softmax(logits)
        if self.smoothing:
            if self._smoothed is not None:
                probabilities = self.smoothing * self._smoothed + (1.0 - self.smoothing) * probabilities
            self._smoothed = probabilities
        return probabilities, ms

    def top(self, probabilities: np.ndarray) -> list[Category]:
        """The ``k`` most likely actions."""
        return [Category(self.labels[i], s) for i, s in top_k(probabilities, self.k)]

    def classify(self, frame: np.ndarray, index: int = 0, time_s: float = 0.0) -> Prediction:
        """Feed one frame and name the top-k actions."""
        probabilities, ms = self.scores(frame)
        return Prediction(index, time_s, self.top(probabilities), ms)

    def reset(self) -> None:
        """Start a fresh stream (see :meth:`MovinetStream.reset`)."""
        self.model.reset()
        self._smoothed = None
