"""Labels plus a stateful stream model: frames in, top-k actions out."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from video_classifier.data import Category, Prediction
from video_classifier.errors import UserError
from video_classifier.labels import load_labels
from video_classifier.scores import softmax, top_k


class StreamModel(Protocol):
    """A model that sees one frame at a time and remembers the ones before (a MoViNet stream,
    :class:`~video_classifier.movinet.MovinetStream`, is one)."""

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


class ActionClassifier:
    """Names the actions a :class:`StreamModel` sees.

    ``scores`` of the last prediction are kept so that the display can draw them again
    without recomputing.
    """

    def __init__(self, model: StreamModel, labels: list[str], k: int = 3, smoothing: float = 0.0) -> None:
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
        """Load a MoViNet stream model and its labels (see :func:`load_labels` for where labels come from)."""
        from video_classifier.movinet import MovinetStream

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
