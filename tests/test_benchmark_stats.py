import pytest

from benchmarks.stats import fps_from_ms, markdown_table, summarize_ms
from utils.rates import RateMeter


def test_percentiles_of_a_known_series():
    stats = summarize_ms(list(range(1, 101)))
    assert stats == {"p50": 50.5, "p95": 95.05, "mean": 50.5}


def test_one_outlier_moves_p95_not_p50():
    stats = summarize_ms([2.0] * 99 + [100.0])
    assert stats["p50"] == 2.0 and stats["p95"] == 2.0 and stats["mean"] == pytest.approx(2.98)


def test_no_samples_is_an_error():
    with pytest.raises(ValueError):
        summarize_ms([])


def test_fps_from_latency():
    assert fps_from_ms(4.0) == 250.0


def test_rate_meter_counts_over_its_window_not_one_interval():
    meter = RateMeter(window_s=2.0)
    for i in range(31):  # 30 intervals of 1/30 s, one of them late
        meter.tick(i / 30 + (0.02 if i == 15 else 0))
    assert meter.rate(1.0) == pytest.approx(30.0)
    assert meter.rate(10.0) == 0.0  # all events left the window


def test_markdown_table_layout():
    table = markdown_table([{"a": 1, "b": "x"}], [("a", "A"), ("b", "B")])
    assert table.splitlines() == ["| A | B |", "|---|---|", "| 1 | x |"]
