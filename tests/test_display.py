"""Finding the display to open the window on, as over SSH."""

import pytest

from video_classifier.display.screen import display_candidates, find_display, xauthority_candidates
from video_classifier.errors import DisplayError


def test_over_ssh_the_local_desktop_comes_before_the_forwarded_display():
    assert display_candidates(None, {"DISPLAY": "localhost:10.0"}) == [":0", "localhost:10.0"]


def test_without_display_the_hdmi_desktop_is_tried():
    assert display_candidates(None, {}) == [":0"]


def test_a_local_display_is_used_first_and_an_explicit_one_alone():
    assert display_candidates(None, {"DISPLAY": ":1"}) == [":1", ":0"]
    assert display_candidates(":5", {"DISPLAY": ":1"}) == [":5"]


def test_a_desktop_users_cookie_is_found(tmp_path):
    cookie = tmp_path / "cookie"
    cookie.write_bytes(b"x")
    assert xauthority_candidates({"XAUTHORITY": str(cookie)})[0] == str(cookie)


def test_a_running_x_server_is_found(xvfb):
    display, _ = find_display(None, {"DISPLAY": xvfb})
    assert display == xvfb


def test_no_server_is_a_display_error():
    with pytest.raises(DisplayError, match="tried :63.*--no-display"):
        find_display(":63", {})
