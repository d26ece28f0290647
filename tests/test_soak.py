"""A short soak catches gross leaks (the hour-long run is benchmarks/soak.py)."""

from conftest import A0, KINETICS_LABELS, media_path, model_path


def test_a_thousand_model_frames_leak_no_memory_or_descriptors():
    import benchmarks.soak as soak

    model, labels = model_path(A0), model_path(KINETICS_LABELS)
    row = soak.soak(1000, media_path("carving_ice_rpi.mp4"), warmup=200, model=model, labels=labels)
    assert row["error"] is None
    assert row["model_frames"] == 1000
    assert row["log_lines"] >= 1000  # every prediction was logged (plus events)
    assert row["fds_end"] <= row["fds_warm"]
    assert row["rss_growth_mb"] < 10
