"""What a --camera string names, and an IP camera's URL as it may be shown (no login, no query)."""

import pytest

from video_classifier.camera_url import host_and_port, is_camera, is_network, redacted, scrub


@pytest.mark.parametrize(
    "spec, network, camera",
    [
        ("rtsp://127.0.0.1:9/x", True, True),
        ("RTSPS://cam.local/stream", True, True),
        ("http://cam/video.mjpg", True, True),
        ("https://cam/live/index.m3u8", True, True),
        ("picamera2", False, True),
        ("0", False, True),
        ("clips/rtsp:/127.0.0.1:9/x.mp4", False, False),  # a file whose path looks like a URL
        ("file://clip.mp4", False, False),
        ("clip.mp4", False, False),
    ],
)
def test_what_a_camera_string_names(spec, network, camera):
    assert is_network(spec) is network
    assert is_camera(spec) is camera


@pytest.mark.parametrize(
    "url, shown",
    [
        ("rtsp://alice:s3cr%40t@192.168.1.20:554/stream1", "rtsp://192.168.1.20:554/stream1"),
        ("rtsp://alice@cam.local/live", "rtsp://cam.local/live"),
        ("http://cam/video.cgi?user=alice&pwd=s3cret", "http://cam/video.cgi?..."),
        ("rtsp://bob:pw@[fe80::1]:8554/x", "rtsp://[fe80::1]:8554/x"),
        ("rtsp://user:p@ss@host/x", "rtsp://host/x"),  # an unescaped @ in the password
    ],
)
def test_a_shown_url_has_no_login_and_no_query(url, shown):
    assert redacted(url) == shown


def test_library_messages_are_scrubbed_of_every_secret():
    url = "rtsp://alice:s3cr%40t@cam/x?token=abcdef"
    text = "could not open rtsp://alice:s3cr%40t@cam/x?token=abcdef (s3cr@t)"
    scrubbed = scrub(text, url)
    assert "s3cr" not in scrubbed and "abcdef" not in scrubbed and "alice" not in scrubbed


def test_the_port_is_the_schemes_default_unless_given():
    assert host_and_port("rtsp://cam/x") == ("cam", 554)
    assert host_and_port("rtsps://cam/x") == ("cam", 322)
    assert host_and_port("http://u:p@cam:8080/x") == ("cam", 8080)
