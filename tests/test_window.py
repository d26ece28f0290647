"""The real OpenCV window under Xvfb: overlay pixels, keys, smoothness with a slow model."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import (
    ARTIFACTS,
    ROOT,
    app_env,
    classify_command,
    media_path,
    open_classifier,
    top_actions,
)

from video_classifier.overlay import BAR, NOTE

TITLE = "MoViNet action recognition"


def start_app(display, *args, **env):
    cmd = classify_command(*args)
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=app_env(DISPLAY=display, **env),
    )


def xdotool(display, *args, timeout=20):
    return subprocess.run(
        ["xdotool", *args], capture_output=True, text=True, timeout=timeout, env=app_env(DISPLAY=display)
    ).stdout.strip()


def press_key(display, window, key):
    """A real key press and release in the app's window: focus it, then type on the focused
    window. (``key --window`` would send the release as a synthetic event to a window that the
    app closed on the press, leaving the key held down, and repeating, for the next tests.)"""
    xdotool(display, "windowfocus", "--sync", window)
    xdotool(display, "key", key)


def wait_for_window(display, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = xdotool(display, "search", "--name", TITLE)
        if found:
            return found.split()[0]
        if proc.poll() is not None:
            pytest.fail(f"app exited early: {proc.stderr.read()}")
        time.sleep(0.2)
    pytest.fail("the window did not appear")


def window_geometry(display, window) -> tuple[int, int, int, int]:
    """The window's picture area on the screen: x, y, width, height. (xwininfo, not xdotool,
    whose position counts the window manager's frame offset twice.)"""
    found = subprocess.run(["xwininfo", "-id", window], capture_output=True, text=True, timeout=20,
                           env=app_env(DISPLAY=display))  # fmt: skip
    assert found.returncode == 0, found.stderr
    fields = ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")
    values = dict(line.strip().split(":", 1) for line in found.stdout.splitlines() if ":" in line)
    return tuple(int(values[field]) for field in fields)


def wait_for_lines(path: Path, count: int, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.1)
    pytest.fail(f"{path} did not reach {count} lines")


def screenshot(display, window, name) -> np.ndarray:
    """The window's pixels (BGR), also saved under artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    subprocess.run(["import", "-window", window, str(path)], check=True, timeout=30, env=app_env(DISPLAY=display))
    image = cv2.imread(str(path))
    assert image is not None
    return image


def finish(proc, timeout=20):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.fixture
def app_with_window(xvfb, tmp_path):
    log = tmp_path / "log.jsonl"
    proc = start_app(xvfb, "--camera", media_path("carving_ice.mp4"), "--log", log)
    yield proc, wait_for_window(xvfb, proc), log
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def test_window_shows_the_overlay_and_q_quits(xvfb, app_with_window):
    proc, window, log = app_with_window
    wait_for_lines(log, 8)
    for _ in range(10):  # the score may still be climbing, or the picture a moment behind the log
        shot = screenshot(xvfb, window, "window_carving_ice.png")
        h, w = shot.shape[:2]
        scale = h / 480
        panel = shot[: int(120 * scale), : int(360 * scale)]
        # The top-1 probability bar (green) spans almost the panel: carving ice scores ~0.98.
        green = np.all(np.abs(panel.astype(int) - BAR) < 30, axis=2)
        if green.sum(axis=1).max() >= 0.85 * (int(360 * scale) - 2 * int(10 * scale)):
            break
        time.sleep(0.3)
    assert (w, h) == (360, 360)  # the clip's own size: no stretching
    assert green.sum(axis=1).max() >= 0.85 * (int(360 * scale) - 2 * int(10 * scale))
    # White label text in the panel and in the footer.
    white = np.all(panel > 235, axis=2)
    assert white.sum() > 100
    assert np.all(shot[-int(30 * scale) :] > 200, axis=2).sum() > 40
    press_key(xvfb, window, "q")
    code, _, err = finish(proc)
    assert code == 0, err
    assert "Traceback" not in err


def test_space_pauses_the_model_and_the_picture(xvfb, app_with_window):
    proc, window, log = app_with_window
    wait_for_lines(log, 3)
    press_key(xvfb, window, "space")
    time.sleep(0.5)
    paused_at = len(log.read_text().splitlines())
    first = screenshot(xvfb, window, "window_paused_1.png")
    time.sleep(1.0)
    second = screenshot(xvfb, window, "window_paused_2.png")
    assert len(log.read_text().splitlines()) == paused_at  # the model stopped
    np.testing.assert_array_equal(first, second)  # and so did the picture
    assert np.abs(first[100:260, 100:260].astype(int) - NOTE).max(axis=2).min() < 40  # "paused" is shown
    press_key(xvfb, window, "space")
    wait_for_lines(log, paused_at + 3, timeout=5)
    assert not np.array_equal(first, screenshot(xvfb, window, "window_resumed.png"))  # moving again
    press_key(xvfb, window, "Escape")
    assert finish(proc)[0] == 0


def test_r_resets_the_models_memory(xvfb, tmp_path):
    log = tmp_path / "log.jsonl"
    clip = media_path("carving_ice.mp4")
    proc = start_app(xvfb, "--camera", clip, "--log", log, "--num-threads", "1")
    window = wait_for_window(xvfb, proc)
    wait_for_lines(log, 8)
    press_key(xvfb, window, "r")
    deadline = time.monotonic() + 5
    while '"type": "reset"' not in log.read_text():
        assert time.monotonic() < deadline, "no reset record"
        time.sleep(0.05)
    wait_for_lines(log, len(log.read_text().splitlines()) + 5)
    press_key(xvfb, window, "q")
    assert finish(proc)[0] == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    reset_at = next(i for i, r in enumerate(records) if r.get("type") == "reset")
    after = [r for r in records[reset_at + 1 :] if "top" in r][:5]
    assert len(after) == 5 and after[0]["time_s"] == records[reset_at]["time_s"]
    # The outputs after the reset are a fresh model's on the same frames.
    from video_classifier.sources import VideoFileSource

    fresh = open_classifier()
    frames = {}
    with VideoFileSource(clip) as video:
        while (frame := video.read()) is not None:
            frames[frame.index] = frame.image
    for record in after:
        top = top_actions(fresh, frames[record["frame"]])
        assert [c["label"] for c in record["top"]] == [c.label for c in top]
        assert [c["score"] for c in record["top"]] == pytest.approx([c.score for c in top], abs=1e-5)


def test_a_slow_model_does_not_slow_the_picture(xvfb):
    """Each model frame takes 400 ms more: the model keeps up only with every other paced frame,
    but the window still shows every camera frame and no backlog builds up."""
    proc = start_app(xvfb, "--camera", media_path("carving_ice.mp4"), "--simulate-model-delay-ms", "400")
    code, _, err = finish(proc, timeout=60)
    assert code == 0, err
    read, classified, skipped, shown = map(
        int, re.search(r"done: (\d+) frames read, (\d+) classified, (\d+) skipped, (\d+) shown", err).groups()
    )
    assert read == 200
    assert shown >= 0.9 * read  # the display kept the camera's pace
    assert classified <= 6.7 / 0.4 + 2  # the model could not do more ...
    assert skipped >= 10  # ... so paced frames were dropped, not queued
    assert classified + skipped <= 35  # 34 paced frames in 6.7 s: nothing else was queued


@pytest.mark.parametrize("display_args, env", [(["--display", ":57"], {}), ([], {"DISPLAY": ""})])
def test_no_display_is_one_clear_line(display_args, env):
    result = subprocess.run(
        [sys.executable, str(ROOT / "classify.py"), "--camera", "0", *display_args],
        capture_output=True,
        text=True,
        timeout=60,
        env=app_env(**env),
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: cannot open a window")
    assert "--no-display" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_sigterm_closes_the_window_within_a_second(xvfb, app_with_window):
    proc, window, log = app_with_window
    wait_for_lines(log, 3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    assert time.monotonic() - sent < 1.0
    assert code == 0 and "Traceback" not in err
    search = subprocess.run(["xdotool", "search", "--name", TITLE], capture_output=True, text=True, timeout=20,
                            env=app_env(DISPLAY=xvfb))  # fmt: skip
    assert (search.returncode, search.stdout, search.stderr) == (1, "", "")  # no such window (not an xdotool error)


def test_a_full_hd_clip_fits_a_small_screen_with_its_status_bar(xvfb):
    """Xvfb's screen is 1280x720; the clip is 1920x1080: the window is scaled down to fit and the
    status bar at the bottom of the picture is on screen."""
    clip = media_path("hugging_ntu_mmaction2_demo_skeleton.mp4")
    assert cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_HEIGHT) == 1080
    proc = start_app(xvfb, "--camera", clip, "--loop")
    try:
        window = wait_for_window(xvfb, proc)
        time.sleep(1.0)  # a few pictures with the rates on them
        x, y, w, h = window_geometry(xvfb, window)
        assert (w, h) == (1152, 648)  # 90 % of the screen, the clip's 16:9 kept
        assert x >= 0 and y >= 0 and x + w <= 1280 and y + h <= 720  # the whole picture on screen
        shot = screenshot(xvfb, window, "window_full_hd_on_720p.png")
        footer = shot[-int(30 * h / 480) :]
        assert np.all(footer > 200, axis=2).sum() > 200  # the white rates text of the status bar
        press_key(xvfb, window, "q")
        code, _, err = finish(proc)
        assert code == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
