"""The rate meter behind the overlay's FPS figures."""

import pytest

from utils.rates import RateMeter


def test_rate_meter_counts_over_its_window_not_one_interval():
    meter = RateMeter(window_s=2.0)
    for i in range(31):  # 30 intervals of 1/30 s, one of them late
        meter.tick(i / 30 + (0.02 if i == 15 else 0))
    assert meter.rate(1.0) == pytest.approx(30.0)
    assert meter.rate(10.0) == 0.0  # all events left the window
