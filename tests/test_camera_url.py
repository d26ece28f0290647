"""What a --camera string names, and an IP camera's URL as it may be shown (scheme, host, port and
the path's names: no login, and no value of a query, fragment or path parameter)."""

import pytest

from video_classifier.sources.camera_url import (
    has_login,
    host_and_port,
    is_camera,
    is_network,
    problem,
    redacted,
    unknown_scheme,
)


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
        # an unescaped /, ? or # in the password ends the host early: no piece of the login is shown
        ("rtsp://bob:12345/678@192.168.1.20:554/stream1", "rtsp://192.168.1.20:554/stream1"),
        ("rtsp://bob:se#cret@cam/x", "rtsp://cam/x"),
        ("rtsp://bob:se?cret@cam/x", "rtsp://cam/x"),
        ("rtsp://bob:pw@[::1/x", "rtsp://?"),  # not a URL Python can split
        # a login in the path (XMEye cameras): every value left out, whatever its key
        (
            "rtsp://192.168.1.10:554/user=admin&password=s3cret&channel=1&stream=0.sdp",
            "rtsp://192.168.1.10:554/user=...&password=...&channel=...&stream=...",
        ),
        ("rtsp://cam/user=admin_password=s3cret_channel=1", "rtsp://cam/user=..."),
        ("rtsp://cam/live;pwd=s3cret;x=1", "rtsp://cam/live;..."),
        ("rtsp://cam/live;apikey=SECRET&pw=SECRET2", "rtsp://cam/live;..."),
        ("rtsp://cam/a;session=SECRET/b/c=SECRET2", "rtsp://cam/a;.../b/c=..."),
        ("rtsp://cam/live%3Bk%3DSECRET/x%3dSECRET2", "rtsp://cam/live;.../x=..."),  # written as %XX
        ("http://cam/video.mjpg#token=SECRET", "http://cam/video.mjpg#..."),
        ("rtsp://cam:8554/Streaming/Channels/101", "rtsp://cam:8554/Streaming/Channels/101"),  # names stay
    ],
)
def test_a_shown_url_has_no_login_and_no_query(url, shown):
    assert redacted(url) == shown


# The names cameras (and their cloud services) really take a login or token under.
KEYS = ["user", "password", "pwd", "pw", "pass", "key", "apikey", "token", "auth", "sig", "Signature", "X-Amz-Credential"]


@pytest.mark.parametrize("key", KEYS)
def test_no_value_in_a_path_parameter_a_path_query_or_fragment_is_shown_whatever_its_key(key):
    secret = "SeCrEt-7x9"
    shown = []
    for place in (f"/live;{key}={secret}", f"/live;x=1&{key}={secret}", f"/{key}={secret}&channel=1", f"/a;{key}={secret}/b"):
        shown.append(redacted(f"rtsp://cam.local:554{place}"))
        shown.append(redacted(f"rtsp://cam.local:554/x?{key}={secret}"))
        shown.append(redacted(f"http://cam.local/x#{key}={secret}"))
        assert has_login(f"rtsp://cam.local:554{place}")
    assert not any(secret in text or secret.lower() in text.lower() for text in shown), shown
    assert all(text.startswith(("rtsp://cam.local:554/", "http://cam.local/x#...")) for text in shown)


def test_a_host_or_path_of_100000_characters_is_cut_short():
    shown = redacted("rtsp://" + "h" * 100_000 + "/" + "p" * 100_000)
    assert shown.startswith("rtsp://hhh") and "/ppp" in shown and len(shown) < 400


def test_the_port_is_the_schemes_default_unless_given():
    assert host_and_port("rtsp://cam/x") == ("cam", 554)
    assert host_and_port("rtsps://cam/x") == ("cam", 322)
    assert host_and_port("http://u:p@cam:8080/x") == ("cam", 8080)


@pytest.mark.parametrize(
    "url, words",
    [
        ("rtsp://bob:12345/678@192.168.1.20/stream1", "an @ comes after the host"),
        ("rtsp://bob:se#cret@cam/x", "%23"),
        ("rtsp://bob:pw@[::1/x", "IPv6 address is written in brackets"),
        ("rtsp:///stream1", "no host"),
        ("rtsp://bob:pw@:554/x", "no host"),
        ("rtsp://bob:pw@cam:99999/x", "not a number from 1 to 65535"),
        ("rtsp://bob:secret", "not a number from 1 to 65535"),  # the host forgotten: "secret" is no port
        ("http://cam:0/x", "not a number from 1 to 65535"),
    ],
)
def test_a_url_that_cannot_work_is_refused_without_quoting_it(url, words):
    why = problem(url)
    assert why is not None and words in why
    assert not any(secret in why for secret in ("bob", "12345", "678", "se#cret", "secret", "pw", "99999"))


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://alice:s3cr%40t%2F1@192.168.1.20:554/stream1",
        "rtsp://user:p@ss w:rd@host/x",  # @, : and a space need no %XX
        "rtsp://[fe80::1]/x",
        "rtsp://[::1]:8554/x",
        "http://cam:/video.mjpg",  # an empty port is the default one
        "http://cam/video.cgi?user=alice&pwd=s3cret",
    ],
)
def test_a_url_that_can_work_is_accepted(url):
    assert problem(url) is None


@pytest.mark.parametrize(
    "spec, scheme",
    [("rstp://u:p@cam/x", "rstp"), ("rtsp:/u:p@cam/x", "rtsp"), ("rtmp://cam/live", "rtmp"), ("rtsp://cam/x", None)]
    + [("clips/rtsp:/127.0.0.1:9/x.mp4", None), ("clip.mp4", None), ("C:/clip.mp4", None)],
)
def test_a_url_of_another_scheme_is_told_apart_from_a_file(spec, scheme):
    assert unknown_scheme(spec) == scheme


@pytest.mark.parametrize(
    "url, login",
    [
        ("rtsp://alice:s3cret@cam/x", True),
        ("http://cam/video.cgi?user=alice&pwd=s3cret", True),
        ("rtsp://cam/user=admin&password=s3cret&channel=1&stream=0.sdp", True),
        ("rtsp://cam/live;apikey=s3cret", True),
        ("http://cam/video.mjpg#token=s3cret", True),
        ("rtsp://cam:554/stream1", False),
        ("RTSP://cam/live", False),
    ],
)
def test_a_url_that_holds_a_login_is_told_apart(url, login):
    assert has_login(url) is login
