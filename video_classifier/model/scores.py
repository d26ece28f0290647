"""Scores from logits: softmax and the best k."""

from __future__ import annotations

import numpy as np


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
