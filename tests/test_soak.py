"""Short soaks catch leaks (the hour-long run is benchmarks/soak.py). Memory is sampled while the
app runs, after warm-up and at the last frame; growth measured here: 0.0-0.3 MB plain, about
0.5 MB with everything on, over 1,000 frames."""

import pytest
from conftest import A0, KINETICS_LABELS, media_path, model_path

GROWTH_LIMIT_MB = 2.0


def test_2500_model_frames_leak_no_memory_or_descriptors():
    import benchmarks.soak as soak

    model, labels = model_path(A0), model_path(KINETICS_LABELS)
    row = soak.soak(2500, media_path("carving_ice_rpi.mp4"), warmup=300, model=model, labels=labels)
    assert row["model_frames"] == 2500
    assert row["log_lines"] >= 2500  # every prediction was logged (plus events)
    assert row["fds_end"] <= row["fds_warm"]
    assert row["rss_growth_mb"] < GROWTH_LIMIT_MB


def test_with_the_live_view_watched_clips_and_mqtt_nothing_leaks_either(broker):
    import benchmarks.soak as soak

    model, labels = model_path(A0), model_path(KINETICS_LABELS)
    clip = media_path("carving_ice_rpi.mp4")
    row = soak.soak(2000, clip, warmup=300, model=model, labels=labels, everything=True, mqtt_port=broker.port)
    assert row["model_frames"] == 2000 and row["stream_pictures"] > 1000  # the viewer really read the stream
    assert row["fds_end"] <= row["fds_warm"]
    assert row["rss_growth_mb"] < GROWTH_LIMIT_MB


def test_a_missed_warm_up_sample_is_an_error():
    import benchmarks.soak as soak

    with pytest.raises(RuntimeError, match="missed its warm sample"):
        soak.soak(50, media_path("carving_ice_rpi.mp4"), warmup=100, model=model_path(A0), labels=model_path(KINETICS_LABELS))
