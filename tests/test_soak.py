"""Short soaks catch leaks (the hour-long run is benchmarks/soak.py, run here as a user would).
Memory is sampled while the app runs, after warm-up and at the last frame; growth measured here:
0.0-0.3 MB plain, about 0.5 MB with everything on, over 1,000 frames."""

import json
import subprocess
import sys

import pytest
from conftest import A0, KINETICS_LABELS, ROOT, media_path, model_path

GROWTH_LIMIT_MB = 2.0


def soak(tmp_path, frames: int, warmup: int, *flags: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    """``benchmarks/soak.py`` on the looped Pi-camera clip; its result and JSON row."""
    out = tmp_path / "soak.json"
    command = [sys.executable, "-m", "benchmarks.soak", "--frames", str(frames), "--warmup", str(warmup)]
    command += ["--clip", str(media_path("carving_ice_rpi.mp4")), "--model", str(model_path(A0))]
    command += ["--labels", str(model_path(KINETICS_LABELS)), "--json", str(out), *flags]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return done, json.loads(out.read_text()) if out.exists() else None


@pytest.mark.slow  # 2500 model frames
def test_2500_model_frames_leak_no_memory_or_descriptors(tmp_path):
    done, row = soak(tmp_path, 2500, 300)
    assert done.returncode == 0, done.stderr
    assert row["model_frames"] == 2500
    assert row["log_lines"] >= 2500  # every prediction was logged (plus events)
    assert row["fds_end"] <= row["fds_warm"]
    assert row["rss_growth_mb"] < GROWTH_LIMIT_MB


def test_with_the_live_view_watched_clips_and_mqtt_nothing_leaks_either(tmp_path, broker):
    done, row = soak(tmp_path, 2000, 300, "--everything", "--mqtt-port", str(broker.port))
    assert done.returncode == 0, done.stderr
    assert row["model_frames"] == 2000 and row["stream_pictures"] > 1000  # the viewer really read the stream
    assert row["fds_end"] <= row["fds_warm"]
    assert row["rss_growth_mb"] < GROWTH_LIMIT_MB


def test_a_missed_warm_up_sample_is_an_error(tmp_path):
    done, row = soak(tmp_path, 50, 100)
    assert done.returncode == 1 and row is None
    assert done.stderr.strip().splitlines()[-1] == "error: the soak missed its warm sample: run more than 100 frames"
