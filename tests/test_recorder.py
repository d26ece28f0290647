"""--record: MP4 clips around events, decoded back with OpenCV, and the disk budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FAKES_DIR, KINETICS_LABELS, TWO_ACTIONS, app_env, classify_command, media_path, model_path, read_frames

from video_classifier.app import App
from video_classifier.settings import Settings

CLIP_END_S = sum(seconds for _, seconds in TWO_ACTIONS)
STREAM_FPS = 15  # the compositor's rate, which clips are recorded at


def decode(path: Path) -> list:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def clips_in(folder: Path) -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.with_suffix(".json").read_text())) for p in sorted(folder.glob("*.mp4"))]


@pytest.mark.slow  # 16 s of video through the app, recorded
def test_each_event_gives_a_decodable_clip_from_pre_roll_to_post_roll(tmp_path, two_action_clip):
    folder = tmp_path / "clips"
    log = tmp_path / "log.jsonl"
    cmd = classify_command("--no-display", "--camera", two_action_clip, "--record", folder, "--log", log)
    proc = subprocess.run(
        [*map(str, cmd), "--pre-roll", "2", "--post-roll", "1"], capture_output=True, text=True, env=app_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 clip(s) saved" in proc.stderr

    events = [r for r in map(json.loads, log.read_text().splitlines()) if r.get("type") == "event"]
    clips = clips_in(folder)
    camera = decode(two_action_clip)  # what the camera showed, at 30 fps
    assert [sidecar["event"] for _, sidecar in clips] == events  # one clip per logged event, in order
    expected_files = [name for p, _ in clips for name in (p.name, p.with_suffix(".json").name)]
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected_files)  # no partial files left
    for (path, sidecar), event in zip(clips, events):
        info = sidecar["clip"]
        assert path.name == info["file"] and path.name.endswith("_" + event["label"].replace(" ", "-") + ".mp4")
        frames = decode(path)
        assert len(frames) == info["frames"]
        assert frames[0].shape[:2] == (240, 320)
        # From 2 s before the event to 1 s after it, within the stream, at the stream's rate.
        start, end = max(0.0, event["start_s"] - 2), min(CLIP_END_S - 1 / 30, event["end_s"] + 1)
        assert info["start_s"] == pytest.approx(start, abs=0.07) and info["end_s"] == pytest.approx(end, abs=0.07)
        assert len(frames) == pytest.approx((end - start) * STREAM_FPS + 1, abs=2)
        capture = cv2.VideoCapture(str(path))
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(STREAM_FPS, rel=0.05)
        assert len(frames) / capture.get(cv2.CAP_PROP_FPS) == pytest.approx(end - start, abs=0.15)
        # The overlay is in the clip: the middle picture's shaded panel (top left) is darker than
        # the camera's picture at that moment, while the scene below it is the camera's.
        middle = len(frames) // 2
        seen = camera[min(len(camera) - 1, round((info["start_s"] + middle / STREAM_FPS) * 30))]
        assert abs(frames[middle][80:200].mean() - seen[80:200].mean()) < 10
        assert frames[middle][:60, :180].mean() < 0.9 * seen[:60, :180].mean()
    assert not clips[0][1]["clip"]["truncated"] and clips[1][1]["clip"]["truncated"]  # the stream ended 1 s too early


@pytest.mark.parametrize("fps, hold", [(0.5, 1.0), (1.0, 0.2)])
def test_an_event_going_from_the_first_frame_is_in_its_clip_from_its_start(tmp_path, fps, hold):
    """Its start is dated back to the first frame and told after the settling and the hold: the
    recorder keeps pictures for that long, also at a low rate with no pre-roll (the clip began
    at 1.4 s before, at --fps 0.5)."""
    folder = tmp_path / "clips"
    cmd = classify_command(
        "--no-display", "--camera", media_path("arm_wrestling_mmaction2_demo.mp4"), "--record", folder,
        "--fps", fps, "--hold", hold, "--grace", 0.2, "--pre-roll", 0, "--post-roll", 0,
    )  # fmt: skip
    proc = subprocess.run([*map(str, cmd)], capture_output=True, text=True, env=app_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    ((_, sidecar),) = clips_in(folder)
    assert sidecar["event"]["label"] == "arm wrestling" and sidecar["event"]["start_s"] == 0.0
    assert sidecar["clip"]["start_s"] == pytest.approx(0.0, abs=0.05)


def pictures_from(name: str, seconds: float):
    """Real JPEG pictures of a clip at 15 fps of capture time, as the compositor makes them (looped)."""
    from video_classifier.data import Picture

    frames = [cv2.imencode(".jpg", image)[1].tobytes() for image in read_frames(media_path(name), STREAM_FPS)]
    height, width = cv2.imdecode(np.frombuffer(frames[0], np.uint8), cv2.IMREAD_COLOR).shape[:2]
    return [Picture(frames[i % len(frames)], i / STREAM_FPS, (width, height)) for i in range(round(seconds * STREAM_FPS))]


@pytest.mark.slow  # a minute of pictures encoded into clips
def test_disk_use_stays_within_the_budget_by_deleting_the_oldest_clips(tmp_path):
    from video_classifier.data import ActionEvent
    from video_classifier.outputs.recorder import EventRecorder

    pictures = pictures_from("carving_ice.mp4", 60)
    own_video = tmp_path / "holiday.mp4"  # the user's own file in the same folder is never touched
    own_video.write_bytes(b"\0" * 100_000)
    recorder = EventRecorder(tmp_path, pre_roll_s=1, post_roll_s=1, max_mb=1.5)
    for i, picture in enumerate(pictures):
        recorder.on_picture(picture)
        second = picture.timestamp
        event = ActionEvent(f"carving ice {int(second // 6)}", second - 1.5, second - 1.5, [0.9])
        if i % (6 * STREAM_FPS) == 3 * STREAM_FPS:  # one 1 s event every 6 s
            recorder.on_event_start(event)
            started = event
        elif i % (6 * STREAM_FPS) == 4 * STREAM_FPS:
            started.end_s = second - 1.0
            recorder.on_event_end(started)
    recorder.close()

    assert len(recorder.saved) == 10 and recorder.deleted > 0
    assert own_video.exists()
    remaining = sorted(p for p in tmp_path.glob("*.mp4") if p != own_video)
    assert len(remaining) == 10 - recorder.deleted
    assert sum(p.stat().st_size for p in tmp_path.iterdir() if p != own_video) <= 1.5e6
    assert remaining == recorder.saved[-len(remaining) :]  # the newest are kept
    assert all(p.with_suffix(".json").exists() for p in remaining)
    assert len(list(tmp_path.glob("*.json"))) == len(remaining)  # no orphaned sidecars


def test_ctrl_c_during_an_event_still_saves_its_clip(tmp_path):
    folder = tmp_path / "clips"
    env = app_env(PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=str(media_path("carving_ice.mp4")))
    proc = subprocess.Popen(
        [*map(str, classify_command("--no-display", "--record", folder))], stderr=subprocess.PIPE, text=True, env=env
    )
    for line in proc.stderr:
        if line.startswith("action started: carving ice"):
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    [(path, sidecar)] = clips_in(folder)
    assert sidecar["clip"]["truncated"] and sidecar["event"]["label"] == "carving ice"
    assert len(decode(path)) == sidecar["clip"]["frames"] >= 2 * STREAM_FPS


def test_a_burst_of_signals_while_stopping_still_saves_the_clip_and_the_event(tmp_path):
    """timeout(1) sends its signal twice, and an impatient user presses Ctrl-C again: the second
    one used to land in the closing, which left the clip a .part file without its end and the
    event unlogged."""
    folder, log = tmp_path / "clips", tmp_path / "log.jsonl"
    env = app_env(PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=str(media_path("carving_ice.mp4")))
    command = classify_command("--no-display", "--record", folder, "--log", log)
    proc = subprocess.Popen([*map(str, command)], stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stderr:
        if line.startswith("action started: carving ice"):
            break
    time.sleep(1.0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err and "Exception ignored" not in err, err
    assert err.count("stopping") == 1 and "\ndone: " in err
    [(path, sidecar)] = clips_in(folder)
    assert len(decode(path)) == sidecar["clip"]["frames"] >= 2 * STREAM_FPS
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[-1]["type"] == "event" and records[-1]["label"] == "carving ice"
    assert not list(folder.glob("*.part*"))


def test_an_unwritable_record_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = subprocess.run(
        classify_command("--no-display", "--record", blocker / "clips", "--camera", media_path("carving_ice.mp4")),
        capture_output=True,
        text=True,
        env=app_env(),
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: cannot write clips to {blocker / 'clips'}")


def test_pictures_the_compositor_dropped_do_not_shorten_the_clip(tmp_path):
    from video_classifier.data import ActionEvent
    from video_classifier.outputs.recorder import EventRecorder

    pictures = [p for i, p in enumerate(pictures_from("carving_ice.mp4", 10)) if i % 3 != 2]  # a third lost
    recorder = EventRecorder(tmp_path, pre_roll_s=2, post_roll_s=2, confirm_s=1)
    event = ActionEvent("carving ice", 3.0, 3.0, [0.9])
    for picture in pictures:
        recorder.on_picture(picture)
        if picture.timestamp == pytest.approx(4.0):
            recorder.on_event_start(event)
        if picture.timestamp == pytest.approx(6.0):
            event.end_s = 5.0
            recorder.on_event_end(event)
    recorder.close()
    [(path, sidecar)] = clips_in(tmp_path)
    frames = decode(path)
    # From 1 s (3 - 2) to 7 s (5 + 2) at 15 fps, with each lost picture replaced by the one before.
    assert sidecar["clip"]["start_s"] == pytest.approx(1.0) and sidecar["clip"]["end_s"] == pytest.approx(7.0)
    assert len(frames) == sidecar["clip"]["frames"] == 6 * STREAM_FPS + 1
    assert not sidecar["clip"]["truncated"]
    repeat, step = cv2.absdiff(frames[2], frames[1]).mean(), cv2.absdiff(frames[3], frames[2]).mean()
    assert repeat < step / 3, (repeat, step)  # picture 2 was lost: picture 1 is shown twice (up to coding noise)


def test_unfinished_clips_a_run_that_did_not_end_left_are_removed_at_the_next_start(tmp_path):
    """A power cut or kill -9 during an event leaves a .part.mp4 that cannot be played and that
    the disk budget does not count: one at each cut. One still growing (another run's) stays."""
    from video_classifier.outputs.recorder import STALE_PART_S, EventRecorder

    stale = tmp_path / "20261207-120000-123_arm-wrestling.part.mp4"
    growing = tmp_path / "20261207-121000-456_cleaning-pool.part.mp4"
    foreign = tmp_path / "holiday.part.mp4"  # not named by the recorder: never touched
    for path in (stale, growing, foreign):
        path.write_bytes(b"\0" * 44)
    old = time.time() - STALE_PART_S - 60
    for path in (stale, foreign):
        os.utime(path, (old, old))
    recorder = EventRecorder(tmp_path)
    recorder.close()
    assert recorder.removed_parts == 1
    assert not stale.exists() and growing.exists() and foreign.exists()


def test_a_record_folder_replaced_by_a_file_mid_clip_loses_that_clip_only(tmp_path, caplog):
    """`rm -rf clips; touch clips` while a clip is written: a warning, and the next clip is saved
    once the folder is back (the writer thread used to die on the leftover partial file, after
    which no clip was saved and pictures piled up in its queue)."""
    import shutil

    from video_classifier.data import ActionEvent
    from video_classifier.outputs.recorder import EventRecorder

    folder = tmp_path / "clips"
    recorder = EventRecorder(folder, pre_roll_s=1, post_roll_s=1, confirm_s=1)
    first, second = ActionEvent("carving ice", 3.0, 3.0, [0.9]), ActionEvent("carving ice", 14.0, 14.0, [0.9])
    for picture in pictures_from("carving_ice.mp4", 20):
        recorder.on_picture(picture)
        if picture.timestamp == pytest.approx(4.0):
            recorder.on_event_start(first)
        if picture.timestamp == pytest.approx(5.0):
            deadline = time.monotonic() + 10
            while not list(folder.glob("*.part.mp4")):  # the writer has begun the first clip
                assert time.monotonic() < deadline
                time.sleep(0.05)
            while folder.is_dir():  # the writer may add a file while it is removed (rm -rf then fails too)
                shutil.rmtree(folder, ignore_errors=True)
            folder.touch()
        if picture.timestamp == pytest.approx(6.0):
            first.end_s = 5.0
            recorder.on_event_end(first)
        if picture.timestamp == pytest.approx(10.0):
            deadline = time.monotonic() + 10
            while "could not save the clip of carving ice" not in caplog.text:
                assert time.monotonic() < deadline, caplog.text
                time.sleep(0.05)
            folder.unlink()
            folder.mkdir()
        if picture.timestamp == pytest.approx(15.0):
            recorder.on_event_start(second)
        if picture.timestamp == pytest.approx(17.0):
            second.end_s = 16.0
            recorder.on_event_end(second)
    assert recorder._writer.is_alive()  # still taking (and so freeing) the pictures sent to it
    recorder.close()
    [(path, sidecar)] = clips_in(folder)
    assert sidecar["event"]["start_s"] == 14.0 and len(decode(path)) == sidecar["clip"]["frames"] > 2 * STREAM_FPS
    assert caplog.text.count("could not save the clip") == 1 and "Traceback" not in caplog.text
    assert recorder._queue.empty()


@pytest.mark.slow  # the model over a whole clip, recorded
def test_a_file_read_fast_gives_its_clips_the_rates_of_video_time(tmp_path):
    """A clip recorded from a file without a window said "display 266.5 fps | model 90.1 fps",
    the speed the file was read at. Its rates are now those of the video's own time, as the
    clip plays: the compositor's 15 pictures and the model's 5 frames a second."""
    clip = str(media_path("carving_ice.mp4"))
    model = {"model": model_path(), "labels": model_path(KINETICS_LABELS)}
    app = App(Settings(camera=clip, **model, no_display=True, record=str(tmp_path)))
    app.run()
    assert app.pipeline.model_rate.rate() == pytest.approx(5.0, abs=0.01)
    assert app.compositor.rate.rate() == pytest.approx(STREAM_FPS, abs=0.1)
    assert len(clips_in(tmp_path)) == 1
