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
    require_program,
    start_xvfb,
    top_actions,
)

from video_classifier.display.overlay import BAR, NOTE
from video_classifier.display.window import fit_within, letterboxed

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
    from video_classifier.sources.video_file import VideoFileSource

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


# Full screen: the 360x360 clip on Xvfb's 1280x720 screen is a 720x720 picture between black bars.
SCREEN = (1280, 720)
FULL_PICTURE = (280, 0, 999, 719)  # x0, y0, x1, y1, inclusive


@pytest.fixture
def launch():
    """Starts the app (``start_app``'s arguments); whatever is still running is killed at the end."""
    started = []

    def start(display, *args):
        proc = start_app(display, *args)
        started.append(proc)
        return proc, wait_for_window(display, proc)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def bare_xvfb():
    """An X server with no window manager (a bare ``startx``, a kiosk): nobody but the app acts
    on its full-screen request."""
    require_program("Xvfb", "xvfb")
    proc, display = start_xvfb(range(130, 170))  # clear of the shared server's numbers
    yield display
    proc.terminate()
    proc.wait(5)


def picture_box(shot: np.ndarray) -> tuple[int, int, int, int] | None:
    """Where the screen is not black: x0, y0, x1, y1 (inclusive) of the columns, then of the rows
    between them, of which a third of the pixels are lit."""
    lit = shot.max(axis=2) > 4
    columns = np.flatnonzero(lit.mean(axis=0) > 1 / 3)
    if len(columns) == 0:
        return None
    rows = np.flatnonzero(lit[:, columns[0] : columns[-1] + 1].mean(axis=1) > 1 / 3)
    return int(columns[0]), int(rows[0]), int(columns[-1]), int(rows[-1])


def fullscreen_problem(shot: np.ndarray) -> str | None:
    """What keeps ``shot`` (the whole screen) from being the clip full screen, or None."""
    box = picture_box(shot)
    if box is None or max(abs(a - b) for a, b in zip(box, FULL_PICTURE)) > 1:
        return f"the picture is at {box}, not {FULL_PICTURE}"
    x0, _, x1, _ = FULL_PICTURE
    bars = np.concatenate([shot[:, : x0 - 1], shot[:, x1 + 2 :]], axis=1)
    if bars.max() > 4:  # no Qt grey around the picture, no title bar, no window behind
        return f"the bars beside the picture are not black (up to {bars.max()})"
    picture = shot[:, x0 : x1 + 1]
    for name, rows in (("top", picture[:3]), ("bottom", picture[-3:])):
        if (rows.max(axis=2) > 4).mean() < 0.9:
            return f"the picture does not reach the screen's {name} row"
    # The overlay is drawn at the screen's scale: the top-1 bar (carving ice ~0.98) spans its
    # panel, 360 px wide on a 480-high picture, so 540 here.
    scale = SCREEN[1] / 480
    panel = picture[: int(120 * scale), : int(360 * scale)]
    green = np.all(np.abs(panel.astype(int) - BAR) < 30, axis=2).sum(axis=1).max()
    if green < 0.85 * (int(360 * scale) - 2 * int(10 * scale)):
        return f"the top-1 bar is {green} px long, not the screen-scale overlay's"
    return None


def window_problem(display, window):
    """A check that the app is back in a window (its picture 1:1), smaller than the screen."""

    def check(shot: np.ndarray) -> str | None:
        geometry = window_geometry(display, window)
        if geometry[2:] != (360, 360):
            return f"the window is {geometry}, not 360x360"
        box = picture_box(shot)
        if box is None or box[2] - box[0] > 400 or box[3] - box[1] > 400:  # the picture and a title bar
            return f"the picture covers {box}"
        return None

    return check


def paused_problem(shot: np.ndarray) -> str | None:
    """Whether the screen shows "paused" (amber, in the middle of the picture)."""
    box = picture_box(shot)
    if box is None:
        return "a black screen"
    x0, y0, x1, y1 = box
    middle = shot[(y0 + y1) // 2 - (y1 - y0) // 6 : (y0 + y1) // 2 + (y1 - y0) // 20, x0:x1]
    return None if np.abs(middle.astype(int) - NOTE).max(axis=2).min() < 40 else '"paused" is not shown'


def wait_for_screen(display, proc, check, name, timeout=60) -> np.ndarray:
    """Screenshots of the whole screen until ``check`` finds nothing wrong with one (the window
    manager and the app take their time on a busy CPU); fails with what it found last."""
    deadline = time.monotonic() + timeout
    while True:
        shot = screenshot(display, "root", name)
        problem = check(shot)
        if problem is None:
            return shot
        if proc.poll() is not None:
            pytest.fail(f"the app exited: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{name}: {problem}")
        time.sleep(0.3)


def test_fullscreen_fills_the_screen_and_f_returns_to_the_window(xvfb, launch):
    """Under a window manager (openbox): no title bar, the picture as high as the screen between
    black bars, the overlay at the screen's scale; ``f`` gives the 360x360 window back."""
    proc, window = launch(xvfb, "--camera", media_path("carving_ice.mp4"), "--loop", "--fullscreen")
    wait_for_screen(xvfb, proc, fullscreen_problem, "fullscreen_openbox.png")
    assert window_geometry(xvfb, window) == (0, 0, *SCREEN)
    press_key(xvfb, window, "f")
    wait_for_screen(xvfb, proc, window_problem(xvfb, window), "fullscreen_openbox_f_window.png")
    press_key(xvfb, window, "q")
    code, _, err = finish(proc)
    assert code == 0, err


def test_f_makes_the_window_full_screen(xvfb, launch, tmp_path):
    """Also while paused: the picture on screen is drawn again at the screen's size."""
    log = tmp_path / "log.jsonl"
    proc, window = launch(xvfb, "--camera", media_path("carving_ice.mp4"), "--loop", "--log", log)
    wait_for_screen(xvfb, proc, window_problem(xvfb, window), "f_openbox_window.png")
    wait_for_lines(log, 10)  # carving ice has its high score
    press_key(xvfb, window, "space")
    # Paused before the next key: OpenCV's Qt returns one key per waitKey, the last, and would lose
    # the space under an f that comes within the same poll.
    wait_for_screen(xvfb, proc, paused_problem, "f_openbox_paused.png")
    press_key(xvfb, window, "f")
    shot = wait_for_screen(xvfb, proc, fullscreen_problem, "f_openbox_fullscreen.png")
    assert paused_problem(shot) is None  # still paused, drawn again
    press_key(xvfb, window, "q")
    code, _, err = finish(proc)
    assert code == 0, err


def start_painted(display, launch, *args, attempts=4):
    """The app, started again while its window stays unpainted (the whole screen black for 20 s).

    With no window manager, the Qt in opencv-python now and then misses its window's first map
    on a busy CPU and never paints it (docs/monitor.md's black window; here 5 of 43 full-screen starts
    with both cores busy, none of 37 when idle; mapping the window again paints it): a Qt bug apart
    from full screen, which a window manager avoids."""
    for _ in range(attempts):
        proc, window = launch(display, *args)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if screenshot(display, "root", "bare_first_picture.png").max() > 4:
                return proc, window
            if proc.poll() is not None:
                pytest.fail(f"the app exited: {proc.stderr.read()}")
            time.sleep(0.3)
        proc.kill()
        proc.wait(10)
    pytest.fail(f"the window was never painted in {attempts} starts")


def test_fullscreen_without_a_window_manager(bare_xvfb, launch):
    """With no window manager to act on the request, the app sizes its window to the screen."""
    proc, window = start_painted(bare_xvfb, launch, "--camera", media_path("carving_ice.mp4"), "--loop", "--fullscreen")
    wait_for_screen(bare_xvfb, proc, fullscreen_problem, "fullscreen_bare.png")
    press_key(bare_xvfb, window, "f")
    wait_for_screen(bare_xvfb, proc, window_problem(bare_xvfb, window), "fullscreen_bare_f_window.png")
    press_key(bare_xvfb, window, "f")
    wait_for_screen(bare_xvfb, proc, fullscreen_problem, "fullscreen_bare_f_again.png")
    press_key(bare_xvfb, window, "q")
    code, _, err = finish(proc)
    assert code == 0, err


def test_full_screen_pictures_are_scaled_up_and_letterboxed():
    square = np.full((360, 360, 3), 200, np.uint8)
    assert fit_within(square, SCREEN).shape == (360, 360, 3)  # a window: never enlarged
    enlarged = fit_within(square, SCREEN, enlarge=True)
    assert enlarged.shape == (720, 720, 3)
    full = letterboxed(enlarged, SCREEN)
    assert full.shape == (720, 1280, 3)
    assert picture_box(full) == FULL_PICTURE
    assert full[:, :280].max() == 0 and full[:, 1000:].max() == 0
    wide = fit_within(np.zeros((1080, 1920, 3), np.uint8), SCREEN, enlarge=True)
    assert wide.shape == (720, 1280, 3) and letterboxed(wide, SCREEN).shape == (720, 1280, 3)


def test_a_small_picture_is_enlarged_in_a_window_within_the_screen():
    """A 426x240 clip made a window whose overlay covered half the picture and cut the actions'
    names short: a picture under 360 px high is shown at 360, its aspect kept."""
    from video_classifier.display.window import region_within, window_picture, with_room

    def shown(w, h, screen=SCREEN):
        return window_picture(np.zeros((h, w, 3), np.uint8), screen)[0].shape[1::-1]

    assert shown(426, 240) == (639, 360) and shown(352, 288) == (440, 360)
    assert shown(360, 360) == (360, 360) and shown(640, 480) == (640, 480)  # as they come
    assert shown(1920, 1080) == (1280, 720)  # a large one is still scaled down to the screen
    assert shown(426, 240, screen=(500, 300)) == (500, 300)  # the screen bounds an enlarged one (bars fill it),
    assert shown(3000, 100) == (1280, 360)  # a panorama kept low by the width gets black bars (its overlay was unreadable)
    assert shown(3000, 100, screen=None) == (1920, 360)  # and an unknown screen is taken as 1920x1080
    panorama, rows = window_picture(np.full((100, 3000, 3), 255, np.uint8), SCREEN)
    assert panorama[:100].max() == 0 and panorama[-100:].max() == 0 and panorama[180].min() == 255
    assert rows == slice(158, 201) and panorama[rows].min() == 255
    # A region drawn there is on the picture, not across the bars (it spanned rows 0-359).
    assert region_within((0.5, 0.0, 0.75, 1.0), rows, 360) == (0.5, 158 / 360, 0.75, 201 / 360)
    # Full screen: the same room (the overlay's lines lay on one another in a 43 px strip).
    full, rows = with_room(fit_within(np.full((100, 3000, 3), 255, np.uint8), SCREEN, enlarge=True), SCREEN[1])
    assert full.shape[:2] == (360, 1280) and rows == slice(158, 201)
