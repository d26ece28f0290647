"""classify.py end to end, in a subprocess, as a user runs it."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT, app_env, free_port, media_path, model_path, require_module

CLASSIFY = str(ROOT / "classify.py")


def classify(*args, timeout=120, **env):
    return subprocess.run(
        [sys.executable, CLASSIFY, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=app_env(**env),
        stdin=subprocess.DEVNULL,
    )


def model_args():
    return ["--model", model_path("movinet_a0_stream_int8.tflite"), "--labels", model_path("kinetics600_label_map.txt")]


def frame_records(text):
    """The per-frame records of a JSON-lines log (event records carry a "type")."""
    records = [json.loads(line) for line in text.splitlines()]
    return [r for r in records if "type" not in r]


# What the app itself says at start (and while it runs: events, the once-a-second report); after
# these a failed run prints exactly one line.
APP_LINE = re.compile(r"(model|source|mqtt|live view|action started|action ended): |\[\d\d:\d\d:\d\d\] ")


def decodable_frames(path) -> tuple[int, float]:
    """How many frames OpenCV decodes from a clip, and the clip's frame rate."""
    capture = cv2.VideoCapture(str(path))
    fps, count = capture.get(cv2.CAP_PROP_FPS), 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count, fps


def paced_count(frames: int, fps: float, model_fps: float = 5.0) -> int:
    """Model frames from ``frames`` frames at ``fps``: one at the start, then one per 1/model_fps s
    (a frame up to 2 ms early still counts)."""
    return 1 + int(((frames - 1) / fps + 0.002) * model_fps)


def error_line(result):
    """The single line a failed run prints after the app's own start-up lines: no traceback, and
    no runtime, OpenCV or FFmpeg chatter."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert all(APP_LINE.match(line) for line in lines[:-1]), result.stderr
    return lines[-1]


@pytest.mark.slow  # the model over a whole clip, through the app, twice
@pytest.mark.parametrize("clip, label", [("carving_ice.mp4", "carving ice"), ("flipping_a_pancake.mkv", "flipping pancake")])
def test_headless_json_log_names_the_action(clip, label):
    result = classify(*model_args(), "--camera", media_path(clip), "--no-display", "--log", "-")
    assert result.returncode == 0, result.stderr
    records = frame_records(result.stdout)
    assert len(records) > 10
    assert set(records[0]) == {"frame", "time_s", "top", "inference_ms", "settling"}  # the first 1.2 s start no event
    assert set(records[6]) == {"frame", "time_s", "top", "inference_ms"}
    assert records[-1]["top"][0]["label"] == label
    times = [r["time_s"] for r in records]
    assert all(abs((b - a) - 0.2) < 0.04 for a, b in zip(times, times[1:]))  # 5 fps by timestamp
    # The clip is read in well under a second: its last answer is still printed, once, at its end.
    assert status_lines(result) and status_lines(result)[-1].startswith(f"{label} "), result.stderr


@pytest.mark.slow  # the model over a whole clip, through the app
def test_log_file_gets_the_same_records(tmp_path):
    log = tmp_path / "run.jsonl"
    clip = media_path("carving_ice_rpi.mp4")
    result = classify(*model_args(), "--camera", clip, "--no-display", "--log", log, "--top-k", "5")
    assert result.returncode == 0, result.stderr
    records = frame_records(log.read_text())
    frames, fps = decodable_frames(clip)
    assert len(records) == paced_count(frames, fps) and all(len(r["top"]) == 5 for r in records)
    assert records[-1]["top"][0]["label"] == "carving ice"


@pytest.mark.slow  # the model over a whole clip, through the app, twice
def test_a_log_file_past_its_size_is_renamed_and_a_new_one_begun(tmp_path):
    """A service logs every frame, about 90 MB a day at 5 fps, to one file that grew until the SD
    card was full. Past --log-max-mb, FILE becomes FILE.1 (the one before is dropped) and a new
    FILE is begun, each line whole. A folder where that cannot be done says so once, and the
    run goes on."""
    log = tmp_path / "run.jsonl"
    older = tmp_path / "run.jsonl.1"
    older.write_text('{"frame": -1}\n')
    clip = media_path("carving_ice_rpi.mp4")
    result = classify(*model_args(), "--camera", clip, "--no-display", "--log", log, "--log-max-mb", "0.002")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("log: ")]
    assert said and set(said) == {f"log: {log} reached 0.002 MB: renamed run.jsonl.1, a new one begun"}
    kept, last = frame_records(older.read_text()), frame_records(log.read_text())
    assert older.stat().st_size <= 2000 and log.stat().st_size <= 2000
    assert kept[0]["frame"] > 0 and kept[-1]["frame"] < last[0]["frame"]  # the older file replaced, by newer frames
    frames, fps = decodable_frames(clip)
    numbers = [r["frame"] for r in kept + last]
    assert numbers == sorted(set(numbers)) and last[-1]["time_s"] > (frames - 1) / fps - 0.2 - 1e-3  # up to the clip's end
    older.unlink()
    older.mkdir()
    (older / "in the way").touch()  # FILE.1 cannot be replaced: the one file grows on
    result = classify(*model_args(), "--camera", clip, "--no-display", "--log", log, "--log-max-mb", "0.002")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning")]
    # Said, and tried again after each further bound's worth (a service runs for months): 7 kB, 2 kB a try.
    expected = f"warning: cannot rename {log} to run.jsonl.1 (Is a directory): {log} grows past --log-max-mb"
    assert set(warnings) == {f"{expected} (tried again after another 0.002 MB)"} and 2 <= len(warnings) <= 4
    assert len(frame_records(log.read_text())) == paced_count(frames, fps) + len(last)


def test_a_log_renamed_by_another_run_or_given_as_a_link_is_never_renamed_again(tmp_path, capsys):
    """Two runs on one log: the second to pass the bound renamed the first's new file away (and
    wrote on into the old one). A link (/dev/stdout is one) was renamed itself, for every program."""
    from video_classifier.outputs.json_log import JsonLinesLog

    path = tmp_path / "shared.jsonl"
    mine, theirs = JsonLinesLog(str(path), max_mb=0.0005), JsonLinesLog(str(path), max_mb=0.0005)
    for log in (mine, theirs):
        log.write_record({"frame": 0, "pad": "x" * 150})
    theirs.write_record({"frame": 1, "pad": "x" * 150})  # past 500 bytes: theirs renames the file, and begins anew
    mine.write_record({"frame": 2, "pad": "x" * 150})  # mine, still on the renamed one: on to theirs, not renaming it
    mine.close(), theirs.close()
    assert [r["frame"] for r in frame_records((tmp_path / "shared.jsonl.1").read_text())] == [0, 0]
    assert [r["frame"] for r in frame_records(path.read_text())] == [1, 2]
    real = tmp_path / "real.jsonl"
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    linked = JsonLinesLog(str(link), max_mb=0.0002)
    said = capsys.readouterr().err.splitlines()
    assert said[-1] == f"log: {link} is a link: it grows without --log-max-mb's bound (give the file's own name)"
    for frame in range(3):
        linked.write_record({"frame": frame, "pad": "x" * 150})
    linked.close()
    assert link.is_symlink() and len(frame_records(real.read_text())) == 3 and not (tmp_path / "link.jsonl.1").exists()
    linked.write_record({"frame": 3})  # after close (a camera's late note): dropped, not a ValueError
    # A run with no bound (0) beside one with a bound follows the new file too: it wrote on into the
    # renamed one, which the next renaming dropped, all its lines with it.
    fresh = tmp_path / "fresh.jsonl"
    unbounded, bounded = JsonLinesLog(str(fresh), max_mb=0), JsonLinesLog(str(fresh), max_mb=0.0005)
    for frame in range(4):
        unbounded.write_record({"frame": frame, "pad": "x" * 150})  # past the bound: it renames nothing
    bounded.write_record({"frame": 10, "pad": "x" * 150})  # renames it, and begins anew
    unbounded.write_record({"frame": 4, "pad": "x" * 150})
    unbounded.close(), bounded.close()
    assert [r["frame"] for r in frame_records((tmp_path / "fresh.jsonl.1").read_text())] == [0, 1, 2, 3]
    assert [r["frame"] for r in frame_records(fresh.read_text())] == [10, 4]


def test_a_log_fifo_is_written_whole_to_its_reader_and_its_reader_leaving_is_one_error_line(tmp_path):
    """--log on a FIFO: the start says that it waits for a reader (it waited without a word), each
    record reaches the reader whole (a seek on the FIFO was "Illegal seek" with advice to free
    some space), and a reader that leaves early ends the run with one line."""
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    command = [sys.executable, CLASSIFY, *map(str, model_args()), "--camera", media_path("carving_ice_rpi.mp4")]
    command += ["--no-display", "--log", str(fifo)]
    for limit in (None, 100):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=app_env())
        said = []
        for line in proc.stderr:  # the reader comes once the app waits for it, however slow its start
            said.append(line)
            if line.startswith("log: waiting"):
                break
        else:  # it ended without waiting: opening the FIFO now would wait for a writer for good
            pytest.fail("".join(said))
        with open(fifo, "rb") as reader:
            got = reader.read(limit) if limit else reader.read()
        stderr = "".join(said) + proc.stderr.read()
        proc.wait(60)
        assert f"log: waiting for a program to read the FIFO {fifo}" in stderr
        if limit is None:
            assert proc.returncode == 0, stderr
            records = [json.loads(line) for line in got.decode().splitlines()]
            assert len(records) > 10 and records[-1]["type"] == "event" and records[-1]["label"] == "carving ice"
        else:
            assert proc.returncode == 2 and "Traceback" not in stderr
            assert stderr.strip().splitlines()[-1] == (
                f"error: the program reading the log FIFO {fifo} stopped reading: the run stops here"
            )


def test_max_frames_stops_early():
    result = classify(*model_args(), "--camera", media_path("carving_ice.mp4"), "--no-display", "--log", "-", "--max-frames", "3")
    assert result.returncode == 0, result.stderr
    assert len(frame_records(result.stdout)) == 3


def test_startup_reports_runtime_and_model():
    result = classify(*model_args(), "--camera", media_path("carving_ice_rpi.mp4"), "--no-display", "--max-frames", "1")
    assert result.returncode == 0, result.stderr
    assert "on litert" in result.stderr and "172x172, 600 classes" in result.stderr


@pytest.mark.slow  # the model over a whole clip, through the app, twice (tflite-runtime's import is long)
@pytest.mark.parametrize("runtime", ["litert", "tflite-runtime"])
def test_runtime_flag_picks_the_runtime(runtime):
    if runtime == "tflite-runtime":
        require_module("tflite_runtime", "pip install tflite-runtime; .ci/run installs it")
    result = classify(
        *model_args(), "--camera", media_path("carving_ice_rpi.mp4"), "--no-display", "--log", "-", "--runtime", runtime
    )
    assert result.returncode == 0, result.stderr
    assert f"on {runtime} " in result.stderr
    assert frame_records(result.stdout)[-1]["top"][0]["label"] == "carving ice"


@pytest.mark.slow  # the model over a whole clip, through the app
def test_fine_tuned_model_with_its_labels():
    result = classify(
        "--model",
        model_path("custom-cattle-a0/a0_int8.tflite"),
        "--labels",
        model_path("custom-cattle-a0/label_map.txt"),
        "--camera",
        media_path("carving_ice_rpi.mp4"),
        "--no-display",
        "--log",
        "-",
        "--max-frames",
        "4",
    )
    assert result.returncode == 0, result.stderr
    labels = model_path("custom-cattle-a0/label_map.txt").read_text().split("\n")
    assert frame_records(result.stdout)[-1]["top"][0]["label"] in labels


def bad_inputs(tmp):
    """(name, extra args, expected words in the error line) for each bad input."""
    empty = tmp / "empty.tflite"
    empty.write_bytes(b"")
    junk = tmp / "junk.tflite"
    junk.write_bytes(bytes(range(256)) * 40)
    two_labels = tmp / "two.txt"
    two_labels.write_text("a\nb\n")
    not_video = tmp / "notes.mp4"
    not_video.write_text("hello")
    empty_labels = tmp / "empty.txt"
    empty_labels.write_text("\n\n")
    binary_labels = tmp / "binary.txt"
    binary_labels.write_bytes(bytes(range(256)))
    truncated_model = tmp / "truncated.tflite"
    truncated_model.write_bytes(model_path("movinet_a0_stream_int8.tflite").read_bytes()[:200_000])
    # A0 with a few bytes overwritten: a tensor whose data went missing, a tensor index out of range, the
    # subgraphs' place in the root table (the runtime reads that to a segmentation fault)
    broken = {}
    for name, offset, patch in (("no_data", 5228, b"\0" * 4), ("bad_index", 1412, b"\xff" * 4), ("no_subgraphs", 16, b"\0" * 2)):
        model = bytearray(model_path("movinet_a0_stream_int8.tflite").read_bytes())
        model[offset : offset + 4] = patch
        broken[name] = tmp / f"{name}.tflite"
        broken[name].write_bytes(model)
    huge, nines = "0" * 4301 + "1", "9" * 4302  # more digits than int() reads
    no_frames = tmp / "no_frames.avi"
    writer = cv2.VideoWriter(str(no_frames), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 64))
    writer.release()
    clip = media_path("carving_ice_rpi.mp4")
    damaged = tmp / "damaged.mp4"  # the end of a real MP4 without its start: FFmpeg says "moov atom not found"
    damaged.write_bytes(media_path("cleaning_pool_mmaction2_test.mp4").read_bytes()[-200_000:])
    recording = tmp / "recording.mp4"  # as OpenCV, phones and cameras write MP4: the index last
    writer = cv2.VideoWriter(str(recording), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 64))
    for shade in range(30):
        writer.write(np.full((64, 64, 3), shade * 8, np.uint8))
    writer.release()
    cut_short = tmp / "cut_short.mp4"  # a recording stopped before it was finished
    cut_short.write_bytes(recording.read_bytes()[:-200])
    picture = tmp / "photo.jpg"
    cv2.imwrite(str(picture), np.full((48, 64, 3), 128, np.uint8))
    fifo = tmp / "fifo.tflite"  # opening a FIFO waits for a writer: the model's blocked the start for good
    os.mkfifo(fifo)
    own_clip, own_model = tmp / "own.mp4", tmp / "own.tflite"  # copies: a log written into them harms no shared file
    own_clip.write_bytes(clip.read_bytes())
    own_model.write_bytes(model_path("movinet_a0_stream_int8.tflite").read_bytes())
    return [
        ("missing model", ["--model", tmp / "nope.tflite", "--camera", clip], "model file not found"),
        ("empty model", ["--model", empty, "--camera", clip], "is empty"),
        ("random bytes", ["--model", junk, "--camera", clip], "not a TFLite model"),
        ("model dir", ["--model", tmp, "--camera", clip], "is a directory"),
        ("not a model path", ["--model", ROOT / "README.md", "--camera", clip], "check the path given to --model"),
        ("truncated model", ["--model", truncated_model, "--camera", clip], "is cut short (it ends before its table"),
        ("a tensor's data missing", ["--model", broken["no_data"], "--camera", clip], "cannot run model"),
        ("a tensor index out of range", ["--model", broken["bad_index"], "--camera", clip], "cannot load model"),
        ("no subgraphs", ["--model", broken["no_subgraphs"], "--camera", clip], "is damaged (its table of subgraphs is missing)"),
        (
            "the same, no window",
            [*model_args(), "--model", broken["no_data"], "--camera", clip, "--window", "0"],
            "cannot run model",
        ),
        ("FIFO model", ["--model", fifo, "--camera", clip], "model path is not a regular file"),
        ("FIFO labels", ["--model", model_args()[1], "--labels", fifo, "--camera", clip], "label file is not a regular file"),
        ("FIFO video", [*model_args(), "--camera", fifo], "video is not a regular file"),
        ("camera device path", [*model_args(), "--camera", "/dev/video3"], "a USB camera is given by its index, --camera 3"),
        (
            "not movinet",
            ["--model", model_path("other/image_classifier_not_movinet.tflite"), "--camera", clip],
            "not a MoViNet stream model",
        ),
        ("wrong labels", [*model_args(), "--labels", two_labels, "--camera", clip], "has 2 labels"),
        ("missing labels", ["--model", model_args()[1], "--labels", tmp / "none.txt", "--camera", clip], "not found"),
        ("empty labels", ["--model", model_args()[1], "--labels", empty_labels, "--camera", clip], "has no labels"),
        ("binary labels", ["--model", model_args()[1], "--labels", binary_labels, "--camera", clip], "is binary"),
        ("missing video", [*model_args(), "--camera", tmp / "none.mp4"], "video not found"),
        ("not a video", [*model_args(), "--camera", not_video], "cannot decode"),
        ("damaged video", [*model_args(), "--camera", damaged], "not a video OpenCV can read"),
        ("MP4 cut short", [*model_args(), "--camera", cut_short], "an MP4 file cut short before the end of its index"),
        ("still picture", [*model_args(), "--camera", picture], "is a still picture (JPEG), not a video"),
        ("no frames", [*model_args(), "--camera", no_frames], "no frames"),
        ("absent camera", [*model_args(), "--camera", "7"], "camera 7 cannot be opened"),
        ("index beyond a C int", [*model_args(), "--camera", "2147483648"], "camera 2147483648 cannot be opened"),
        ("superscript digit as camera", [*model_args(), "--camera", "²"], "video not found: ²"),
        ("superscript MQTT port", [*model_args(), "--camera", clip, "--mqtt", "broker:²"], "the port must be a number"),
        ("superscript --serve port", [*model_args(), "--camera", clip, "--serve", ":²"], "give a port (8000)"),
        ("--serve port of 4302 digits", [*model_args(), "--camera", clip, "--serve", huge], "give a port (8000)"),
        ("MQTT port of 4302 digits", [*model_args(), "--camera", clip, "--mqtt", f"broker:{huge}"], "the port must be a number"),
        ("--region of 4302 digits", [*model_args(), "--camera", clip, "--region", f"0,0,{nines},100"], "larger than any camera"),
        ("no picamera2", [*model_args(), "--camera", "picamera2"], "picamera2 is not installed"),
        ("top-k too big", [*model_args(), "--camera", clip, "--top-k", "601"], "--top-k must be between 1 and 600"),
        ("fps zero", [*model_args(), "--camera", clip, "--fps", "0"], "--fps"),
        ("top-k zero", [*model_args(), "--camera", clip, "--top-k", "0"], "--top-k"),
        ("threads zero", [*model_args(), "--camera", clip, "--num-threads", "0"], "--num-threads"),
        ("negative width", [*model_args(), "--camera", clip, "--width", "-640"], "--width"),
        ("empty --log", [*model_args(), "--camera", clip, "--log", ""], "--log is empty (an unset shell variable?)"),
        ("empty --mqtt", [*model_args(), "--camera", clip, "--mqtt", ""], "--mqtt is empty (an unset shell variable?)"),
        ("unwritable log", [*model_args(), "--camera", clip, "--log", tmp / "no" / "dir" / "x.jsonl"], "cannot open log"),
        ("full disk", [*model_args(), "--camera", clip, "--log", "/dev/full"], "cannot write to log"),
        ("log into its video", [*model_args(), "--camera", own_clip, "--log", own_clip], "is the file given with --camera"),
        ("log into its model", ["--model", own_model, "--camera", clip, "--log", own_model], "is the file given with --model"),
        ("bad MQTT port", [*model_args(), "--camera", clip, "--mqtt", "broker:abc"], "the port must be a number"),
        ("missing CA file", [*model_args(), "--camera", clip, "--mqtt", "localhost", "--mqtt-ca", tmp / "ca.pem"], "--mqtt-ca"),
        ("wildcard MQTT topic", [*model_args(), "--camera", clip, "--mqtt", "localhost", "--mqtt-topic", "a/#"], "plain topic"),
        ("forget, broker down", ["--mqtt", f"127.0.0.1:{free_port()}", "--mqtt-forget"], "not reachable (Connection refused)"),
        ("bad --serve", [*model_args(), "--camera", clip, "--serve", "abc"], "give a port (8000)"),
        ("unknown --serve host", [*model_args(), "--camera", clip, "--serve", "nohost.invalid:8000"], "unknown address"),
        ("unwritable clip folder", [*model_args(), "--camera", clip, "--record", "/dev/null/clips"], "cannot write clips"),
    ]


def troubleshooting_lines() -> dict[str, str]:
    """docs/troubleshooting.md's table of error lines: what a user sees, by the input's name."""
    rows = (
        re.match(r"\| (.+?) \| (`+)(error: .*?)\2[ |]", line)  # the line in its code span, a note after it
        for line in (ROOT / "docs/troubleshooting.md").read_text().splitlines()
    )
    return {row.group(1): row.group(3) for row in rows if row}


@pytest.mark.slow  # 50 app starts
def test_each_bad_input_gives_one_error_line_and_exit_2(tmp_path):
    documented = troubleshooting_lines()
    for name, args, words in bad_inputs(tmp_path):
        result = classify(*args, "--no-display")
        line = error_line(result)
        assert words in line, f"{name}: {line}"
        if name in documented:  # the troubleshooting table shows this very line
            shown = line.replace(str(tmp_path), "DIR").replace(str(model_path("")), "models")
            assert shown == documented[name], f"{name}: the app says {shown!r}, docs/troubleshooting.md {documented[name]!r}"


def test_a_model_the_runtime_cannot_prepare_is_one_short_error_line(tmp_path):
    """Weights' zero-points overwritten: the runtime refuses the model with its messages run
    together (250 characters, no space between them); the line keeps the first and says what to do."""
    damaged = bytearray(Path(model_args()[1]).read_bytes())
    damaged[3_000_000:3_000_064] = b"\xff" * 64
    model = tmp_path / "damaged.tflite"
    model.write_bytes(damaged)
    line = error_line(classify("--model", model, "--camera", media_path("carving_ice.mp4"), "--no-display"))
    assert line.startswith(f"error: cannot load model {model} (") and line.endswith("): download it again with ./setup.sh")
    assert len(line) < len(str(model)) + 200, line


@pytest.mark.parametrize("flag", ["--model", "--labels", "--actions", "--log", "--record", "--camera", "$MOVINET_CAMERA"])
def test_a_path_too_long_for_the_file_system_is_one_short_error_line(tmp_path, flag):
    path = str(tmp_path / ("x" * 100_000))  # no file system takes a name of more than 255 bytes
    if flag == "$MOVINET_CAMERA":
        result = classify(*model_args(), "--no-display", MOVINET_CAMERA=path)
    else:  # the last of a flag given twice is the one taken
        result = classify(*model_args(), "--camera", media_path("carving_ice.mp4"), flag, path, "--no-display")
    line = error_line(result)
    assert line.startswith(f"error: {flag} {tmp_path}/xxx") and "a name longer than the file system takes" in line
    assert len(line) < 400


def test_a_100000_character_value_is_not_echoed_whole():
    clip = media_path("carving_ice.mp4")
    line = error_line(classify(*model_args(), "--camera", clip, "--width", "9" * 100_000, "--no-display"))
    assert line.startswith("error: --width: expected a whole number") and len(line) < 200


@pytest.mark.slow  # the model over a whole clip, through the app
def test_action_events_go_to_the_log_and_stderr(tmp_path):
    log = tmp_path / "run.jsonl"
    result = classify(*model_args(), "--camera", media_path("flipping_a_pancake.mkv"), "--no-display", "--log", log)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    events = [r for r in records if r.get("type") == "event"]
    assert [e["label"] for e in events] == ["flipping pancake"]
    assert events[0]["start_s"] < 2.0 and events[0]["end_s"] > 9.0 and events[0]["peak"] >= events[0]["mean"]
    assert "action started: flipping pancake" in result.stderr
    assert "remembers the last 60 s" in result.stderr


@pytest.mark.slow  # 5 app starts
@pytest.mark.parametrize(
    "flag, value", [("--window", "-1"), ("--threshold", "0"), ("--threshold", "1.5"), ("--hold", "0"), ("--smooth", "1")]
)
def test_bad_policy_flags_are_refused(flag, value):
    result = classify(*model_args(), "--camera", media_path("carving_ice_rpi.mp4"), "--no-display", flag, value)
    assert flag in error_line(result) or "--smooth" in error_line(result)


@pytest.mark.slow  # 4 app starts
@pytest.mark.parametrize("args", [["--window", "1e9"], ["--fps", "1e6"], ["--window", "3601"], ["--fps", "1e308"]])
def test_a_window_too_long_to_keep_is_one_error_line(args):
    """Its frames are kept in memory: a huge one was a MemoryError traceback, or gigabytes."""
    result = classify(*model_args(), "--camera", media_path("carving_ice_rpi.mp4"), "--no-display", *args)
    assert "model frames to remember, over the 18000 allowed" in error_line(result)


@pytest.mark.slow  # three app runs
def test_a_window_shorter_than_a_frame_remembers_one_frame_not_everything(tmp_path):
    """--window 0.05 at 5 fps rounded to 0 frames, which meant everything since start (while the
    start-up line said 0.05 s)."""
    from video_classifier.options import parse_settings

    assert parse_settings(["--window", "0.05"]).window_frames == 1
    assert parse_settings(["--window", "0.05", "--actions", str(tmp_path / "a.json")]).taught_window == 1
    assert parse_settings(["--window", "0"]).window_frames == 0
    clip, tops = media_path("apply_eye_makeup_mmaction2_test.avi"), {}
    for window in ("0.05", "0.2", "0"):
        log = tmp_path / f"{window}.jsonl"
        result = classify(*model_args(), "--camera", clip, "--no-display", "--max-frames", 8, "--window", window, "--log", log)
        assert result.returncode == 0, result.stderr
        tops[window] = [r["top"] for r in frame_records(log.read_text())]
        if window == "0.05":
            assert "remembers the last 0.2 s" in result.stderr  # what it does: one model frame
    assert tops["0.05"] == tops["0.2"] != tops["0"]


@pytest.mark.slow  # 12 app starts
def test_ctrl_c_in_the_first_moments_of_a_start_is_a_quiet_stop():
    """Ctrl-C while Python imports the app was a KeyboardInterrupt traceback, or an ImportError one
    ("numpy._core.multiarray failed to import"), or, during LiteRT's import, went unnoticed while
    --runtime auto quietly fell back to tflite-runtime."""
    command = [sys.executable, CLASSIFY, *map(str, model_args()), "--camera", str(media_path("carving_ice.mp4"))]
    command += ["--loop", "--no-display"]
    for delay in [0.1 + 0.03 * i for i in range(12)]:
        proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=app_env(),
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not ignored as in a background job
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # Python's start took the signal (site's .pth processing), not the app
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
            assert stderr.startswith("Error processing line") and proc.returncode == 0 and "stopping" in stderr, stderr
            continue
        # Before Python has started to run anything of the app's (a busy machine), the signal kills
        # it, or Python itself stops while it imports its own `site` module (its words, not ours).
        # (a .pth file of the machine's site-packages run by `site` says "Error processing line ...").
        # Or the interpreter itself, before the script's first line, says only "KeyboardInterrupt".
        before_the_app = stderr.startswith(("Fatal Python error: init_import_site", "Error processing line"))
        before_the_app = before_the_app or (stderr.strip() == "KeyboardInterrupt" and proc.returncode == 1)
        # Or it stops at the script's "line 0": the module's code began but not its first line.
        line_0 = r'Traceback \(most recent call last\):\n  File ".*classify\.py", line 0, in <module>\n'
        at_line_0 = re.fullmatch(line_0 + r"KeyboardInterrupt\n?", stderr)
        before_the_app = before_the_app or (at_line_0 is not None and proc.returncode == 1)
        assert before_the_app or ("Traceback" not in stderr and "tflite-runtime" not in stderr), f"at {delay:.2f} s: {stderr}"
        assert (proc.returncode == 0 and "stopping" in stderr) or (proc.returncode == -2 and not stderr) or before_the_app, stderr


# Sends SIGINT to the process at one moment of classify.py's own first lines, then runs it as the
# program: while it imports its helpers, or as main() begins (before either had a handler of the
# app's, the signal was a KeyboardInterrupt traceback and status 130).
SIGNAL_AT = r"""
import os, runpy, signal, sys
moment, sys.argv[0] = sys.argv.pop(1), sys.argv[1]
def interrupt():
    os.kill(os.getpid(), signal.SIGINT)
if moment == "helpers":
    sys.addaudithook(lambda event, args: event == "import" and args[0] == "utils.signals" and interrupt())
else:
    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "ensure_std_streams":
            sys.setprofile(None)
            interrupt()
    sys.setprofile(profile)
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("moment", ["helpers", "main"])
def test_ctrl_c_at_classify_py_s_first_lines_is_a_quiet_stop(moment):
    command = [sys.executable, "-c", SIGNAL_AT, moment, CLASSIFY, "--camera", str(media_path("carving_ice.mp4")), "--no-display"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=app_env())
    assert (result.returncode, result.stderr) == (0, "stopping\n")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_ends_a_start_that_waits_for_its_flags_file(tmp_path, signum):
    """`classify.py @FILE` reads FILE before anything else; a pipe whose writer never writes (a
    FIFO, a shell's <(...)) held the start, and Ctrl-C and SIGTERM waited with it."""
    flags = tmp_path / "flags"
    os.mkfifo(flags)
    proc = subprocess.Popen(
        [sys.executable, CLASSIFY, f"@{flags}"],
        stderr=subprocess.PIPE,
        text=True,
        env=app_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not ignored as in a background job
    )
    try:
        deadline = time.monotonic() + 60
        while Path(f"/proc/{proc.pid}/wchan").read_text() != "wait_for_partner":  # opening the FIFO: no writer
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert (proc.returncode, stderr) == (0, "stopping\n")


def test_main_in_another_thread_runs_with_the_caller_s_handlers(capsys):
    """Signal handlers can only be set in the main thread: main() from another one raised ValueError."""
    import threading

    import classify

    results: list = []
    thread = threading.Thread(target=lambda: results.append(classify.main(["--top-k", "many"])))
    thread.start()
    thread.join(60)
    assert results == [2] and "--top-k" in capsys.readouterr().err


def test_a_log_on_stdout_piped_into_head_ends_quietly():
    """`classify.py --log - | head -2`: the reader closing the pipe is no error (it was 'error:
    cannot write to log - (Broken pipe): free some space', exit 2)."""
    command = [sys.executable, CLASSIFY, *map(str, model_args()), "--camera", media_path("carving_ice.mp4")]
    command += ["--loop", "--no-display", "--log", "-"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=app_env())
    assert json.loads(proc.stdout.readline())["frame"] == 0
    proc.stdout.close()  # as head does after its lines
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert all(APP_LINE.match(line) for line in stderr.splitlines()), stderr


def test_a_log_on_a_closed_stdout_is_one_error_line_not_a_log_thrown_away():
    """`classify.py --log - >&-`: the records went to /dev/null and the run ended with status 0."""
    command = [sys.executable, CLASSIFY, *map(str, model_args()), "--camera", media_path("carving_ice.mp4")]
    command += ["--no-display", "--log", "-"]
    done = subprocess.run(command, stderr=subprocess.PIPE, text=True, env=app_env(), preexec_fn=lambda: os.close(1), timeout=120)
    assert error_line(done) == (
        "error: --log - writes to standard output, which is closed (>&-): give --log a file, or open stdout"
    )


def test_a_log_on_stdout_sent_into_its_own_video_is_one_error_line_and_leaves_it_whole(tmp_path):
    """`classify.py --camera clip.mp4 --log - >> clip.mp4`: the records went into the video."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(media_path("carving_ice.mp4").read_bytes())
    command = [sys.executable, CLASSIFY, *map(str, model_args()), "--camera", clip, "--no-display", "--log", "-"]
    with clip.open("ab") as into_the_clip:
        done = subprocess.run(command, stdout=into_the_clip, stderr=subprocess.PIPE, text=True, env=app_env(), timeout=120)
    assert error_line(done).startswith("error: --log - (standard output) is the file given with --camera:")
    assert clip.read_bytes() == media_path("carving_ice.mp4").read_bytes()


@pytest.mark.slow  # the model over a whole clip, through the app
def test_a_truncated_video_is_processed_up_to_the_damage_then_reported(tmp_path):
    data = media_path("flipping_a_pancake.mkv").read_bytes()
    truncated = tmp_path / "half.mkv"
    truncated.write_bytes(data[: len(data) // 2])
    log = tmp_path / "log.jsonl"
    result = classify(*model_args(), "--camera", truncated, "--no-display", "--log", log)
    line = error_line(result)
    decoded, fps = decodable_frames(truncated)
    header = cv2.VideoCapture(str(media_path("flipping_a_pancake.mkv")))
    total = int(header.get(cv2.CAP_PROP_FRAME_COUNT))  # what the whole file's header declares
    header.release()
    assert 0 < decoded < total
    assert f"stopped decoding at frame {decoded} of {total}" in line and "truncated" in line
    frames = frame_records(log.read_text())
    assert len(frames) == paced_count(decoded, fps)  # every paced frame of those that decoded was logged
    assert frames[-1]["top"][0]["label"] == "flipping pancake"
    # Read in under a second: the last answer is printed before the error (no answer was printed at all).
    assert status_lines(result)[-1].startswith("flipping pancake "), result.stderr


def status_lines(result) -> list[str]:
    """The once-a-second answers a run without a window printed (their times left out)."""
    return [line.split("] ", 1)[1] for line in result.stderr.splitlines() if re.match(r"\[\d\d:\d\d:\d\d\] ", line)]


def test_a_run_cut_short_by_max_frames_prints_its_last_answer():
    """20 model frames take well under a second: the run printed no answer at all."""
    result = classify(*model_args(), "--camera", media_path("carving_ice.mp4"), "--no-display", "--max-frames", "20")
    assert result.returncode == 0, result.stderr
    assert status_lines(result) and status_lines(result)[-1].startswith("carving ice "), result.stderr


@pytest.mark.slow  # 12 app starts
@pytest.mark.parametrize(
    "args, line",
    [
        (["--fps", "abc"], "error: --fps: expected frames per second of at least 0.5 (the models were trained at 5), got 'abc'"),
        (["--top-k", "2.5"], "error: --top-k: expected a whole number of at least 1, got '2.5'"),
        (["--threshold", "x"], "error: --threshold: expected a number above 0 and at most 1, got 'x'"),
        (["--window", "soon"], "error: --window: expected a number of at least 0, got 'soon'"),
        # 100,000 threads crashed the runtime (a segmentation fault), 1e308 MB overflowed
        (["--num-threads", "100000"], "error: --num-threads: expected a whole number from 1 to 64, got '100000'"),
        (
            ["--record", "clips", "--record-max-mb", "1e308"],
            "error: --record-max-mb: expected a number above 0 and at most 1e+09 (a petabyte), got '1e308'",
        ),
        (["--smooth", "1"], "error: --smooth: expected a weight from 0 to below 1, got '1'"),
        # an hour of pictures before an event would be held in memory: 10 GB at 1080p
        (["--pre-roll", "3600"], "error: --pre-roll: expected seconds from 0 to 60 (held in memory until the event), got '3600'"),
        (["--runtime", "tf"], "error: --runtime: expected one of 'auto', 'litert', 'tflite-runtime', got 'tf'"),
        (["--fps"], "error: --fps: expected a value"),
        (  # argparse reads a value that starts with - as a flag: say so, and how to give it
            ["--region", "-10,0,200,200"],
            "error: --region: expected a value (a value that starts with - is read as a flag: write --region=VALUE)",
        ),
        (["--frames", "3"], "error: unknown flag(s): --frames"),
        (["--camera", "0", "--loop"], "error: --loop plays a video file again and again: give one with --camera FILE"),
    ],
)
def test_argument_errors_are_in_the_apps_own_words(args, line):
    result = classify(*args)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"{line} (see python classify.py --help)"]


@pytest.mark.parametrize(
    "given, parent",
    [
        (["--mqtt-user", "pi"], "--mqtt HOST"),
        (["--mqtt-password", "secret"], "--mqtt HOST"),
        (["--mqtt-tls"], "--mqtt HOST"),
        (["--mqtt-topic", "movinet/door"], "--mqtt HOST"),
        (["--serve-token", "a-long-enough-token"], "--serve PORT"),
        (["--post-roll", "5"], "--record DIR"),
        (["--record-max-mb", "50"], "--record DIR"),
        (["--log-max-mb", "10"], "--log FILE"),
        (["--examples", "3"], "--learn NAME"),
        (["--seconds", "4"], "--learn NAME or --actions FILE"),
    ],
)
def test_a_flag_without_the_flag_it_goes_with_is_refused(given, parent):
    """It ran without the flag forgotten: a --mqtt-user without --mqtt published nothing, and said
    nothing. A value equal to the default changes nothing, and is let through."""
    from video_classifier.errors import FlagError
    from video_classifier.options import parse_settings

    flag = given[0]
    with pytest.raises(FlagError) as refused:
        parse_settings(["--camera", "clip.mp4", *given])
    assert str(refused.value).startswith(f"{flag} goes with {parent}")
    assert f"leave {flag} out" in str(refused.value)
    assert given[-1] not in str(refused.value) or given[-1] == flag  # a password is not repeated
    parents = {
        "--mqtt HOST": ["--mqtt", "broker.local"],
        "--serve PORT": ["--serve", "8000"],
        "--record DIR": ["--record", "clips"],
        "--log FILE": ["--log", "run.jsonl"],
    }
    parents |= {
        "--learn NAME": ["--actions", "a.json", "--learn", "wave"],
        "--learn NAME or --actions FILE": ["--actions", "a.json"],
    }
    parse_settings(["--camera", "clip.mp4", *parents[parent], *given])  # with it: accepted
    assert parse_settings(["--camera", "clip.mp4", "--pre-roll", "3"]).pre_roll == 3.0  # the default: nothing to miss
    with pytest.raises(FlagError, match="--log - writes to standard output"):
        parse_settings(["--camera", "clip.mp4", "--log", "-", "--log-max-mb", "5"])  # nothing to rename


def test_a_name_or_value_that_is_not_utf8_is_one_error_line(tmp_path, monkeypatch):
    """A folder or file named in another encoding (an old camera's card, a Windows share): a clips
    folder crashed OpenCV's video writer (a segmentation fault, the clip lost), a video or a model
    was a traceback or "download it again", a broker's login a traceback."""
    from video_classifier.errors import FlagError
    from video_classifier.options import parse_settings

    folder = tmp_path / os.fsdecode(b"cl\xe9ps")
    folder.mkdir()
    result = classify(*model_args(), "--camera", media_path("carving_ice.mp4"), "--no-display", "--record", folder)
    assert result.returncode == 2 and not any(folder.iterdir())
    assert result.stderr.splitlines() == [
        f"error: --record {tmp_path}/cl\\xe9ps: the name is not UTF-8 text: rename it (convmv does), "
        "or give another path (see python classify.py --help)"
    ]
    for given, words in (
        (["--camera", f"{folder}/clip.mp4"], "--camera "),
        (["--model", f"{folder}/a0.tflite"], "--model "),
        (["--log", f"{folder}/me@home.jsonl"], "--log "),  # a file's name with an @ is still shown
        (["--camera", "rtsp://viewer:" + os.fsdecode(b"p\xe9ss") + "@cam/stream"], "--camera: the URL is not UTF-8 text"),
        (["--camera", "rstp://viewer:" + os.fsdecode(b"p\xe9ss") + "@cam/stream"], "--camera: the URL is not UTF-8 text"),
        (["--camera", "rtsp:/cam/live?password=" + os.fsdecode(b"p\xe9ss")], "--camera: the URL is not UTF-8 text"),
        (["--mqtt", "broker", "--mqtt-password", os.fsdecode(b"p\xe9ss")], "--mqtt-password: the value is not UTF-8 text"),
    ):
        with pytest.raises(FlagError) as refused:
            parse_settings(given)
        message = str(refused.value)
        assert message.startswith(words) and "\udce9" not in message
        assert ("\\xe9" in message) == (given[-1].startswith(str(folder)))  # a name is shown, a password or URL not
    for variable in ("MQTT_PASSWORD", "MOVINET_INSTANCE"):  # a traceback from paho; blamed on --mqtt-topic
        with monkeypatch.context() as env:
            env.setenv(variable, os.fsdecode(b"k\xffche"))
            with pytest.raises(FlagError, match=rf"^\${variable}: the value is not UTF-8 text: set it in UTF-8"):
                parse_settings(["--camera", "clip.mp4", "--mqtt", "broker"])
    for given, words in (  # argparse's own messages quote such bytes as the app's checks do (they showed \udcff)
        (["--fps", os.fsdecode(b"\xff")], "got '\\xff'"),
        (["--camer" + os.fsdecode(b"\xff"), "x"], "unknown flag(s): --camer\\xff"),
    ):
        with pytest.raises(FlagError) as refused:
            parse_settings(given)
        assert words in str(refused.value) and "udc" not in str(refused.value)
    with monkeypatch.context() as env:  # a password given with the flag: the variable is not read
        env.setenv("MQTT_PASSWORD", os.fsdecode(b"k\xffche"))
        assert parse_settings(["--camera", "clip.mp4", "--mqtt", "broker", "--mqtt-password", "good"]).mqtt == "broker"


SECRET = "Pw12345"  # searched for in every line below


@pytest.mark.slow  # 6 app starts
@pytest.mark.parametrize(
    "camera, words",
    [
        (f"rtsp://viewer:{SECRET}/9@192.168.1.20/stream1", "rtsp://192.168.1.20/stream1: an @ comes after the host"),
        (f"rtsp://viewer:{SECRET}#9@192.168.1.20/stream1", "%23"),
        (f"rtsp://viewer:{SECRET}@[fe80::1/stream1", "IPv6 address is written in brackets"),
        (f"rtsp://viewer:{SECRET}@192.168.1.20:99999/stream1", "not a number from 1 to 65535"),
        (f"rstp://viewer:{SECRET}@192.168.1.20/stream1", "rstp:/... is not an IP camera's URL"),  # a typo
        (f" rtsp:/viewer:{SECRET}@192.168.1.20/stream1", "rtsp:/... is not an IP camera's URL"),
    ],
)
def test_a_camera_url_that_cannot_work_is_one_error_line_without_its_login(camera, words):
    for args, env, where in (["--camera", camera], {}, "--camera"), ([], {"MOVINET_CAMERA": camera}, "$MOVINET_CAMERA"):
        result = classify(*args, "--no-display", timeout=30, **env)
        assert result.returncode == 2 and result.stdout == "", result.stderr
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"error: {where}: ") and words in line
        assert SECRET not in line and "viewer" not in line


@pytest.mark.slow  # 5 app starts
@pytest.mark.parametrize(
    "args, line",
    [
        (["--camra", f"rtsp://viewer:{SECRET}@cam/x"], "error: unknown flag(s): --camra"),
        ([f"--cam=rtsp://viewer:{SECRET}@cam/x"], "error: ambiguous option: --cam could match"),
        ([f"rtsp://viewer:{SECRET}@cam/x"], "error: 1 value(s) with no flag before them"),
        (["--rtsp-transport", f"rtsp://viewer:{SECRET}@cam/x"], "got 'rtsp://cam/x'"),
        (["--mqt-password", SECRET], "error: unknown flag(s): --mqt-password"),
    ],
)
def test_a_mistyped_flag_does_not_show_the_password_after_it(args, line):
    result = classify(*args, timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    (shown,) = result.stderr.splitlines()
    assert line in shown and SECRET not in shown and "viewer" not in shown


@pytest.mark.slow  # a clip played more than once, through the app
def test_loop_plays_a_video_file_again_and_again():
    clip = media_path("carving_ice_rpi.mp4")
    once = paced_count(*decodable_frames(clip))
    wanted = 2 * once + 5  # into the third pass
    result = classify(*model_args(), "--camera", clip, "--no-display", "--log", "-", "--loop", "--max-frames", wanted)
    assert result.returncode == 0, result.stderr
    records = frame_records(result.stdout)
    assert len(records) == wanted
    times = [r["time_s"] for r in records]
    assert all(abs((b - a) - 0.2) < 0.04 for a, b in zip(times, times[1:]))  # time runs on across the passes
    assert records[-1]["top"][0]["label"] == "carving ice"


def test_a_file_of_flags_as_a_person_writes_it(tmp_path):
    """An editor's byte-order mark, a comment, blank lines, a flag and its value on one line, a
    flag with spaces around it: each was "2 value(s) with no flag before them" or a file not
    found. The line after a flag that takes a value stays its value as it is."""
    flags = tmp_path / "door.args"
    lines = ["\ufeff# the door camera", "", f"--camera {media_path('carving_ice.mp4')}", "  --no-display  ", "--log", "-"]
    flags.write_text("\n".join([*lines, "--max-frames 3", "--as", "# not a comment", ""]), encoding="utf-8")
    result = classify(*model_args(), f"@{flags}", timeout=60)
    assert error_line(result).startswith("error: --as says what an event was: give the event with --correct ID")
    flags.write_text("\n".join([*lines, "--max-frames\t3", ""]), encoding="utf-8")
    result = classify(*model_args(), f"@{flags}", timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(frame_records(result.stdout)) == 3
    from video_classifier.options import parse_settings

    flags.write_text('--serve-tok "a token with spaces"\n--camera\t0\n--serve 8080\n', encoding="utf-8")
    assert (parse_settings([f"@{flags}"]).serve_token, parse_settings([f"@{flags}"]).camera) == ("a token with spaces", "0")
    flags.write_text("--mqtt-pasword hunter2\n", encoding="utf-8")  # a typo: the value must not be shown
    assert error_line(classify(*model_args(), f"@{flags}", timeout=60)).startswith("error: unknown flag(s): --mqtt-pasword (")


def test_a_file_of_flags_that_cannot_be_read_is_one_error_line(tmp_path):
    latin = tmp_path / "cam.args"
    latin.write_bytes(b"--camera\nrtsp://viewer:p\xe9ss@cam/x\n")  # saved by an editor in Latin-1
    for args, words in (
        ([f"@{latin}"], f"the file of flags @{latin} is not UTF-8 text: save it as UTF-8"),
        ([f"@{tmp_path}/gone.args"], f"cannot read the file of flags @{tmp_path}/gone.args (No such file or directory)"),
        (["--fps", "@"], "--fps: cannot read the file of flags @ (No such file or directory)"),
        # after a flag that takes no value, the file is not that flag's value
        (["--no-display", f"@{tmp_path}/gone.args"], f"cannot read the file of flags @{tmp_path}/gone.args (No such"),
    ):
        result = classify(*args, timeout=30)
        assert result.returncode == 2 and result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"error: {words}")


def test_closed_or_abandoned_standard_streams(tmp_path):
    """``2>&-``: the run goes on and its log is whole (a closed stderr crashed it). ``>&-``: a
    success stays a success. stderr piped into a reader that left (``2>&1 >/dev/null | head -1``):
    the run stops, and its status says it could not finish (it said 0)."""
    clip = media_path("carving_ice.mp4")
    model = ["--model", model_path("movinet_a0_stream_int8.tflite"), "--labels", model_path("kinetics600_label_map.txt")]
    log = tmp_path / "log.jsonl"
    run = [sys.executable, CLASSIFY, *map(str, model), "--camera", str(clip), "--no-display"]
    quiet = subprocess.run(
        [*run, "--log", str(log)],
        stderr=subprocess.DEVNULL,
        env=app_env(),
        timeout=120,
        close_fds=True,
        preexec_fn=lambda: os.close(2),
    )
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert quiet.returncode == 0 and records[-1]["type"] == "event" and records[-1]["label"] == "carving ice"
    no_stdout = subprocess.run(
        run,
        capture_output=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=app_env(),
        timeout=120,
        preexec_fn=lambda: os.close(1),
    )
    assert no_stdout.returncode == 0 and b"done: " in no_stdout.stderr
    abandoned = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=app_env())
    abandoned.stderr.readline()
    abandoned.stderr.close()
    assert abandoned.wait(timeout=120) == 2


def test_a_log_the_disk_takes_only_part_of_ends_with_its_last_whole_record(tmp_path):
    """A full disk takes part of a line: it is cut off again, so every line left is a whole record.
    (A file size limit stands in for the full disk: the same partial write, then an error.)"""
    import resource

    log = tmp_path / "log.jsonl"
    limit = 3000

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    model = ["--model", model_path("movinet_a0_stream_int8.tflite"), "--labels", model_path("kinetics600_label_map.txt")]
    command = [sys.executable, CLASSIFY, *map(str, model), "--camera", str(media_path("carving_ice.mp4")), "--no-display"]
    done = subprocess.run(
        [*command, "--log", str(log)], capture_output=True, text=True, env=app_env(), timeout=120, preexec_fn=small_files
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(f"error: cannot write to log {log} (File too large)")
    text = log.read_text()
    assert 0 < len(text) <= limit and text.endswith("\n")
    assert all(json.loads(line)["top"] for line in text.splitlines())
