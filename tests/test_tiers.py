"""The two tiers (tests/tiers.py): what makes a test slow is found in its code, and a test left in
the fast tier cannot start a slow program anyway."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import tier_samples
from tiers import slow_because


@pytest.mark.parametrize(
    ("sample", "need"),
    [
        (tier_samples.starts_a_broker, "a broker (mosquitto)"),  # a helper of the suite that starts it
        (tier_samples.through_another_helper, "a broker (mosquitto)"),  # ... called by another
        (tier_samples.opens_a_browser, "a browser (Chromium)"),  # the program's name
        (tier_samples.runs_home_assistant, "Home Assistant"),  # a path to the program
        (tier_samples.serves_rtsp, "GStreamer (the RTSP test server)"),  # the server's script, by its path
        (tier_samples.plays_the_live_view, "the app in real time (the live view on the picamera2 stand-in)"),
        (tier_samples.Screen, "an X server"),  # a class of the suite, by its methods
        (tier_samples.in_a_lambda, "a broker (mosquitto)"),  # code nested in a function
        (tier_samples.runs_the_app_on_a_file, None),  # the app faster than real time: fast
    ],
)
def test_what_a_test_needs_is_found_in_its_code_and_in_the_suites_code_it_uses(sample, need):
    assert slow_because(sample) == need


def test_a_fast_test_that_starts_a_slow_program_fails_saying_to_mark_it(request):
    assert request.node.get_closest_marker("slow") is None  # this test is in the fast tier
    with pytest.raises(pytest.fail.Exception, match=r"starts mosquitto \(a broker \(mosquitto\)\) but is not marked slow"):
        subprocess.Popen(["/nonexistent/bin/mosquitto", "-c", "/dev/null"])  # refused before it is looked for


def test_a_clips_folder_that_is_not_there_stops_the_run_instead_of_skipping_its_tests(tmp_path):
    """`MOVINET_MEDIA=../shared/media` typed in a clone elsewhere: a third of the tests skipped
    and the run passed."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MOVINET_MODELS")}  # outside CI: a missing clip only skips
    env["MOVINET_MEDIA"] = "../nowhere/media"
    tests = os.path.dirname(__file__)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", os.path.join(tests, "test_pacer.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert f"MOVINET_MEDIA=../nowhere/media: no such folder (from {tmp_path})" in done.stdout + done.stderr
