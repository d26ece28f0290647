"""The part of the picture the model watches: ``--region X,Y,W,H``, ``--region auto`` and a region
drawn in the live view, on real clips made small in a real room (``benchmarks/regions.py``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import NTU_DRINK, NTU_HUGGING, app_env, classify_command, media_path, model_path, start_live_app
from test_teach_panel import browser, request  # noqa: F401  (Chromium, as the Teach panel's tests drive it)

from benchmarks.regions import Room, classify, make_room


@pytest.fixture(scope="module")
def rooms(tmp_path_factory) -> dict[str, tuple[Path, tuple[int, int, int, int]]]:
    """Three actions at a third of the height of a 640x480 room, in opposite corners; the second
    room also has a television playing in the corner opposite the action."""
    model_path()
    clips = ("arm_wrestling_mmaction2_demo.mp4", "cleaning_pool_mmaction2_test.mp4", "flipping_a_pancake.mkv")
    for clip in (*clips, NTU_DRINK, NTU_HUGGING):
        media_path(clip)
    folder = tmp_path_factory.mktemp("rooms")
    chosen = [Room("arm wrestling", "top-left", 1 / 3), Room("cleaning pool", "bottom-right", 1 / 3, tv=True)]
    chosen.append(Room("flipping pancake", "bottom-right", 1 / 3))
    return {room.label: make_room(room, folder) for room in chosen}


@pytest.mark.parametrize("label", ["arm wrestling", "cleaning pool"])
def test_an_action_small_in_a_room_is_named_right_through_its_region_and_with_auto(rooms, label):
    path, box = rooms[label]
    plain, _, _ = classify(path)
    assert plain != label  # the whole room: the model does not see it (why regions exist)
    hand, score, tops = classify(path, region=box)
    assert (hand, all(str(r) == ",".join(map(str, box)) for r in tops.regions)) == (label, True)
    assert score > 0.8
    auto, _, tops = classify(path, auto=True)
    assert auto == label
    x, y, w, h = box
    last = tops.regions[-1]  # auto ends up around the action, not on the television or the room
    assert last is not None and last.x <= x + w // 4 and last.y <= y + h // 4
    assert last.x + last.w >= x + 3 * w // 4 and last.y + last.h >= y + 3 * h // 4
    assert last.w * last.h < 640 * 480 / 4


def test_auto_keeps_the_whole_action_when_its_motion_narrows_onto_the_hands(rooms):
    # The pancake clip's camera moves in its first second, then only the cook's arms and pan do:
    # the box stays where the motion went over the last seconds (the clip), not on the hands.
    path, box = rooms["flipping pancake"]
    label, _, tops = classify(path, auto=True)
    assert label == "flipping pancake"
    x, y, w, h = box
    last = tops.regions[-1]
    assert last is not None and abs(last.x - x) <= 8 and abs(last.y - y) <= 8
    assert abs(last.w - w) <= 16 and abs(last.h - h) <= 16


@pytest.mark.parametrize("clip", ["jumping_jacks.mp4", "v_CricketShot_g04_c01_rgb.gif", "flipping_a_pancake.mkv"])
def test_auto_names_a_full_frame_clip_no_worse_than_without_a_region(clip):
    path = media_path(clip)
    model_path()
    plain, plain_score, _ = classify(path)
    auto, auto_score, _ = classify(path, auto=True)
    assert auto == plain
    assert auto_score >= plain_score - 0.05


def test_auto_stays_within_the_hand_set_region(rooms):
    path, box = rooms["cleaning pool"]
    x, y, w, h = 320, 240, 320, 240  # the quarter holding the action, not the television
    label, _, tops = classify(path, region=(x, y, w, h), auto=True)
    assert label == "cleaning pool"
    assert all(r is not None and r.x >= x and r.y >= y and r.x + r.w <= x + w and r.y + r.h <= y + h for r in tops.regions)


def test_the_log_says_which_region_the_model_saw(rooms, tmp_path):
    path, box = rooms["arm wrestling"]
    log = tmp_path / "log.jsonl"
    region = ",".join(map(str, box))
    result = run("--camera", path, "--no-display", "--max-frames", "5", "--log", log, "--region", region, tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["region"] for r in records] == [list(box)] * 5
    assert f"region: the model sees only --region {region}" in result.stderr


def run(*args, tmp: Path) -> subprocess.CompletedProcess:
    env = app_env(XDG_STATE_HOME=str(tmp / "state"))
    return subprocess.run(classify_command(*args), capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    "region, says",
    [
        ("abc", "expected four whole numbers X,Y,W,H or auto, got 'abc'"),
        ("10,20,30", "expected four whole numbers X,Y,W,H or auto, got '10,20,30'"),
        ("10,20,0,100", "10,20,0,100 has no size"),
        ("0,0,40,300", "--region 0,0,40,300 is 40x300 pixels: the model's picture is 172x172"),
        ("200,100,300,200", "--region 200,100,300,200 is not inside the camera picture, which is 340x256"),
    ],
)
def test_a_bad_region_is_one_error_line_and_status_2_with_nothing_logged(tmp_path, region, says):
    log = tmp_path / "log.jsonl"
    clip = media_path("arm_wrestling_mmaction2_demo.mp4")
    result = run("--camera", clip, "--no-display", "--log", log, f"--region={region}", tmp=tmp_path)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert (result.returncode, len(errors), "Traceback" in result.stderr) == (2, 1, False), result.stderr
    assert says in errors[0]
    assert not log.exists() or log.read_text() == ""


def test_two_boxes_are_refused(tmp_path):
    result = run("--camera", media_path("carving_ice.mp4"), "--region", "0,0,200,200", "--region", "1,1,200,200", tmp=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: --region: give one X,Y,W,H")


def test_a_region_drawn_in_the_browser_is_kept_and_used_after_a_restart(tmp_path, rooms, browser):  # noqa: F811
    driver = browser
    path, box = rooms["arm wrestling"]
    state = tmp_path / "state"
    log = tmp_path / "log.jsonl"
    env = {"XDG_STATE_HOME": str(state)}
    proc, url = start_live_app("--serve", "0", clip=path, **env)
    try:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        driver.get(url)
        wait = WebDriverWait(driver, 40, poll_frequency=0.2)
        wait.until(lambda d: "Drag a box" in d.find_element(By.ID, "region-text").text)
        picture = driver.find_element(By.ID, "stream")
        wait.until(lambda d: picture.size["height"] > 100)
        width, height = picture.size["width"], picture.size["height"]
        # Drag from the picture's top-left quarter to its centre: the action's corner of the room.
        (
            ActionChains(driver)
            .move_to_element_with_offset(picture, -width // 2 + 4, -height // 2 + 4)
            .click_and_hold()
            .move_to_element_with_offset(picture, 0, 0)
            .release()
            .perform()
        )
        wait.until(lambda d: "(drawn here)" in d.find_element(By.ID, "region-text").text)
        saved = list((state / "movinet").glob("region-*.json"))
        assert len(saved) == 1
        drawn = json.loads(saved[0].read_text())
        x, y, w, h = drawn["region"]
        assert drawn["picture"] == [640, 480]
        assert x < 16 and y < 16 and 300 <= w <= 330 and 225 <= h <= 250  # a quarter of the picture
        base = url.split("?")[0]
        assert request("DELETE", base + "region") == 401  # no token: refused, the region is kept
        assert saved[0].exists()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err

    # After a restart the model sees the drawn region, and the page offers to clear it.
    proc, url = start_live_app("--serve", "0", "--log", log, clip=path, **env)
    try:
        driver.get(url)
        wait.until(lambda d: "(drawn here)" in d.find_element(By.ID, "region-text").text)
        wait.until(lambda d: log.exists() and len(log.read_text().splitlines()) >= 3)
        records = [json.loads(line) for line in log.read_text().splitlines()]
        assert all(r.get("region") == [x, y, w, h] for r in records if "top" in r)
        driver.find_element(By.ID, "region-clear").click()
        wait.until(lambda d: "the whole picture" in d.find_element(By.ID, "region-text").text)
        assert not saved[0].exists()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err


@pytest.mark.parametrize(
    "kept",
    [
        {"region": [-100, 0, 200, 200], "picture": [340, 256]},  # off the picture's left edge
        {"region": [0, 0, 200, 200], "picture": [1, 1]},  # larger than the picture it was drawn on
        {"region": [0, 0, 200, 200], "picture": [1e999, 256]},  # not a number (infinity)
        {"region": [0, 0, 10, 10], "picture": [340, 256]},  # too small for the model
    ],
)
def test_a_kept_region_edited_by_hand_is_ignored_with_a_warning(tmp_path, monkeypatch, kept):
    from video_classifier.region import RegionFile

    clip = media_path("arm_wrestling_mmaction2_demo.mp4")  # 340x256
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    file = RegionFile.for_camera(str(clip)).path
    file.parent.mkdir(parents=True)
    file.write_text(json.dumps(kept))
    log = tmp_path / "log.jsonl"
    result = run("--camera", clip, "--no-display", "--max-frames", "3", "--log", log, tmp=tmp_path)
    assert (result.returncode, "Traceback" in result.stderr) == (0, False), result.stderr
    assert any(line.startswith("warning:") and "ignored" in line for line in result.stderr.splitlines()), result.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 3 and not any("region" in r for r in records)  # the whole picture, as without one


def test_a_fifo_in_place_of_the_kept_region_is_ignored_with_a_warning_not_waited_on(tmp_path, monkeypatch):
    """A FIFO planted where the drawn region is kept held the start up for ever (reading it waits
    for a writer): it is refused at once, and the picture is watched whole."""
    import os

    from video_classifier.region import RegionFile

    clip = media_path("arm_wrestling_mmaction2_demo.mp4")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    file = RegionFile.for_camera(str(clip)).path
    file.parent.mkdir(parents=True)
    os.mkfifo(file)
    log = tmp_path / "log.jsonl"
    result = run("--camera", clip, "--no-display", "--max-frames", "3", "--log", log, tmp=tmp_path)
    assert (result.returncode, "Traceback" in result.stderr) == (0, False), result.stderr
    assert any(line.startswith("warning:") and "not a regular file" in line for line in result.stderr.splitlines())
    assert len(log.read_text().splitlines()) == 3


def test_auto_on_the_whole_picture_feeds_the_model_the_pi_cameras_lores_picture():
    """Where ``auto`` watches the whole picture, the model gets what it gets without a region:
    the camera's lores picture (the ISP's scaling), not the main one to resize on the CPU."""
    import numpy as np

    from video_classifier.data import Frame
    from video_classifier.motion_region import MotionRegion
    from video_classifier.region import Framing

    framing = Framing(None, MotionRegion(5.0, 86), None, (172, 172))
    still = np.full((480, 640, 3), 90, np.uint8)  # nothing moves: the whole picture
    lores = np.full((172 * 3 // 2, 230), 128, np.uint8)  # I420, 230x172
    for index in range(10):
        image, region = framing.crop(Frame(still, index / 5.0, index, lores=lores))
        assert region is None and image.shape == (172, 230, 3)


def test_a_cameras_login_is_no_part_of_its_region_files_name(tmp_path, monkeypatch):
    """The region file's name is listable by anyone on the Pi: a hash of a URL with a password
    in it let them guess the password offline. The name now leaves the login out, and a region
    kept under the old name is moved to the new one."""
    import hashlib

    from video_classifier.region import RegionFile

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    url = "rtsp://viewer:hunter2@192.168.1.20:554/stream1"
    kept = RegionFile.for_camera(url).path
    assert kept == RegionFile.for_camera("rtsp://192.168.1.20:554/stream1").path
    assert kept != RegionFile.for_camera("rtsp://viewer:hunter2@192.168.1.20:554/stream2").path
    old = kept.with_name(f"region-main-{hashlib.sha256(url.encode()).hexdigest()[:12]}.json")
    assert old != kept
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"region": [0, 0, 200, 200], "picture": [340, 256]}))
    assert RegionFile.for_camera(url).path == kept and kept.is_file() and not old.exists()
    for camera in ("picamera2", "0"):  # no login: the name it always had
        assert RegionFile.for_camera(camera).path.name == f"region-main-{hashlib.sha256(camera.encode()).hexdigest()[:12]}.json"
