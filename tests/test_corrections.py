"""Correcting a false event over SSH: the same-room case (only "drink" taught, two people hugging
in the same room read "drink"), corrected by its id with --correct while the app runs; the
running app reads the hugging as "other" from then on, and "drink" still fires."""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import FAKES_DIR, NTU_DRINK, NTU_HUGGING, app_env, classify_command, teach_drink, write_half

# Every test needs an action taught through the app, then runs the app again on the room's clips.
pytestmark = pytest.mark.slow

DRINK, HUGGING = NTU_DRINK, NTU_HUGGING
SIZE = (640, 360)


def run_app(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(classify_command(*args), capture_output=True, text=True, env=app_env(), timeout=timeout)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Path:
    """A folder with "drink" taught from the first half of the drinking clip, and clips of the room."""
    folder = tmp_path_factory.mktemp("room")
    teach_drink(folder)
    write_half(folder / "hugging-first.mp4", HUGGING, 0, 60.0, size=SIZE)
    write_half(folder / "hugging-second.mp4", HUGGING, 1, 15.0, size=SIZE, mirror=True)
    write_half(folder / "drink-second.mp4", DRINK, 1, 15.0, size=SIZE)
    return folder


def top1(log: Path, skip: int) -> list[str]:
    records = map(json.loads, log.read_text().splitlines()[skip:])
    return [r["top"][0]["label"] for r in records if "top" in r]


def events_of(log: Path) -> list[dict]:
    return [r for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "event"]


def test_a_false_event_corrected_over_ssh_stops_while_the_app_runs(room, tmp_path):
    actions = tmp_path / "actions.json"
    actions.write_bytes((room / "actions.json").read_bytes())
    log = tmp_path / "log.jsonl"
    env = app_env(PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=str(room / "hugging-first.mp4"))
    cmd = classify_command("--actions", actions, "--camera", "picamera2", "--no-display", "--log", log)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stderr:  # the false event, as the user sees it
            if match := re.match(r"action started: drink at [\d.]+ s \(event ([0-9a-f]{8})\)", line):
                event_id = match.group(1)
                break
        else:
            pytest.fail("no false drink event")
        listed = run_app("--actions", actions, "--list-events")
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if line.startswith(event_id))
        assert " drink " in row and " now " in row  # in progress

        corrected = run_app("--actions", actions, "--correct", event_id[:5])  # a unique start of the id is enough
        assert corrected.returncode == 0, corrected.stderr
        assert f"event {event_id} ('drink'" in corrected.stderr and "taught as 'something else'" in corrected.stderr
        assert "other (something else): 1 example(s)" in corrected.stdout
        lines_at_correction = len(log.read_text().splitlines())
        deadline = time.monotonic() + 10
        while not any(
            r.get("top", [{}])[0].get("label") == "other"
            for r in map(json.loads, log.read_text().splitlines()[lines_at_correction:])
        ):
            assert time.monotonic() < deadline, "the running app did not take the correction"
            time.sleep(0.2)
        time.sleep(6)  # the hugging goes on
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    drink_events = [e for e in events_of(log) if e["label"] == "drink"]
    assert [e["id"] for e in drink_events] == [event_id]  # ended by the correction, and no new one
    examples = json.loads(actions.read_text())["actions"]["other"]["examples"]
    assert [(e["source"], e["event"]) for e in examples] == [("correction", event_id)]
    listed = run_app("--actions", actions, "--list-events")
    assert "corrected: something else" in next(line for line in listed.stdout.splitlines() if line.startswith(event_id))

    # Held-out: the other half of the hugging, mirrored, makes no event; drinking still does.
    for clip, expected in (("hugging-second.mp4", []), ("drink-second.mp4", ["drink"])):
        done = run_app("--actions", actions, "--camera", room / clip, "--no-display", "--log", "-")
        assert done.returncode == 0, done.stderr
        events = [json.loads(line) for line in done.stdout.splitlines() if '"type": "event"' in line]
        assert [e["label"] for e in events] == expected, clip


def test_correcting_again_replaces_the_earlier_correction_and_right_adds_to_its_own_action(room, tmp_path):
    actions = tmp_path / "actions.json"
    actions.write_bytes((room / "actions.json").read_bytes())
    done = run_app("--actions", actions, "--camera", room / "drink-second.mp4", "--no-display")
    assert done.returncode == 0, done.stderr
    assert run_app("--actions", actions, "--correct", "last", "--as", "sipping tea").returncode == 0
    assert run_app("--actions", actions, "--correct", "last", "--as", "right").returncode == 0
    library = json.loads(actions.read_text())["actions"]
    assert list(library) == ["drink"] and [e["source"] for e in library["drink"]["examples"]] == ["drink-first.mp4", "correction"]
    undone = run_app("--actions", actions, "--correct", "last", "--as", "undo")
    assert undone.returncode == 0 and "its correction taken back" in undone.stderr
    assert (
        actions.read_text() != ""
        and json.loads(actions.read_text())["actions"] == json.loads((room / "actions.json").read_text())["actions"]
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--correct", "0000ffff"], "no event '0000ffff' among the last 100 events of taught actions"),
        (["--correct", "last", "--as", "unknown"], "'unknown' is reserved"),
        (["--correct", "last", "--as", "a/b"], "has a control character or a slash"),
        (["--correct", "last", "--as", "Something Else"], "is reserved for corrections"),
        (["--correct", ""], "--correct needs an event id (from --list-events) or 'last'"),
        (["--correct", "last", "--as", ""], "--as needs what the event was: wrong, right, undo or an action's name"),
        (["--correct", "last", "--as", " \t"], "--as needs what the event was: wrong, right, undo or an action's name"),
        (["--list-events", "--correct", "last"], "--list-events and --correct are two different jobs"),
        (["--as", "drink"], "--as says what an event was: give the event with --correct ID"),
        (["--learn", "wrong", "--camera", "x.mp4"], "'wrong' is reserved for corrections"),
    ],
    ids=["unknown id", "reserved name", "bad name", "a verdict's name", "empty id", "empty as", "blank as"]
    + ["two jobs", "as alone", "learn wrong"],
)
def test_a_correction_that_cannot_be_made_is_one_clear_line(room, tmp_path, args, expected):
    actions = tmp_path / "actions.json"
    actions.write_bytes((room / "actions.json").read_bytes())
    done = run_app("--actions", actions, "--camera", room / "drink-second.mp4", "--no-display")
    assert done.returncode == 0, done.stderr
    before = actions.read_bytes()
    assert expected in one_error_line(run_app("--actions", actions, *args))
    assert actions.read_bytes() == before


def test_a_100000_character_id_or_name_is_cut_short_in_the_error_line(room, tmp_path):
    actions = tmp_path / "actions.json"
    actions.write_bytes((room / "actions.json").read_bytes())
    done = run_app("--actions", actions, "--camera", room / "drink-second.mp4", "--no-display")  # events to look among
    assert done.returncode == 0, done.stderr
    long = "a" * 100_000
    for args, start in [
        (["--correct", long], f"error: no event {'a' * 60!r}... among the last 100 events"),
        (["--forget", long], f"error: no action called {'a' * 60!r}... (taught: drink)"),
        (["--correct", "last", "--as", long], f"error: action name {'a' * 20!r}... is 100000 characters long"),
    ]:
        line = one_error_line(run_app("--actions", actions, *args))
        assert line.startswith(start) and len(line) < 300, line[:400]


def small_disk() -> None:
    """In the app's process: no file may grow past 1 kB (the kernel refuses the rest of a write,
    as on a full disk); the library, a few kB, cannot be written."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the app
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))


def test_a_correction_that_cannot_be_saved_is_one_error_line_and_changes_nothing(room, tmp_path):
    actions = tmp_path / "actions.json"
    actions.write_bytes((room / "actions.json").read_bytes())
    done = run_app("--actions", actions, "--camera", room / "drink-second.mp4", "--no-display")
    assert done.returncode == 0, done.stderr
    before = actions.read_bytes()
    full = subprocess.run(
        classify_command("--actions", actions, "--correct", "last"),
        capture_output=True,
        text=True,
        env=app_env(),
        timeout=120,
        preexec_fn=small_disk,
    )
    assert f"cannot save {actions} (File too large); what was saved before is kept" in one_error_line(full)
    assert actions.read_bytes() == before and not list(tmp_path.glob(".*.tmp"))
    actions.unlink()
    actions.mkdir()  # the action file replaced by a folder
    assert f"--actions {actions} is a folder" in one_error_line(run_app("--actions", actions, "--correct", "last"))


def test_without_events_or_with_a_damaged_events_file_the_answer_is_one_line(room, tmp_path):
    actions = tmp_path / "actions.json"
    actions.write_bytes((room / "actions.json").read_bytes())
    assert "no event of a taught action yet" in one_error_line(run_app("--actions", actions, "--correct", "last"))
    (tmp_path / "actions.events.json").write_text('{"format": "movinet-events", "version": 1, "events": [[[[')
    assert "recent events file" in one_error_line(run_app("--actions", actions, "--list-events"))
    # The app itself starts anyway (the recent events are only a convenience) and says so once.
    done = run_app("--actions", actions, "--camera", room / "drink-second.mp4", "--no-display")
    assert done.returncode == 0 and done.stderr.count("warning: ") == 1, done.stderr
    assert "drink" in run_app("--actions", actions, "--list-events").stdout
