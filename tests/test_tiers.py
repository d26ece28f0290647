"""The two tiers (tests/tiers.py): what makes a test slow is found in its code, and a test left in
the fast tier cannot start a slow program anyway."""

from __future__ import annotations

import subprocess

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
