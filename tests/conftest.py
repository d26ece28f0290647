"""Shared fixtures: where the real models and clips are, and a real X server for window tests.

Settings (environment variables):
    MOVINET_MODELS  folder with the models (default: models/, filled by ./setup.sh)
    MOVINET_MEDIA   folder with the test clips (default: media/)
Under CI (CI=true) a missing model or clip fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = Path(os.environ.get("MOVINET_MODELS", ROOT / "models")).resolve()
MEDIA = Path(os.environ.get("MOVINET_MEDIA", ROOT / "media")).resolve()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ARTIFACTS = ROOT / "artifacts"

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


def require(path: Path) -> Path:
    """``path`` if it exists; otherwise fail under CI, skip elsewhere."""
    if path.exists():
        return path
    message = f"{path} not found: set MOVINET_MODELS / MOVINET_MEDIA (see README)"
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
    from video_classifier.labels import read_label_file

    return read_label_file(labels_path)


@pytest.fixture(scope="session")
def runtime():
    from video_classifier.runtime import load_runtime

    return load_runtime("auto")


def read_frames(path: Path, fps: float = 5.0) -> list:
    """The frames of a clip that the pacer gives the model, as BGR arrays."""
    from video_classifier.pacer import paced_frames

    return paced_frames(path, fps)


@pytest.fixture(scope="session")
def xvfb():
    """A real X server (Xvfb) on a free display number; yields the DISPLAY string."""
    if shutil.which("Xvfb") is None:
        if IN_CI:
            pytest.fail("Xvfb is not installed (apt-get install xvfb)")
        pytest.skip("Xvfb is not installed")
    for number in range(90, 130):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    display = f":{number}"
    # -noreset: by default the server resets when its last client leaves, and a window opened
    # just after the app's probe connection closed would then fail to connect.
    command = ["Xvfb", display, "-screen", "0", "1280x720x24", "-nolisten", "tcp", "-noreset"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("Xvfb did not start")
        time.sleep(0.05)
    yield display
    proc.terminate()
    proc.wait(5)


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
