import numpy as np

from video_classifier.model.scores import softmax, top_k


def test_softmax_is_stable_for_huge_logits():
    probs = softmax(np.array([1000.0, 1001.0, 999.0], np.float32))
    assert np.all(np.isfinite(probs))
    assert np.isclose(probs.sum(), 1.0)
    assert probs.argmax() == 1


def test_softmax_matches_the_textbook_formula():
    logits = np.random.default_rng(0).normal(size=600).astype(np.float32)
    expected = np.exp(logits.astype(np.float64)) / np.exp(logits.astype(np.float64)).sum()
    assert np.allclose(softmax(logits), expected)


def test_top_k_equals_a_full_sort():
    scores = np.random.default_rng(1).random(600)
    assert [i for i, _ in top_k(scores, 5)] == list(np.argsort(-scores)[:5])


def test_top_k_is_capped_at_the_number_of_classes():
    assert [i for i, _ in top_k(np.array([0.2, 0.5, 0.3]), 10)] == [1, 2, 0]
