"""Examples on both sides of "something else", and corrections of long events, in one room (the
two NTU clips): a lesson or a correction that leaves ``other`` and a taught action with examples
alike says so, on the command line and the Teach panel, and how to move them; moving them ends the
flicker. The log records every correction, and a correction of a long event over drinking and then
hugging teaches the hugging only."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    A0,
    FAKES_DIR,
    NTU_DRINK,
    NTU_HUGGING,
    ROOT,
    _frames_of,
    _write,
    app_env,
    classify_command,
    model_path,
    start_live_app,
    teach_drink,
    write_half,
)
from test_teach_panel import browser, stop_app  # noqa: F401 (browser: a fixture)

from video_classifier.settings import DEFAULT_MODEL
from video_classifier.teach.corrections import Corrector
from video_classifier.teach.examples import ModelIdentity
from video_classifier.teach.keeper import LibraryKeeper
from video_classifier.teach.library import ActionLibrary
from video_classifier.teach.recent_events import EventFile, RecentEvents

# Every test needs actions taught through the app, then runs the app again on the room's clips.
pytestmark = pytest.mark.slow

SIZE = (640, 360)
WINDOW_FULL = 31  # model frames until the 5 s window is full after the warm-up (6 + 25)


def run_app(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(classify_command(*args), capture_output=True, text=True, env=app_env(), timeout=timeout)


def logged(done: subprocess.CompletedProcess) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def top1(records: list[dict]) -> list[str]:
    """The top-1 label of each frame once the window is full."""
    return [r["top"][0]["label"] for r in records if "top" in r][WINDOW_FULL:]


def events(records: list[dict]) -> list[str]:
    return [r["label"] for r in records if r.get("type") == "event"]


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Path:
    """Only "drink" taught; a minute of hugging in the same room fired a false "drink" event,
    corrected as wrong (``corrected/``); clips of the room, the held-out ones mirrored."""
    folder = tmp_path_factory.mktemp("room")
    teach_drink(folder)
    write_half(folder / "hugging-first.mp4", NTU_HUGGING, 0, 30.0, size=SIZE)
    write_half(folder / "hugging-second.mp4", NTU_HUGGING, 1, 20.0, size=SIZE, mirror=True)
    write_half(folder / "drink-second.mp4", NTU_DRINK, 1, 20.0, size=SIZE, mirror=True)
    corrected = folder / "corrected"
    corrected.mkdir()
    shutil.copy(folder / "actions.json", corrected / "actions.json")
    hugging = folder / "hugging-first.mp4"
    seen = logged(run_app("--actions", corrected / "actions.json", "--camera", hugging, "--no-display", "--log", "-"))
    assert events(seen) == ["drink"]  # the false event
    done = run_app("--actions", corrected / "actions.json", "--correct", "last")
    assert done.returncode == 0 and "taught as 'something else'" in done.stderr, done.stderr
    assert "looks like" not in done.stderr  # nothing taught looks like it yet: drink is another action
    return folder


def copy_of(folder: Path, into: Path) -> Path:
    """The action file of ``folder`` with its recent events, copied into ``into``."""
    for name in ("actions.json", "actions.events.json"):
        if (folder / name).exists():
            shutil.copy(folder / name, into / name)
    return into / "actions.json"


def moves_printed(stderr: str) -> list[list[str]]:
    """The command lines the app printed to move examples (their arguments after classify.py)."""
    return [shlex.split(line.strip())[1:] for line in stderr.splitlines() if line.startswith("  classify.py ")]


def run_printed(args: list[str]) -> subprocess.CompletedProcess:
    """A printed command as a user would paste it: its own flags only (no --model added)."""
    command = [sys.executable, str(ROOT / "classify.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=app_env(), timeout=180)


def model_flags() -> list[str]:
    """What a printed command must repeat of the model the tests teach with (nothing for the default)."""
    model = model_path(A0)
    return [] if Path(model).resolve() == DEFAULT_MODEL.resolve() else ["--model", str(model)]


def test_teaching_what_other_holds_says_so_and_moving_it_ends_the_flicker(room, tmp_path):
    actions = copy_of(room / "corrected", tmp_path)
    event_id = json.loads(actions.read_text())["actions"]["other"]["examples"][0]["event"]
    taught = run_app("--actions", actions, "--learn", "hugging", "--camera", room / "hugging-first.mp4")
    assert taught.returncode == 0, taught.stderr
    note = next(line for line in taught.stderr.splitlines() if line.startswith("note: "))
    assert "1 example of 'something else' looks like 'hugging' (cosine 0." in note
    assert f"move it by correcting event {event_id} as 'hugging'" in note
    assert moves_printed(taught.stderr) == [[*model_flags(), "--actions", str(actions), "--correct", event_id, "--as", "hugging"]]

    # Before the move: the held-out hugging reads "something else" (or flickers), and fires no event.
    before = logged(run_app("--actions", actions, "--camera", room / "hugging-second.mp4", "--no-display", "--log", "-"))
    assert top1(before).count("hugging") / len(top1(before)) < 0.5
    assert "hugging" not in events(before)

    moved = run_printed(moves_printed(taught.stderr)[0])
    assert moved.returncode == 0 and f"event {event_id} ('drink'" in moved.stderr and "taught as 'hugging'" in moved.stderr
    library = json.loads(actions.read_text())["actions"]
    assert "other" not in library and [e.get("event") for e in library["hugging"]["examples"]] == [None, event_id]

    after = logged(run_app("--actions", actions, "--camera", room / "hugging-second.mp4", "--no-display", "--log", "-"))
    assert set(top1(after)) == {"hugging"} and events(after) == ["hugging"]
    drink = logged(run_app("--actions", actions, "--camera", room / "drink-second.mp4", "--no-display", "--log", "-"))
    assert set(top1(drink)) == {"drink"} and events(drink) == ["drink"]


def test_correcting_an_event_that_looks_like_a_taught_action_as_wrong_says_so(room, tmp_path):
    actions = copy_of(room, tmp_path)  # drink only
    assert run_app("--actions", actions, "--learn", "hugging", "--camera", room / "hugging-first.mp4").returncode == 0
    seen = logged(run_app("--actions", actions, "--camera", room / "hugging-second.mp4", "--no-display", "--log", "-"))
    assert events(seen) == ["hugging"]
    wrong = run_app("--actions", actions, "--correct", "last")
    assert wrong.returncode == 0, wrong.stderr
    event_id = re.search(r"event ([0-9a-f]{8}) \('hugging'", wrong.stderr).group(1)
    assert "it looks like the examples of 'hugging' (cosine 0." in wrong.stderr
    assert moves_printed(wrong.stderr) == [[*model_flags(), "--actions", str(actions), "--correct", event_id, "--as", "hugging"]]
    back = run_printed(moves_printed(wrong.stderr)[0])
    assert back.returncode == 0 and "looks like" not in back.stderr, back.stderr
    assert sorted(json.loads(actions.read_text())["actions"]) == ["drink", "hugging"]

    # The running app's corrections (live view, Home Assistant) answer the same, in one line.
    model = json.loads(actions.read_text())["model"]
    identity = ModelIdentity(model["file"], model["sha256"], model["feature_size"])
    keeper = LibraryKeeper(ActionLibrary(actions, identity)).start()
    try:
        corrector = Corrector(keeper, RecentEvents(keeper, EventFile.beside(keeper.library), 25), 5.0)
        answer = corrector.correct(event_id, "wrong")
        assert "\n" not in answer and answer.startswith(f"event {event_id} ('hugging'")
        assert "taught as 'something else'. Note: it looks like the examples of 'hugging' (cosine 0." in answer
        assert f"If it was 'hugging', correct event {event_id} as 'hugging'" in answer
        assert "Note" not in corrector.correct(event_id, "hugging")
    finally:
        keeper.close()


def test_the_teach_panel_says_so_until_the_examples_are_moved(room, tmp_path, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    actions = copy_of(room / "corrected", tmp_path)
    event_id = json.loads(actions.read_text())["actions"]["other"]["examples"][0]["event"]
    proc, url = start_live_app("--serve", "0", "--actions", actions, clip=room / "hugging-first.mp4")
    try:
        browser.get(url)
        wait = WebDriverWait(browser, 60, poll_frequency=0.2)
        wait.until(lambda d: d.find_element(By.ID, "teach").is_displayed())
        browser.find_element(By.ID, "teach-name").send_keys("hugging")
        browser.find_element(By.ID, "teach-record").click()
        wait.until(lambda d: "looks like" in d.find_element(By.ID, "lesson").text)
        notice = browser.find_element(By.ID, "lesson").text
        assert notice.startswith("saved: 1 example(s) of hugging. 1 example of 'something else' looks like 'hugging'")
        assert f"correcting event {event_id} as 'hugging' (It was ..." in notice

        moved = run_app("--actions", actions, "--correct", event_id, "--as", "hugging")  # over SSH, while it runs
        assert moved.returncode == 0, moved.stderr
        wait.until(lambda d: d.find_element(By.ID, "lesson").text == "saved: 1 example(s) of hugging")
    finally:
        code, err = stop_app(proc)
    assert code == 0, err


def test_the_log_records_each_correction_made_while_the_app_runs(room, tmp_path):
    actions = copy_of(room, tmp_path)  # drink only
    log = tmp_path / "log.jsonl"
    env = app_env(PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=str(room / "hugging-first.mp4"))
    cmd = classify_command("--actions", actions, "--camera", "picamera2", "--no-display", "--log", log)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)

    def corrections() -> list[dict]:
        return [r for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "correction"]

    def wait_for(count: int) -> list[dict]:
        deadline = time.monotonic() + 10
        while len(found := corrections()) < count:
            assert time.monotonic() < deadline, "no correction record in the log"
            time.sleep(0.2)
        return found

    try:
        for line in proc.stderr:
            if match := re.match(r"action started: drink at [\d.]+ s \(event ([0-9a-f]{8})\)", line):
                event_id = match.group(1)
                break
        else:
            pytest.fail("no false drink event")
        assert run_app("--actions", actions, "--correct", event_id).returncode == 0
        first = wait_for(1)[0]
        assert first["id"] == event_id and first["as"] == "other" and first["time_s"] > 0
        assert run_app("--actions", actions, "--correct", event_id, "--as", "undo").returncode == 0
        assert [(r["id"], r["as"]) for r in wait_for(2)] == [(event_id, "other"), (event_id, None)]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert len(corrections()) == 2


def test_a_long_event_over_drinking_then_hugging_teaches_only_the_hugging(room, tmp_path):
    actions = copy_of(room, tmp_path)  # drink only
    drink, drink_rate = _frames_of(NTU_DRINK, SIZE)
    hugging, hugging_rate = _frames_of(NTU_HUGGING, SIZE)
    clip = _write(
        tmp_path / "drink-then-hugging.mp4",
        [(drink[len(drink) // 2 :], drink_rate, 30.0), (hugging[: len(hugging) // 2], hugging_rate, 30.0)],
        30.0,
        SIZE,
    )
    seen = logged(run_app("--actions", actions, "--camera", clip, "--no-display", "--log", "-"))
    [event] = [r for r in seen if r.get("type") == "event"]
    assert event["label"] == "drink" and event["duration_s"] > 50  # one event over both
    done = run_app("--actions", actions, "--correct", "last")
    assert done.returncode == 0, done.stderr
    match = re.search(r"taught as 'something else': the (\d+) s of its (\d+) s that did not look like 'drink'", done.stderr)
    assert match and 20 <= int(match.group(1)) <= 40 and int(match.group(2)) >= 55, done.stderr
    [example] = json.loads(actions.read_text())["actions"]["other"]["examples"]
    assert example["event"] == event["id"] and example["seconds"] < 40
    listed = run_app("--actions", actions, "--list-events")
    assert f"corrected: something else (the {match.group(1)} s unlike 'drink')" in listed.stdout

    # The drinking in the event was right: it still reads and fires "drink"; the hugging no longer does.
    drinking = logged(run_app("--actions", actions, "--camera", room / "drink-second.mp4", "--no-display", "--log", "-"))
    assert set(top1(drinking)) == {"drink"} and events(drinking) == ["drink"]
    hugs = logged(run_app("--actions", actions, "--camera", room / "hugging-second.mp4", "--no-display", "--log", "-"))
    assert "drink" not in events(hugs) and "drink" not in top1(hugs)
