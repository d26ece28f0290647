"""Teach mode: actions taught from the first halves of real clips through the CLI, recognised
by the real model on the second halves (mirrored, re-timed), in the log, in events and on MQTT."""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    ARTIFACTS,
    FAKES_DIR,
    ROOT,
    Subscriber,
    app_env,
    classify_command,
    media_path,
    model_path,
    open_classifier,
    read_frames,
    start_live_app,
    write_half,
)

from video_classifier.data import Prediction
from video_classifier.teach.examples import Example, LibraryError, ModelIdentity, add_to
from video_classifier.teach.keeper import LibraryKeeper
from video_classifier.teach.library import ActionLibrary
from video_classifier.teach.teacher import Lesson, Teacher

FPS = 5
WINDOW_S = 5.0  # the default --window: frames count once it is full
TAUGHT = {
    "wrestling at the table": "arm_wrestling_mmaction2_demo.mp4",
    "pool cleaning": "cleaning_pool_mmaction2_test.mp4",
    "pancake": "flipping_a_pancake.mkv",
}
NTU = {"hugging": "hugging_ntu_mmaction2_demo_skeleton.mp4", "drinking": "ntu_S001C001P001R001A001_drink_water.avi"}


def run_app(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(classify_command(*args), capture_output=True, text=True, env=app_env(), timeout=timeout)


def teach(library, name: str, clip, *extra) -> subprocess.CompletedProcess:
    done = run_app("--actions", library, "--learn", name, "--camera", clip, *extra)
    assert done.returncode == 0, done.stderr
    return done


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def top1_after_window(log: list[dict]) -> list[str]:
    return [r["top"][0]["label"] for r in log if "top" in r and r["time_s"] >= WINDOW_S - 1 / FPS]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Three actions taught through the CLI, each from the first half of its clip."""
    folder = tmp_path_factory.mktemp("teach")
    path = folder / "actions.json"
    for name, clip in TAUGHT.items():
        done = teach(path, name, write_half(folder / f"{name}-first.mp4", clip, 0, 6.0))
    assert [line.split(":")[0].strip() for line in done.stdout.splitlines()[1:]] == list(TAUGHT)
    return path


@pytest.mark.slow  # the app over nine 10 s clips
@pytest.mark.parametrize("variant", [{"mirror": True}, {"fps": 10.0}, {"fps": 60.0}], ids=["mirrored", "10 fps", "60 fps"])
def test_second_halves_are_named_with_the_taught_names(library, tmp_path, variant):
    for name, clip in TAUGHT.items():
        test_clip = write_half(tmp_path / "second.mp4", clip, 1, 10.0, **variant)
        done = run_app("--actions", library, "--camera", test_clip, "--no-display", "--log", "-")
        assert done.returncode == 0, done.stderr
        log = records(done.stdout)
        labels = top1_after_window(log)
        assert len(labels) >= 25 and labels.count(name) / len(labels) >= 0.9, (name, labels)
        assert [r["label"] for r in log if r.get("type") == "event"] == [name]


@pytest.mark.slow  # needs `library`: three lessons through the app
def test_an_untaught_action_reads_unknown_and_starts_no_event(library):
    done = run_app("--actions", library, "--camera", media_path("carving_ice.mp4"), "--no-display", "--log", "-")
    assert done.returncode == 0, done.stderr
    log = records(done.stdout)
    labels = top1_after_window(log)
    assert labels and labels.count("unknown") / len(labels) >= 0.9, labels
    assert not [r for r in log if r.get("type") == "event"]
    assert "action started" not in done.stderr


@pytest.mark.slow  # two lessons and two clips through the app
def test_the_two_ntu_clips_from_one_room_are_told_apart_once_both_are_taught(tmp_path):
    path = tmp_path / "ntu.json"
    for name, clip in NTU.items():
        teach(path, name, write_half(tmp_path / f"{name}-first.mp4", clip, 0, 6.0, size=(640, 360)))
    for name, clip in NTU.items():
        test_clip = write_half(tmp_path / f"{name}-second.mp4", clip, 1, 10.0, size=(640, 360))
        done = run_app("--actions", path, "--camera", test_clip, "--no-display", "--log", "-")
        labels = top1_after_window(records(done.stdout))
        assert labels and labels.count(name) / len(labels) >= 0.9, (name, labels)


def test_events_and_mqtt_messages_carry_the_taught_names(library, two_action_clip, broker):
    topic = "test/teach"
    subscriber = Subscriber(broker.port, f"{topic}/#")
    try:
        done = run_app(
            "--actions", library, "--camera", two_action_clip, "--no-display", "--log", "-",
            "--mqtt", f"127.0.0.1:{broker.port}", "--mqtt-topic", topic,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        logged = [r["label"] for r in records(done.stdout) if r.get("type") == "event"]
        assert logged == ["wrestling at the table", "pool cleaning"]
        events = lambda s: [json.loads(p) for p in s.on(f"{topic}/events")]  # noqa: E731
        assert subscriber.wait_for(lambda s: len(events(s)) == 4, 20), events(subscriber)
        assert [(e["type"], e["label"]) for e in events(subscriber)] == [
            (kind, label) for label in logged for kind in ("start", "end")
        ]
        states = [json.loads(p)["action"] for p in subscriber.on(f"{topic}/state")]
        assert "wrestling at the table" in states and "pool cleaning" in states
    finally:
        subscriber.close()


@pytest.mark.slow  # needs `library`: three lessons through the app
def test_the_short_window_follows_a_switch_between_taught_actions_sooner(library):
    """10 s of one taught action's second half, then 10 s of another's, through the app's
    classifier (faster than real time): the new action is top-1 for good sooner with the short
    window that cuts the window on a switch than with the window alone, and the first is top-1
    until the switch either way."""
    first, second = "pool cleaning", "wrestling at the table"

    def second_half(name: str) -> list:
        frames = read_frames(media_path(TAUGHT[name]))
        frames = frames[len(frames) // 2 :]
        return [frames[i % len(frames)] for i in range(10 * FPS)]

    stream, switch = second_half(first) + second_half(second), 10 * FPS

    def frames_to_settle(classifier) -> int:
        classifier.reset()
        labels = [(classifier.top(classifier.scores(frame)[0]) or [None])[0] for frame in stream]  # none: warming up
        labels = [top and top.label for top in labels]
        assert labels[switch - FPS : switch] == [first] * FPS, labels
        assert labels[-1] == second, labels
        return max(i for i, label in enumerate(labels) if label != second) + 1 - switch

    shipped = open_classifier(labels=None, actions=str(library))
    assert shipped.scorer.short_window is not None  # the app's default
    alone = open_classifier(labels=None, actions=str(library))
    alone.scorer.short_window = None
    assert frames_to_settle(shipped) < frames_to_settle(alone)


@pytest.mark.slow  # needs `library`: three lessons through the app
def test_list_and_forget_manage_the_file_from_ssh(library, tmp_path):
    copy = tmp_path / "copy.json"
    copy.write_bytes(library.read_bytes())
    listed = run_app("--actions", copy, "--list-actions")
    assert listed.returncode == 0 and all(name in listed.stdout for name in TAUGHT)
    forgot = run_app("--actions", copy, "--forget", "pancake")
    assert forgot.returncode == 0, forgot.stderr
    assert "pancake" not in forgot.stdout and "pool cleaning" in forgot.stdout
    assert "pancake" not in json.loads(copy.read_text())["actions"]


@pytest.mark.slow  # needs `library`: three lessons through the app
def test_a_library_whose_names_were_allowed_when_taught_still_loads(library, tmp_path):
    """Names taught before a rule refused them (only dots, "unknown" in fullwidth letters) keep
    their library usable: the rules for new names are not applied to stored ones."""
    doc = json.loads(library.read_text())
    renamed = dict(zip(["..", "ＵＮＫＮＯＷＮ"], doc["actions"].values()))
    doc["actions"] = {**renamed, **dict(list(doc["actions"].items())[2:])}
    copy = tmp_path / "copy.json"
    copy.write_text(json.dumps(doc))
    listed = run_app("--actions", copy, "--list-actions")
    assert listed.returncode == 0, listed.stderr
    assert ".." in listed.stdout and "ＵＮＫＮＯＷＮ" in listed.stdout
    forgot = run_app("--actions", copy, "--forget", "..")
    assert forgot.returncode == 0, forgot.stderr
    assert list(json.loads(copy.read_text())["actions"])[0] == "ＵＮＫＮＯＷＮ"


@pytest.mark.slow  # needs `library`: three lessons through the app
def test_an_existing_name_gets_more_examples(library, tmp_path):
    copy = tmp_path / "copy.json"
    copy.write_bytes(library.read_bytes())
    clip = write_half(tmp_path / "more.mp4", TAUGHT["pancake"], 0, 11.0)
    done = teach(copy, "pancake", clip, "--examples", "2", "--record", tmp_path / "clips")
    examples = json.loads(copy.read_text())["actions"]["pancake"]["examples"]
    assert len(examples) == 3 and all(len(e["vector"]) == 480 and e["seconds"] == 5.0 for e in examples)
    # The action being taught is going on: an event of it would be a false alarm, a clip and an
    # entry in the events to correct.
    assert "action started" not in done.stderr and not list(tmp_path.glob("clips/*"))
    assert run_app("--actions", copy, "--list-events").stdout == "no events of taught actions yet\n"


# -- bad input ---------------------------------------------------------------------------
def one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and done.stderr.strip().splitlines()[-1] == errors[0], done.stderr
    return errors[0]


@pytest.mark.slow  # 7 app starts
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "needs a name"),
        ("x" * 41, "at most 40"),
        ("bell\x07", "control character"),
        ("cat/bowl", "slash"),
        ("Unknown", "reserved"),
        ("ＵＮＫＮＯＷＮ", "reserved"),
        ("..", "only dots"),
    ],
    ids=["empty", "too long", "control character", "slash", "reserved", "reserved in fullwidth letters", "dots"],
)
def test_a_bad_action_name_is_one_clear_line(tmp_path, name, expected):
    done = run_app("--actions", tmp_path / "a.json", "--learn", name, "--camera", media_path("carving_ice.mp4"))
    assert expected in one_error_line(done)
    assert not (tmp_path / "a.json").exists()


def test_teach_flags_without_an_action_file_are_one_clear_line():
    for flags in (["--learn", "wave"], ["--list-actions"], ["--forget", "wave"]):
        assert "needs --actions FILE" in one_error_line(run_app(*flags, "--camera", media_path("carving_ice.mp4")))


@pytest.mark.slow  # needs `library`: three lessons through the app
def test_forgetting_an_action_that_is_not_there_is_one_clear_line(library, tmp_path):
    copy = tmp_path / "copy.json"
    copy.write_bytes(library.read_bytes())
    line = one_error_line(run_app("--actions", copy, "--forget", "juggling"))
    assert "no action called 'juggling'" in line and "pancake" in line
    assert copy.read_bytes() == library.read_bytes()


def test_a_clip_shorter_than_an_example_is_one_clear_line(tmp_path):
    short = write_half(tmp_path / "short.mp4", "carving_ice.mp4", 0, 3.0)
    line = one_error_line(run_app("--actions", tmp_path / "a.json", "--learn", "carving", "--camera", short))
    assert "too short" in line and "5 s needed" in line
    assert not (tmp_path / "a.json").exists()


def test_an_unwritable_folder_or_a_file_in_the_way_is_one_clear_line(tmp_path):
    clip = media_path("carving_ice.mp4")
    # /proc takes no new files, even from root: the lesson is refused before it starts.
    assert "writable --actions" in one_error_line(
        run_app("--actions", "/proc/actions.json", "--learn", "carving", "--camera", clip)
    )
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = one_error_line(run_app("--actions", blocker / "a.json", "--learn", "carving", "--camera", clip))
    assert "Not a directory" in line and "--actions" in line


def test_a_lesson_the_disk_cannot_take_is_one_clear_line_and_leaves_nothing_behind(tmp_path):
    """The lesson is recorded, then no file may grow past 1 kB (RLIMIT_FSIZE: the kernel refuses
    the rest of a write, as a full disk does): the example is not saved and the app says so."""

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the app
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    library = tmp_path / "a.json"
    done = subprocess.run(
        classify_command("--actions", library, "--learn", "carving", "--camera", media_path("carving_ice.mp4")),
        capture_output=True,
        text=True,
        env=app_env(),
        timeout=120,
        preexec_fn=small_disk,
    )
    assert one_error_line(done) == f"error: cannot save {library} (File too large); what was saved before is kept"
    assert not library.exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_teach_panel_lesson_the_disk_cannot_take_is_also_said_on_stderr(tmp_path):
    """The panel shows the error, but it may be closed by then: the app's own stream says it too."""

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    library = tmp_path / "a.json"
    token = "a-long-enough-token"
    proc, url = start_live_app("--actions", library, "--serve", "0", "--serve-token", token, preexec_fn=small_disk)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        port = re.search(r":(\d+)/", url)[1]
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        lesson = json.dumps({"name": "carving", "seconds": 2, "examples": 1}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/teach", lesson, headers)
        with urllib.request.urlopen(request, timeout=15) as answer:
            assert answer.status == 202  # accepted: the lesson runs
        deadline = time.monotonic() + 60  # the countdown (3 s) and the example (2 s), then its save
        while not any("lesson" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=10)
    said = f"warning: lesson ended with 0 of 1 example(s) of 'carving' saved: cannot save {library} (File too large)"
    assert any(line.startswith(said) for line in lines), lines
    assert proc.returncode == 0 and not any("Traceback" in line for line in lines) and not library.exists()


def test_a_teach_panel_lesson_cut_short_by_the_end_of_a_video_is_said_on_stderr(tmp_path):
    """Carving ice lasts 6.7 s; a lesson of 5 s after the panel's 3 s countdown cannot fit in it.
    The panel may be closed by the time the video ends: the app's own stream says what was saved."""
    library = tmp_path / "a.json"
    token = "a-long-enough-token"
    clip = media_path("carving_ice.mp4")
    proc, url = start_live_app("--actions", library, "--serve", "0", "--serve-token", token, "--camera", clip)
    port = re.search(r":(\d+)/", url)[1]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    lesson = json.dumps({"name": "carving", "seconds": 5, "examples": 1}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/teach", lesson, headers), timeout=15) as answer:
        assert answer.status == 202
    _, stderr = proc.communicate(timeout=60)
    said = (
        "warning: carving_ice.mp4 ended during a lesson: 0 of 1 example(s) of 'carving' saved: "
        "teach from a longer clip, or play it again and again with --loop"
    )
    assert said in stderr.splitlines(), stderr
    assert proc.returncode == 0 and "Traceback" not in stderr and not library.exists()


def test_window_0_and_a_model_that_is_not_movinet_are_one_clear_line(tmp_path):
    clip = media_path("carving_ice.mp4")
    assert "--window" in one_error_line(run_app("--actions", tmp_path / "a.json", "--window", "0", "--camera", clip))
    other = model_path("other/image_classifier_not_movinet.tflite")
    assert "not a MoViNet stream model" in one_error_line(
        run_app("--model", other, "--actions", tmp_path / "a.json", "--camera", clip, "--no-display")
    )


@pytest.fixture(scope="module")
def foreign_library(tmp_path_factory, library):
    """A library taught with another (fine-tuned) A0."""
    folder = tmp_path_factory.mktemp("foreign")
    path = folder / "cattle.json"
    clip = write_half(folder / "clip.mp4", TAUGHT["pancake"], 0, 6.0)
    teach(path, "cow", clip, "--model", model_path("custom-cattle-a0/a0_int8.tflite"))
    return path


DAMAGE = {
    "not JSON": lambda text: "this is not json\n",
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "wrong version": lambda text: text.replace('"version": 1', '"version": 99'),
    "not a library": lambda text: '{"actions": {}}',
    "damaged vector": lambda text: text.replace('"vector": [', '"vector": [1e999, ', 1),
}


@pytest.mark.slow  # 21 app starts, and a lesson with another model
@pytest.mark.parametrize("kind", [*DAMAGE, "another model"])
def test_a_damaged_or_foreign_library_is_refused_and_left_untouched(library, foreign_library, tmp_path, kind):
    path = tmp_path / "actions.json"
    if kind == "another model":
        path.write_bytes(foreign_library.read_bytes())
    else:
        path.write_text(DAMAGE[kind](library.read_text()))
    before = path.read_bytes()
    clip = write_half(tmp_path / "clip.mp4", TAUGHT["pancake"], 0, 6.0)
    for flags in (["--camera", clip, "--no-display"], ["--learn", "pancake", "--camera", clip], ["--forget", "pancake"]):
        line = one_error_line(run_app("--actions", path, *flags))
        assert str(path) in line
        assert path.read_bytes() == before
    if kind == "another model":
        assert "taught with another model (a0_int8.tflite" in line
    if kind == "truncated":  # where, and what it looks like
        assert re.search(r"is not valid JSON \(.+ at line \d+, column \d+; cut short\?\)", line), line
    if kind == "not JSON":
        assert "is not valid JSON (Expecting value at line 1, column 1)" in line, line


# -- the library file --------------------------------------------------------------------
WRITER = """
import sys
import numpy as np
from video_classifier.teach.library import ActionLibrary
from video_classifier.teach.examples import Example, ModelIdentity, add_to
library = ActionLibrary(sys.argv[1], ModelIdentity("m.tflite", "0" * 64, 480))
rng = np.random.default_rng(int(sys.argv[2]))
for i in range(10_000):
    new = [Example(rng.random(480).astype(np.float32), "test", 5.0)]
    library.change(lambda content: add_to(content, f"action {i % 50}", new))
    print(i + 1, flush=True)
"""


@pytest.mark.slow  # five writer processes, killed mid-save
def test_a_writer_killed_mid_save_leaves_the_previous_library_valid(tmp_path):
    path = tmp_path / "actions.json"
    library = ActionLibrary(path, ModelIdentity("m.tflite", "0" * 64, 480))
    saved = 0
    for round_, delay in enumerate([0.05, 0.13, 0.21, 0.34, 0.55]):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(round_)], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert writer.stdout.readline().strip() == "1"  # it has saved once: now kill it at some point of a later save
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        done = int(([line for line in writer.stdout.read().split() if line] or ["1"])[-1])
        writer.wait(10)
        content = library.load()  # valid, whatever the moment of the kill
        count = sum(len(examples) for examples in content.actions.values())
        assert count >= saved + done  # nothing confirmed as saved was lost
        saved = count
    assert saved > 5


@pytest.mark.slow  # three processes saving 120 times in turn
def test_three_writers_at_once_lose_nothing(tmp_path):
    path = tmp_path / "actions.json"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER.replace("10_000", "40"), str(path), str(i)], cwd=ROOT, stdout=subprocess.DEVNULL
        )
        for i in range(3)
    ]
    for writer in writers:
        assert writer.wait(60) == 0
    content = ActionLibrary(path, ModelIdentity("m.tflite", "0" * 64, 480)).load()
    assert sum(len(examples) for examples in content.actions.values()) == 120


def test_the_teacher_counts_down_records_pauses_and_saves_means(tmp_path):
    library = ActionLibrary(tmp_path / "a.json", ModelIdentity("m.tflite", "0" * 64, 3))
    keeper, finished = LibraryKeeper(library).start(), []
    saved = []
    keeper.on_change(saved.append)
    teacher = Teacher(keeper, FPS, on_done=finished.append)
    teacher.teach(Lesson("wave", seconds=2.0, examples=2, countdown_s=3.0, pause_s=1.0))
    statuses, fed = [], []
    for i in range(60):
        t = i / FPS
        features = np.array([i, 1.0, -i], np.float32)
        fed.append(features)
        teacher.on_prediction(Prediction(i, t, [], 0.0, features=features))
        statuses.append((round(t, 1), teacher.status))
    keeper.close()  # saving happens in the keeper's thread: wait for it
    assert statuses[0] == (0.0, "wave in 3 (1 of 2)") and (2.2, "wave in 1 (1 of 2)") in statuses
    assert (3.0, "recording wave [#---------] 10% (1 of 2)") in statuses
    # Frames 15..24 are the first example (3.0-4.8 s), 1 s of pause, then frames 30..39.
    assert (5.0, "saved; next wave in 1") in statuses and (6.0, "recording wave [#---------] 10% (2 of 2)") in statuses
    examples = library.load().actions["wave"]
    np.testing.assert_allclose(examples[0].vector, np.mean(fed[15:25], axis=0))
    np.testing.assert_allclose(examples[1].vector, np.mean(fed[30:40], axis=0))
    assert len(saved) == 2 and finished[0].done and teacher.status == ""
    with pytest.raises(LibraryError):
        teacher.teach(Lesson("wave/2"))


def test_forgetting_the_action_of_a_lesson_ends_it_and_cancel_keeps_what_was_saved(tmp_path):
    library = ActionLibrary(tmp_path / "a.json", ModelIdentity("m.tflite", "0" * 64, 3))
    keeper = LibraryKeeper(library).start()
    teacher = Teacher(keeper, FPS)
    features = np.ones(3, np.float32)

    def feed(frames: int, start: int) -> None:
        for i in range(start, start + frames):
            teacher.on_prediction(Prediction(i, i / FPS, [], 0.0, features=features))
            time.sleep(0.01)  # saving is the keeper's: give it its turn, as real frames would

    teacher.teach(Lesson("wave", seconds=2.0, examples=3, countdown_s=0, pause_s=0))
    feed(12, 0)  # the first example is saved
    teacher.forget("wave")  # ... and the whole action deleted, mid-lesson
    assert teacher.lesson.done and teacher.lesson.cancelled
    feed(30, 12)  # the frames that would have been the next examples
    keeper.close()
    assert library.load().actions == {}  # the lesson did not bring it back

    keeper = LibraryKeeper(library).start()
    teacher = Teacher(keeper, FPS)
    teacher.teach(Lesson("clap", seconds=2.0, examples=3, countdown_s=0, pause_s=0))
    feed(12, 0)
    assert teacher.cancel() and not teacher.cancel()  # a second cancel has nothing to end
    feed(30, 12)
    keeper.close()
    assert len(library.load().actions["clap"]) == 1 and teacher.status == ""


def test_recognition_sees_actions_another_process_taught(tmp_path):
    from video_classifier.teach.scorer import TaughtScorer

    identity = ModelIdentity("m.tflite", "0" * 64, 3)
    keeper = LibraryKeeper(ActionLibrary(tmp_path / "a.json", identity), poll_s=0.05)
    scorer = TaughtScorer(keeper, warm_up=None)  # scores from the first frame
    keeper.start()
    assert scorer.labels == ["unknown"]
    wave = [Example(np.array([1, 0, 0], np.float32), "t", 5)]
    ActionLibrary(tmp_path / "a.json", identity).change(lambda content: add_to(content, "wave", wave))

    class Model:
        def frame_features(self):
            return np.array([1.0, 0.1, 0.0], np.float32)

    deadline = time.monotonic() + 5
    while scorer.labels == ["unknown"] and time.monotonic() < deadline:
        time.sleep(0.02)
    keeper.close()
    labels, scores = scorer.score(np.zeros(1), Model())
    assert labels == ["wave", "unknown"] and scores[0] > 0.99


# -- from the camera ---------------------------------------------------------------------
def camera_env(**extra: str) -> dict[str, str]:
    return app_env(PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=str(media_path("carving_ice.mp4")), **extra)


def test_teaching_from_the_camera_counts_down_records_and_pauses_on_stderr(tmp_path):
    path = tmp_path / "actions.json"
    done = subprocess.run(
        classify_command("--actions", path, "--learn", "ice", "--seconds", "2", "--examples", "2", "--no-display"),
        capture_output=True,
        text=True,
        env=camera_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "] ice in 3 (1 of 2)" in err and "] ice in 1 (1 of 2)" in err
    assert re.search(r"\] recording ice \[#*-*\] \d+% \(1 of 2\)", err) and "] saved; next ice in 2" in err
    assert "] recording ice" in err.split("saved; next ice")[-1]  # the second example was recorded after the pause
    examples = json.loads(path.read_text())["actions"]["ice"]["examples"]
    assert [(e["source"], e["seconds"]) for e in examples] == [("camera", 2.0), ("camera", 2.0)]
    assert "ice: 2 example(s), 4 s" in done.stdout


def test_teaching_from_the_camera_draws_the_countdown_on_the_window(xvfb, tmp_path):
    import cv2

    from video_classifier.display.overlay import NOTE

    path = tmp_path / "actions.json"
    proc = subprocess.Popen(
        # 6 s of recording: on a loaded machine one screenshot can take 2 s, and the app exits
        # once the example is saved.
        classify_command("--actions", path, "--learn", "ice", "--seconds", "6"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=camera_env(DISPLAY=xvfb),
    )
    try:
        deadline = time.monotonic() + 30
        while not (window := subprocess.run(["xdotool", "search", "--name", "MoViNet"], capture_output=True, text=True,
                                            env=app_env(DISPLAY=xvfb), timeout=20).stdout.split()):  # fmt: skip
            assert time.monotonic() < deadline and proc.poll() is None, "no window"
            time.sleep(0.1)
        shot = tmp_path / "countdown.png"
        # The window may be mapped well before its first picture: keep looking while the app runs
        # (the countdown and the recording last 9 s in all).
        deadline, amber = time.monotonic() + 30, 0
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                taken = subprocess.run(
                    ["import", "-window", window[0], str(shot)], capture_output=True, timeout=10, env=app_env(DISPLAY=xvfb)
                )
            except subprocess.TimeoutExpired:
                continue  # the window went away during the grab: the loop ends with the app
            if taken.returncode != 0 or (image := cv2.imread(str(shot))) is None:
                continue
            h, w = image.shape[:2]
            middle = image[h // 3 : 2 * h // 3, w // 4 : 3 * w // 4].astype(int)
            if (amber := np.all(np.abs(middle - NOTE) <= 40, axis=2).sum()) > 200:
                break
            time.sleep(0.2)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert amber > 200, amber  # "ice in 3" (or the recording bar) drawn in the note colour, mid-picture
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "teach_countdown.png").write_bytes(shot.read_bytes())
    assert len(json.loads(path.read_text())["actions"]["ice"]["examples"]) == 1


def test_a_model_without_a_pooled_head_cannot_learn_or_recognise_taught_actions(tmp_path):
    from types import SimpleNamespace

    from video_classifier.app import action_library
    from video_classifier.errors import ModelError
    from video_classifier.settings import Settings

    headless_model = SimpleNamespace(path=Path("stream_without_pool.tflite"), feature_size=None)  # as MovinetStream says
    with pytest.raises(ModelError, match=r"no pooled head state \(state_head_pool_buffer\): --actions needs"):
        action_library(Settings(actions=str(tmp_path / "a.json")), headless_model)


def test_a_lesson_from_a_clip_stopped_by_the_user_keeps_what_was_saved_and_is_no_error(tmp_path):
    """Ctrl-C after the first example of three, the clip long enough for all: the lesson says
    what it saved, as from a camera (it said the clip was too short, status 2)."""
    library = tmp_path / "actions.json"
    command = classify_command(
        "--actions",
        library,
        "--learn",
        "pancake",
        "--camera",
        media_path(TAUGHT["pancake"]),
        "--seconds",
        "2",
        "--examples",
        "3",
        "--realtime",  # played at its own pace, so that the stop comes mid-lesson
    )
    proc = subprocess.Popen([*map(str, command)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=app_env())
    for line in proc.stderr:
        if line.startswith("taught 'pancake': example 1 of 3 saved"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "error:" not in err, err
    assert "stopped: 1 of 3 example(s) of 'pancake' saved" in err
    assert "pancake: 1 example(s)" in out
