"""Shared fixtures: where the real models and clips are, and a real X server for window tests.

Settings (environment variables):
    MOVINET_MODELS  folder with the models (default: models/, filled by ./setup.sh)
    MOVINET_MEDIA   folder with the test clips (default: media/)
Under CI (CI=true) a missing model or clip fails the test instead of skipping it.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The fast and the slow tier: which tests need a slow thing, found from their code (see tiers.py).
from tiers import pytest_collection_modifyitems, pytest_runtest_protocol, pytest_terminal_summary  # noqa: E402, F401 (hooks)

MODELS = Path(os.environ.get("MOVINET_MODELS", ROOT / "models")).resolve()
MEDIA = Path(os.environ.get("MOVINET_MEDIA", ROOT / "media")).resolve()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# A suite started in the background by a script inherits Ctrl-C as ignored, and so would the app
# under test, which the Ctrl-C tests then cannot stop. A handler is not inherited: the app gets
# the default back, as in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
ARTIFACTS = ROOT / "artifacts"
FAKES_DIR = ROOT / "tests" / "fakes"  # the picamera2 stand-in; put it on PYTHONPATH

A0 = "movinet_a0_stream_int8.tflite"
KINETICS_LABELS = "kinetics600_label_map.txt"

# Clip -> expected Kinetics-600 top-1 (see the media folder's README).
EXPECTED = {
    "carving_ice.mp4": "carving ice",
    "carving_ice_rpi.mp4": "carving ice",
    "arm_wrestling_mmaction2_demo.mp4": "arm wrestling",
    "cleaning_pool_mmaction2_test.mp4": "cleaning pool",
    "flipping_a_pancake.mkv": "flipping pancake",
    "v_CricketShot_g04_c01_rgb.gif": "playing cricket",
    "apply_eye_makeup_mmaction2_test.avi": "putting on eyeliner",
    "jumping_jacks.mp4": "jumping jacks",
}


def pytest_configure(config) -> None:
    """A folder named by ``MOVINET_MODELS`` or ``MOVINET_MEDIA`` that is not there is a mistake in
    the command (a relative path typed in another folder), not missing clips: every test needing
    one skipped, and the run looked green. Nothing runs then."""
    for name, default in (("MOVINET_MODELS", "models/"), ("MOVINET_MEDIA", "media/")):
        given = os.environ.get(name)
        if given and not Path(given).is_dir():
            raise pytest.UsageError(
                f"{name}={given}: no such folder (from {Path.cwd()}): give the folder's path, or leave {name} unset for {default}"
            )


def require(path: Path) -> Path:
    """``path`` if it exists; otherwise fail under CI, skip elsewhere."""
    if path.exists():
        return path
    message = f"{path} not found: run tests/fetch_test_data.py, or set MOVINET_MODELS / MOVINET_MEDIA (see docs/testing.md)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_module(name: str, install: str):
    """The module ``name``; when it cannot be imported, fail under CI, skip elsewhere."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        message = f"{name} cannot be imported ({install})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def model_path(name: str = A0) -> Path:
    return require(MODELS / name)


def media_path(name: str) -> Path:
    return require(MEDIA / name)


@pytest.fixture(scope="session")
def a0_path() -> Path:
    return model_path(A0)


@pytest.fixture(scope="session")
def labels_path() -> Path:
    return model_path(KINETICS_LABELS)


@pytest.fixture(scope="session")
def kinetics_labels(labels_path) -> list[str]:
    from video_classifier.model.labels import read_label_file

    return read_label_file(labels_path)


@pytest.fixture(scope="session")
def runtime():
    from video_classifier.model.runtime import load_runtime

    return load_runtime("auto")


def read_frames(path: Path, fps: float = 5.0) -> list:
    """The frames of a clip that the pacer gives the model, as BGR arrays."""
    from tests.support.video_frames import paced_frames

    return paced_frames(path, fps)


def open_classifier(model: str = A0, labels: str | None = KINETICS_LABELS, **settings):
    """The app's classifier (as ``classify.py`` builds it) for a model of ``$MOVINET_MODELS``,
    on one thread; ``settings`` are :class:`Settings` fields (``window=0``: no window)."""
    from video_classifier.app import open_classifier as app_classifier
    from video_classifier.settings import Settings

    labels_path = str(model_path(labels)) if labels else None
    settings.setdefault("num_threads", 1)
    return app_classifier(Settings(model=str(model_path(model)), labels=labels_path, **settings))


def top_actions(classifier, frame):
    """Feed one frame; the classifier's top-k :class:`Category` list."""
    return classifier.top(classifier.scores(frame)[0])


def to_model_input(frame, size: tuple[int, int], crop: str = "center"):
    """A float32 ``[1, 1, H, W, 3]`` array in [0, 1] made with the app's preprocessing, as a
    MoViNet stream model takes it (for feeding the interpreter directly)."""
    import numpy as np

    from video_classifier.model.preprocess import fill_input, resize_rgb

    width, height = size
    out = np.empty((1, 1, height, width, 3), np.float32)
    fill_input(out[0, 0], resize_rgb(frame, size, crop))
    return out


@pytest.fixture(scope="session")
def xvfb():
    """A real X server (Xvfb) on a free display number; yields the DISPLAY string."""
    if shutil.which("Xvfb") is None:
        if IN_CI:
            pytest.fail("Xvfb is not installed (apt-get install xvfb)")
        pytest.skip("Xvfb is not installed")
    # Displays from :90 up (:0 would pass for the Pi's desktop).
    proc, display = start_xvfb(range(90, 130))
    window_manager = start_window_manager(display)
    yield display
    window_manager.terminate()
    window_manager.wait(5)
    proc.terminate()
    proc.wait(5)


def start_xvfb(numbers: range) -> tuple[subprocess.Popen, str]:
    """A 1280x720 Xvfb on the first free display of ``numbers``: the server and its DISPLAY.
    -noreset: by default the server resets when its last client leaves, and a window opened just
    after the app's probe connection closed would then fail to connect."""
    for number in numbers:
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        command = ["Xvfb", f":{number}", "-screen", "0", "1280x720x24", "-nolisten", "tcp", "-noreset"]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if owns_display(proc, number):
            return proc, f":{number}"
        proc.kill()
        proc.wait(5)
    pytest.fail("Xvfb did not start")


def owns_display(server: subprocess.Popen, number: int) -> bool:
    """Whether ``server`` is the X server of display ``number``: its pid is in the display's lock
    file. A test worker that started at the same moment on the same number loses (its server
    exits on the lock), however long that takes on a busy CPU; it must not take the other's
    display for its own, or the two workers' windows and keys would mix."""
    lock, socket = Path(f"/tmp/.X{number}-lock"), Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + 10
    while server.poll() is None and time.monotonic() < deadline:
        try:
            if lock.read_text().strip() == str(server.pid) and socket.exists():
                return True
        except OSError:
            pass  # not written yet
        time.sleep(0.05)
    return False


def start_window_manager(display: str) -> subprocess.Popen:
    """Openbox on ``display``, managing windows as the Pi's desktop does.

    Without a window manager, the Qt 5.15 in opencv-python now and then never sees its window's
    first MapNotify when the CPU is busy (5 of 25 app starts with two busy cores): it then takes the
    window for unmapped and never paints it, a black window for the whole run. With a window
    manager the map goes through it, as on every Pi desktop, and the window paints (0 of 50).
    """
    binary, xdotool = require_program("openbox", "openbox"), require_program("xdotool", "xdotool")
    env = dict(os.environ, DISPLAY=display)
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        # Its check window exists once it has taken the screen over.
        found = subprocess.run([xdotool, "search", "--class", "openbox"], env=env, capture_output=True, timeout=10)
        if found.stdout.strip():
            return proc
        time.sleep(0.05)
    proc.kill()
    pytest.fail("openbox did not start on the test display")


def classify_command(*args) -> list[str]:
    """``python classify.py`` with the real A0 and its labels, then ``args``."""
    model = ["--model", model_path(A0), "--labels", model_path(KINETICS_LABELS)]
    return [sys.executable, str(ROOT / "classify.py"), *map(str, model), *map(str, args)]


def app_env(**extra: str) -> dict[str, str]:
    """Environment for running classify.py in a subprocess."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "XAUTHORITY")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_program(name: str, package: str) -> str:
    """The path of a program the test needs; fail under CI, skip elsewhere, when it is missing."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        message = f"{name} is not installed (apt-get install {package})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


class Broker:
    """A real mosquitto broker on a loopback port, which a test can stop and start again.

    Persistence is on, so that a subscriber's session (and the messages queued for it)
    survives a restart, as on a real broker that is restarted by its service manager.
    """

    def __init__(self, folder: Path, password_file: Path | None = None, tls: tuple[Path, Path] | None = None) -> None:
        self.binary = require_program("mosquitto", "mosquitto")
        self.port = free_port()
        self.folder = folder
        self.config = folder / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"user {getpass.getuser()}",  # run as root, it would switch to 'mosquitto' and lose access to folder
            "persistence true",
            f"persistence_location {folder}/",
            f"log_dest file {folder}/mosquitto.log",
        ]
        if tls:  # (certificate, key)
            lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
        if password_file:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        self.config.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Broker:
        import socket

        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        pytest.fail(f"mosquitto did not start: {(self.folder / 'mosquitto.log').read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def broker(tmp_path):
    """A running mosquitto on a free loopback port."""
    folder = tmp_path / "broker"
    folder.mkdir()
    b = Broker(folder).start()
    yield b
    b.stop()


class Subscriber:
    """A paho client that records every message under ``topic`` with its arrival time.

    It keeps its session (clean_session=False, QoS 1), so messages published while it is
    reconnecting after a broker restart are delivered when it is back.
    """

    def __init__(self, port: int, topic: str = "#", name: str = "test-subscriber") -> None:
        import threading

        import paho.mqtt.client as mqtt

        self.messages: list[tuple[float, str, bytes, bool]] = []  # (time, topic, payload, retained)
        self._cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{port}", clean_session=False)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        with self._cond:
            self.messages.append((time.monotonic(), message.topic, message.payload, bool(message.retain)))
            self._cond.notify_all()

    def on(self, topic: str) -> list[bytes]:
        with self._cond:
            return [payload for _, t, payload, _ in self.messages if t == topic]

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:
        """Wait until ``predicate(self)`` holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _frames_of(name: str, size: tuple[int, int]) -> tuple[list, float]:
    """Every frame of a shared clip, resized, and its frame rate."""
    import cv2

    capture = cv2.VideoCapture(str(media_path(name)))
    rate = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    capture.release()
    return frames, rate


def _write(path: Path, pieces: list[tuple[list, float, float]], fps: float, size: tuple[int, int], mirror: bool = False) -> Path:
    """An MP4 at ``fps`` of (frames, their rate, seconds) pieces, each looped at its own pace."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for frames, rate, seconds in pieces:
        for i in range(round(seconds * fps)):
            frame = frames[int(i / fps * rate) % len(frames)]
            writer.write(cv2.flip(frame, 1) if mirror else frame)
    writer.release()
    return path


def write_clip(path: Path, parts: list[tuple[str, float]], fps: float = 30.0, size: tuple[int, int] = (320, 240)) -> Path:
    """An MP4 made of (clip name, seconds) parts, each clip looped at its own pace as needed."""
    return _write(path, [(*_frames_of(name, size), seconds) for name, seconds in parts], fps, size)


def write_half(
    path: Path, name: str, half: int, seconds: float, fps: float = 30.0, mirror: bool = False, size: tuple[int, int] = (320, 240)
) -> Path:
    """An MP4 of the first (``half=0``) or second (``half=1``) half of a shared clip, looped at
    its own pace to ``seconds``, written at ``fps`` (frames repeated or dropped), maybe mirrored."""
    frames, rate = _frames_of(name, size)
    middle = len(frames) // 2
    return _write(path, [(frames[:middle] if half == 0 else frames[middle:], rate, seconds)], fps, size, mirror)


def start_live_app(*args, clip: Path | None = None, preexec_fn=None, **env: str) -> tuple[subprocess.Popen, str]:
    """The app with ``--no-display`` on the picamera2 stand-in serving ``clip`` (default carving
    ice), started with ``args`` that include ``--serve``; returns it and the live view URL it printed."""
    clip = clip or media_path("carving_ice.mp4")
    environment = app_env(PYTHONPATH=str(FAKES_DIR), FAKE_PICAMERA2_CLIP=str(clip), **env)
    cmd = classify_command("--no-display", *args)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=environment, preexec_fn=preexec_fn
    )
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if match := re.match(r"live view: (\S+)", line):
            return proc, match.group(1)
    proc.wait(10)
    pytest.fail("the app printed no live view address:\n" + "".join(seen))


TWO_ACTIONS = [("arm_wrestling_mmaction2_demo.mp4", 8.0), ("cleaning_pool_mmaction2_test.mp4", 8.0)]


@pytest.fixture(scope="session")
def two_action_clip(tmp_path_factory) -> Path:
    """8 s of arm wrestling, then 8 s of cleaning a pool (320x240, 30 fps: the rate the picamera2
    stand-in serves frames at, so that it plays at the right speed there too)."""
    return write_clip(tmp_path_factory.mktemp("clips") / "two_actions.mp4", TWO_ACTIONS)


# One room, two activities (the NTU clips): the same-room case of teach mode and its corrections.
NTU_DRINK, NTU_HUGGING = "ntu_S001C001P001R001A001_drink_water.avi", "hugging_ntu_mmaction2_demo_skeleton.mp4"


def teach_drink(folder: Path) -> Path:
    """``folder/actions.json`` with only "drink" taught, from the first half of the NTU drinking clip."""
    actions = folder / "actions.json"
    lesson = write_half(folder / "drink-first.mp4", NTU_DRINK, 0, 6.0, size=(640, 360))
    taught = subprocess.run(
        classify_command("--actions", actions, "--learn", "drink", "--camera", lesson),
        capture_output=True,
        text=True,
        env=app_env(),
        timeout=120,
    )
    assert taught.returncode == 0, taught.stderr
    return actions
