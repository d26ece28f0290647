"""The IP camera test servers themselves, read by OpenCV's FFmpeg backend as the app reads a camera."""

from __future__ import annotations

import time

import cv2
import pytest
from conftest import media_path
from ip_cameras import RtspServer, udp_sockets

from tests.support.frame_stamp import read_stamp
from tests.support.mjpeg_camera import MjpegServer

CLIP = "carving_ice.mp4"  # 360x360, 30 fps
USER, PASSWORD = "alice", "s3cret"
TIMEOUTS = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10000]


@pytest.fixture(autouse=True)
def rtsp_over_tcp(monkeypatch):
    """RTSP over TCP (interleaved), as the app asks for it; OpenCV reads this at each open."""
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")


@pytest.fixture(scope="module")
def rtsp_camera():
    with RtspServer(media_path(CLIP), user=USER, password=PASSWORD, stamp=True, width=320, height=240) as camera:
        yield camera


def read_frames(url: str, count: int) -> list[tuple[float, object]]:
    """(wall time just after the read, frame) for the first ``count`` frames from ``url``."""
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, TIMEOUTS)
    try:
        assert capture.isOpened(), f"cannot open {url}"
        frames = []
        for _ in range(count):
            ok, frame = capture.read()
            assert ok, f"no frame {len(frames)} from {url}"
            frames.append((time.time(), frame))
        return frames
    finally:
        capture.release()


def opens(url: str) -> bool:
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, TIMEOUTS)
    opened = capture.isOpened()
    capture.release()
    return opened


def check_stamps(frames: list[tuple[float, object]], fps: float) -> None:
    """Each frame carries a send time, before it was read and at most 2 s before; they come at ``fps``."""
    stamps = [read_stamp(frame) for _, frame in frames]
    assert None not in stamps
    assert all(0 <= read * 1000 - sent < 2000 for (read, _), sent in zip(frames, stamps))
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert min(gaps) > 0
    assert (stamps[-1] - stamps[0]) / len(gaps) == pytest.approx(1000 / fps, rel=0.2)  # real time, not faster


def test_rtsp_with_the_password_gives_stamped_frames_in_real_time(rtsp_camera):
    frames = read_frames(rtsp_camera.url(USER, PASSWORD), 30)
    assert {frame.shape for _, frame in frames} == {(240, 320, 3)}
    check_stamps(frames, fps=30)


def test_rtsp_with_a_wrong_or_no_password_does_not_open(rtsp_camera):
    assert not opens(rtsp_camera.url(USER, "wrong"))
    assert not opens(rtsp_camera.url())


def test_rtsp_over_udp(rtsp_camera, monkeypatch):
    # With the variable set at all, this OpenCV asks for TCP; without it, FFmpeg tries UDP first.
    monkeypatch.delenv("OPENCV_FFMPEG_CAPTURE_OPTIONS")
    capture = cv2.VideoCapture(rtsp_camera.url(USER, PASSWORD), cv2.CAP_FFMPEG, TIMEOUTS)
    try:
        ok, frame = capture.read()
        assert ok and frame.shape == (240, 320, 3)
        assert udp_sockets() >= 2  # RTP and RTCP
    finally:
        capture.release()


def test_rtsp_server_restarts_on_the_same_port():
    with RtspServer(media_path(CLIP)) as camera:
        url = camera.url()
        assert read_frames(url, 1)
        camera.stop()
        assert not opens(url)
        camera.start()  # at once: the port is free again although clients were connected
        assert camera.url() == url
        assert read_frames(url, 1)


def test_mjpeg_gives_stamped_frames_with_the_password_only():
    with MjpegServer(media_path(CLIP), user=USER, password=PASSWORD, size=(320, 240), stamp=True) as camera:
        frames = read_frames(camera.url(USER, PASSWORD), 15)
        assert {frame.shape for _, frame in frames} == {(240, 320, 3)}
        check_stamps(frames, fps=30)
        assert not opens(camera.url(USER, "wrong"))
        assert not opens(camera.url())


def test_mjpeg_server_restarts_on_the_same_port():
    with MjpegServer(media_path(CLIP)) as camera:
        url = camera.url()
        assert read_frames(url, 1)
        camera.stop()
        assert not opens(url)
        camera.start()
        assert camera.url() == url
        assert read_frames(url, 1)


@pytest.mark.parametrize(
    "clip, size",
    [
        ("arm_wrestling_mmaction2_demo.mp4", (426, 256)),  # H.264 High profile, non-square pixels: 427 wide, made even
        ("apply_eye_makeup_mmaction2_test.avi", (320, 240)),  # MPEG-4 part 2
        ("v_CricketShot_g04_c01_rgb.gif", (224, 224)),
    ],
)
def test_rtsp_server_serves_any_shared_clip(clip, size):
    with RtspServer(media_path(clip)) as camera:
        capture = cv2.VideoCapture(camera.url(), cv2.CAP_FFMPEG, TIMEOUTS)
        ok, frame = capture.read()
        capture.release()
    assert ok and (frame.shape[1], frame.shape[0]) == size
