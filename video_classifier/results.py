"""Scores from logits, and the plain data that flows from the classifier to the sinks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Category:
    """One action and its probability."""

    label: str
    score: float


@dataclass(frozen=True)
class Prediction:
    """The classifier's answer for one model frame."""

    frame: int  # index of the camera/video frame that was classified
    time_s: float  # that frame's capture time, seconds since the source started
    top: list[Category]
    inference_ms: float
    received_at: float = 0.0  # time.monotonic() when the frame left the source, for latency

    def to_json(self) -> dict:
        """The ``--log`` record for this prediction."""
        return {
            "frame": self.frame,
            "time_s": round(self.time_s, 3),
            "top": [{"label": c.label, "score": round(c.score, 5)} for c in self.top],
            "inference_ms": round(self.inference_ms, 2),
        }


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities from logits; subtracting the maximum keeps ``exp`` from overflowing."""
    logits = np.asarray(logits, np.float32)
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def top_k(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best (index, score) pairs, best first, without sorting every class."""
    k = min(k, scores.shape[0])
    best = np.argpartition(scores, -k)[-k:]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(i), float(scores[i])) for i in best]
