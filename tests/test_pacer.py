import pytest

from video_classifier.pacer import Pacer


def taken(timestamps, fps=5.0):
    pacer = Pacer(fps)
    return [t for t in timestamps if pacer.take(t)]


@pytest.mark.parametrize("source_fps", [10, 24, 25, 29.97, 30, 60])
def test_any_source_rate_gives_frames_every_200_ms(source_fps):
    times = [i / source_fps for i in range(int(source_fps * 10))]
    picked = taken(times)
    gaps = [b - a for a, b in zip(picked, picked[1:])]
    assert 49 <= len(picked) <= 51
    assert all(abs(g - 0.2) <= 0.2 * 0.1 + 1 / source_fps for g in gaps)
    assert abs(sum(gaps) / len(gaps) - 0.2) < 0.005  # no drift


def test_30_and_60_fps_copies_pick_the_same_moments():
    at30 = taken([i / 30 for i in range(300)])
    at60 = taken([i / 60 for i in range(600)])
    assert len(at30) == len(at60)
    assert max(abs(a - b) for a, b in zip(at30, at60)) < 1 / 30


def test_a_gap_restarts_the_schedule_instead_of_bursting():
    picked = taken([0.0, 0.2, 0.4, 3.0, 3.0333, 3.0667, 3.2, 3.4])
    assert picked == [0.0, 0.2, 0.4, 3.0, 3.2, 3.4]


def test_a_clock_that_goes_back_starts_over():
    picked = taken([0.0, 0.2, 0.4, 0.6, 0.0, 0.1, 0.2])
    assert picked == [0.0, 0.2, 0.4, 0.6, 0.0, 0.2]


def test_fps_must_be_positive():
    with pytest.raises(ValueError):
        Pacer(0)
