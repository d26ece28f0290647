"""The Pi camera path, with the camera hardware replaced by tests/fakes/picamera2.py."""

import json
import logging
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FAKES_DIR, ROOT, app_env, classify_command, media_path, open_classifier

from video_classifier.errors import SourceError
from video_classifier.outputs import Output
from video_classifier.pipeline import Pipeline

FAKES = ROOT / "tests" / "fakes"


@pytest.fixture
def fake_picamera2(monkeypatch, tmp_path):
    """Installs the stand-in module as ``picamera2``, serving a real clip at 30 fps."""
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    monkeypatch.setenv("FAKE_PICAMERA2_CLIP", str(media_path("carving_ice.mp4")))
    monkeypatch.setenv("FAKE_PICAMERA2_RECORD", str(tmp_path / "calls.txt"))
    import picamera2

    picamera2.Picamera2.instances.clear()
    yield picamera2
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)


class Recorder(Output):
    def __init__(self):
        self.predictions = []
        self.shown = []  # the shapes of the pictures the window, live view and clips get

    def on_frame(self, frame):
        self.shown.append(frame.image.shape)

    def on_prediction(self, prediction):
        self.predictions.append(prediction)


def test_model_gets_frames_200_ms_apart_by_sensor_time(fake_picamera2):
    from video_classifier.sources.pi_camera import Picamera2Source

    classifier = open_classifier()
    recorder = Recorder()
    with Picamera2Source(640, 480, fps=30) as camera:
        pipeline = Pipeline(camera, classifier, fps=5, output=recorder, max_predictions=12).start()
        assert pipeline.wait(20)
        pipeline.stop()
    assert pipeline.error is None
    times = [p.time_s for p in recorder.predictions]
    assert len(times) == 12
    assert all(0.18 <= b - a <= 0.22 for a, b in zip(times, times[1:]))
    assert pipeline.frames_captured >= 60  # the camera ran at 30 fps meanwhile
    cam = fake_picamera2.Picamera2.instances[0]
    assert cam.closed and not cam.started
    assert cam._config["main"] == {"size": (640, 480), "format": "RGB888"}
    assert cam._config["controls"]["FrameDurationLimits"] == (33333, 33333)
    assert recorder.predictions[-1].top[0].label == "carving ice"


def test_no_camera_attached_is_a_clear_error(fake_picamera2, monkeypatch):
    from video_classifier.sources.pi_camera import Picamera2Source

    monkeypatch.setenv("FAKE_PICAMERA2_CAMERAS", "0")
    with pytest.raises(SourceError, match="no Pi camera detected"):
        Picamera2Source(640, 480)


def run_app(tmp_path, *args, **env):
    record = tmp_path / "calls.txt"
    cmd = classify_command("--no-display", *args)
    clip = str(media_path("carving_ice.mp4"))
    environment = app_env(PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=clip, FAKE_PICAMERA2_RECORD=str(record), **env)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment), record


def calls(record: Path) -> list[str]:
    return record.read_text().split()


def test_picamera2_is_the_default_camera_and_is_closed_at_the_end(tmp_path):
    proc, record = run_app(tmp_path, "--max-frames", "5", "--log", "-")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "source: picamera2" in err
    assert len(out.splitlines()) == 5
    assert calls(record) == ["open", "configure", "start", "stop", "close"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_stop_cleanly_within_a_second(tmp_path, sig):
    log = tmp_path / "log.jsonl"
    proc, record = run_app(tmp_path, "--log", log)
    deadline = time.monotonic() + 30
    while not (log.exists() and len(log.read_text().splitlines()) >= 3):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 1.0
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line is complete JSON
    assert all("top" in r or r.get("type") == "event" for r in records)
    assert calls(record)[-2:] == ["stop", "close"]


def test_a_camera_that_never_comes_back_gives_up_after_the_timeout(tmp_path):
    log = tmp_path / "log.jsonl"
    proc, record = run_app(tmp_path, "--log", log, "--camera-timeout", "2", FAKE_PICAMERA2_FAIL_AFTER="30")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1].startswith("error: picamera2 lost for 2 s, giving up")
    assert "camera lost, retrying" in err and "Traceback" not in err
    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line complete
    assert [r["state"] for r in records if r.get("type") == "camera"] == ["lost"]
    assert sum("top" in r for r in records) >= 3  # what was classified before the loss is kept
    assert calls(record)[-2:] == ["stop", "close"]


def test_a_camera_that_comes_back_is_used_again(tmp_path):
    log = tmp_path / "log.jsonl"
    proc, record = run_app(
        tmp_path, "--log", log, "--max-frames", "20", FAKE_PICAMERA2_FAIL_AFTER="30", FAKE_PICAMERA2_RECOVER_AFTER_S="0.8"
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in log.read_text().splitlines()]
    states = [r["state"] for r in records if r.get("type") == "camera"]
    assert states[:2] == ["lost", "restored"]
    frames = [r for r in records if "top" in r]
    assert len(frames) == 20
    restored_at = next(r["time_s"] for r in records if r.get("state") == "restored")
    assert frames[-1]["time_s"] > restored_at  # predictions went on after the reconnect
    assert all(b["time_s"] > a["time_s"] for a, b in zip(frames, frames[1:]))  # one continuous clock
    assert calls(record).count("open") >= 2 and calls(record)[-1] == "close"


def test_a_busy_camera_is_a_clear_error(tmp_path):
    proc, _ = run_app(tmp_path, FAKE_PICAMERA2_BUSY="1")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1].startswith("error: the Pi camera cannot be opened")
    assert "another program" in err


def test_headless_prints_the_current_actions_about_once_a_second(tmp_path):
    proc, _ = run_app(tmp_path, "--max-frames", "14")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    reports = re.findall(r"^\[\d\d:\d\d:\d\d\] (\w[\w ]*) \d\.\d\d", err, re.MULTILINE)
    assert 1 <= len(reports) <= 4  # 14 model frames = 2.8 s
    assert reports[-1] == "carving ice"


def test_a_stalled_camera_is_noticed_by_its_frame_timeout_and_reopened(tmp_path):
    log = tmp_path / "log.jsonl"
    proc, record = run_app(tmp_path, "--log", log, "--max-frames", "6", FAKE_PICAMERA2_HANG_AFTER="20")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "camera lost, retrying (the Pi camera stopped delivering frames (capture_request timed out)" in err
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["state"] for r in records if r.get("type") == "camera"][:2] == ["lost", "restored"]
    assert sum("top" in r for r in records) == 6
    assert calls(record).count("open") >= 2 and calls(record)[-2:] == ["stop", "close"]


def test_the_stand_in_stalls_like_picamera2_when_requests_are_not_released(fake_picamera2):
    camera = fake_picamera2.Picamera2()
    camera.configure(camera.create_video_configuration(main={"size": (320, 240), "format": "RGB888"}))
    camera.start()
    held = [camera.capture_request(wait=1.0) for _ in range(6)]  # the video configuration's 6 buffers
    with pytest.raises(TimeoutError):
        camera.capture_request(wait=0.2)
    held[0].release()
    camera.capture_request(wait=1.0).release()  # a buffer is back: frames flow again
    camera.close()


def test_the_stand_in_checks_its_configuration(fake_picamera2):
    camera = fake_picamera2.Picamera2()
    with pytest.raises(TypeError):
        camera.create_video_configuration(main={"size": (640, 480)}, trnasform=None)
    with pytest.raises(ValueError):
        camera.create_video_configuration(main={"size": (640, 480), "format": "RGB24"})
    with pytest.raises(RuntimeError, match="not advertised"):
        camera.create_video_configuration(controls={"FrameDurationLimit": (1, 1)})
    camera.close()


@pytest.mark.parametrize(("flags", "flip"), [({"hflip": True}, 1), ({"vflip": True}, 0), ({"hflip": True, "vflip": True}, -1)])
def test_a_flipped_camera_gives_flipped_pixels_to_the_model(fake_picamera2, a0_path, runtime, flags, flip):
    import cv2
    import numpy as np

    from video_classifier.model.movinet import MovinetStream
    from video_classifier.sources.pi_camera import Picamera2Source

    def first_input(**options):
        with Picamera2Source(640, 480, fps=30, **options) as camera:
            for _ in range(15):  # past the clip's black first frames
                frame = camera.read().image
        model = MovinetStream(a0_path, runtime=runtime)
        model.set_input(frame)
        return frame, model._image()[0, 0].copy()

    plain_frame, plain_input = first_input()
    flipped_frame, flipped_input = first_input(**flags)
    assert not np.array_equal(plain_frame, flipped_frame)
    np.testing.assert_array_equal(flipped_frame, cv2.flip(plain_frame, flip))
    # What the model is given: flipped too, within one grey level (area resizing rounds a handful of
    # values differently when the picture is mirrored), far from the unflipped input.
    np.testing.assert_allclose(flipped_input, cv2.flip(plain_input, flip), atol=1 / 255 + 1e-6)
    assert np.abs(flipped_input - plain_input).mean() > 0.02
    config = fake_picamera2.Picamera2.instances[-1]._config
    assert (config["transform"].hflip, config["transform"].vflip) == (flags.get("hflip", False), flags.get("vflip", False))


@pytest.mark.parametrize(
    ("main", "model", "crop", "lores"),
    [
        ((640, 480), (172, 172), "center", (230, 172)),  # 229.3 rounded up to even
        ((1280, 720), (172, 172), "center", (306, 172)),
        ((1920, 1080), (224, 224), "center", (400, 224)),
        ((480, 640), (172, 172), "center", (172, 230)),  # a camera on its side
        ((640, 480), (172, 172), "none", (172, 172)),  # the model squashes the picture: the ISP does
        ((160, 120), (172, 172), "center", None),  # main is no larger than the model's input
        ((160, 120), (172, 172), "none", None),
    ],
)
def test_the_lores_stream_is_the_model_size_scaled_from_mains_whole_view(main, model, crop, lores):
    from video_classifier.sources.pi_camera import lores_size

    assert lores_size(main, model, crop) == lores


def test_the_model_is_fed_the_lores_picture_and_the_window_gets_the_main_one(fake_picamera2):
    from video_classifier.sources import open_source
    from video_classifier.sources.reconnect import ReconnectingSource

    classifier, fed = open_classifier(), []
    scores = classifier.scores
    classifier.scores = lambda frame: (fed.append(frame.shape), scores(frame))[1]  # the real model, its pictures noted
    classifier.keep_features = True  # the per-frame features teach mode learns from
    size = classifier.model.input_size
    recorder = Recorder()

    def reopen():
        return open_source("picamera2", width=640, height=480, camera_fps=30, model_size=size)

    camera = reopen()
    with ReconnectingSource(camera, reopen) as source:  # wrapped as the app wraps a live camera
        pipeline = Pipeline(source, classifier, fps=5, output=recorder, max_predictions=12).start()
        assert pipeline.wait(20)
        pipeline.stop()
    assert pipeline.error is None
    assert camera.lores_size == (230, 172)
    assert fed == [(172, 230, 3)] * 12
    assert len(recorder.shown) >= 60 and set(recorder.shown) == {(480, 640, 3)}
    top = recorder.predictions[-1].top[0]
    assert top.label == "carving ice" and top.score > 0.6  # the clip's official test: top-1, above 0.6
    assert all(p.features is not None and p.features.shape == (480,) for p in recorder.predictions)
    config = fake_picamera2.Picamera2.instances[0]._config
    assert config["lores"] == {"size": (230, 172), "format": "YUV420"}
    assert config["colour_space"] == config["colour_space"].Smpte170m()  # the YUV that OpenCV decodes


@pytest.mark.parametrize(("size", "crop"), [((640, 480), "center"), ((1280, 720), "center"), ((640, 480), "none")])
def test_the_lores_picture_is_the_main_picture_scaled_and_goes_to_the_model_unresized(
    fake_picamera2, a0_path, runtime, size, crop
):
    from video_classifier.model.movinet import MovinetStream
    from video_classifier.sources.pi_camera import Picamera2Source

    with Picamera2Source(*size, fps=30, hflip=True, model_size=(172, 172), model_crop=crop) as camera:
        for _ in range(15):  # past the clip's black first frames
            frame = camera.read()
    width, height = camera.lores_size
    assert frame.image.shape == (size[1], size[0], 3) and frame.model_image.shape == (height, width, 3)
    # The same moment, field of view, mirroring and colours as main (within YUV 4:2:0's rounding).
    expected = cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(frame.model_image - expected).mean() < 2
    assert np.abs(frame.model_image - cv2.flip(expected, 1)).mean() > 20
    # Already the model's height: its centre square (or all of it, squashed by the ISP) goes in
    # as it is, no resize.
    model = MovinetStream(a0_path, runtime=runtime, crop=crop)
    model.set_input(frame.model_image)
    left = (width - 172) // 2
    centre = frame.model_image[:, left : left + 172, ::-1].astype(np.float32) / 255
    np.testing.assert_allclose(model._image()[0, 0], centre, atol=1e-6)


def test_a_camera_that_refuses_the_lores_stream_feeds_the_model_from_main_after_one_warning(
    fake_picamera2, monkeypatch, tmp_path, caplog
):
    from video_classifier.sources.pi_camera import Picamera2Source

    monkeypatch.setenv("FAKE_PICAMERA2_REFUSE_LORES", "1")
    with caplog.at_level(logging.INFO), Picamera2Source(640, 480, fps=30, model_size=(172, 172)) as camera:
        frame = camera.read()
    assert camera.lores_size is None and frame.lores is None
    assert frame.model_image is frame.image and frame.image.shape == (480, 640, 3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("the Pi camera gives no lores stream (Configuration failed")
    assert fake_picamera2.Picamera2.instances[0]._config["lores"] is None
    assert calls(tmp_path / "calls.txt") == ["open", "configure", "start", "stop", "close"]


def test_a_main_picture_no_larger_than_the_model_needs_asks_for_no_lores_stream(fake_picamera2, caplog):
    from video_classifier.sources.pi_camera import Picamera2Source

    with caplog.at_level(logging.WARNING), Picamera2Source(160, 120, fps=30, model_size=(172, 172)) as camera:
        frame = camera.read()
    assert camera.lores_size is None and frame.lores is None and not caplog.records
    assert fake_picamera2.Picamera2.instances[0]._config["lores"] is None


@pytest.mark.parametrize("platform", ["vc4", "pisp"])
def test_the_stand_in_serves_lores_as_picamera2_does_on_a_pi_4_and_a_pi_5(fake_picamera2, monkeypatch, platform):
    monkeypatch.setenv("FAKE_PICAMERA2_PLATFORM", platform)
    camera = fake_picamera2.Picamera2()
    with pytest.raises(RuntimeError, match="may not exceed main"):
        camera.configure(camera.create_video_configuration(main={"size": (320, 240)}, lores={"size": (640, 480)}))
    main = {"size": (320, 240), "format": "RGB888"}
    rgb = camera.create_video_configuration(main=main, lores={"size": (160, 120), "format": "RGB888"})
    if platform == "vc4":
        with pytest.raises(RuntimeError, match="must be YUV"):  # the Pi 4's ISP gives lores in YUV only
            camera.configure(rgb)
    else:
        camera.configure(rgb)
        camera.start()
        request = camera.capture_request(wait=1.0)
        assert request.make_array("lores").shape == (120, 160, 3)
        request.release()
        camera.stop()
    camera.configure(camera.create_video_configuration(main=main, lores={"size": (161, 121)}))
    assert camera.camera_config["lores"] == {"size": (160, 120), "format": "YUV420", "stride": 192}  # even; rows padded
    camera.start()
    request = camera.capture_request(wait=1.0)
    assert request.make_array("lores").shape == (180, 192)  # (h * 3 // 2, stride), as picamera2 returns it
    with pytest.raises(RuntimeError, match="not defined"):
        request.make_array("raw")
    request.release()
    camera.close()


def test_the_app_asks_the_pi_camera_for_a_lores_stream_at_the_models_size(fake_picamera2):
    """The app as it ships: the ISP scales the model's pictures (A0: 172 high, main's 4:3)."""
    from conftest import A0, KINETICS_LABELS, model_path

    from video_classifier.app import App
    from video_classifier.settings import Settings

    recorder = Recorder()
    settings = Settings(
        camera="picamera2", model=str(model_path(A0)), labels=str(model_path(KINETICS_LABELS)), no_display=True, max_frames=8
    )
    App(settings, extra_outputs=[recorder]).run()
    assert fake_picamera2.Picamera2.instances[0]._config["lores"] == {"size": (230, 172), "format": "YUV420"}
    assert recorder.predictions[-1].top[0].label == "carving ice"
