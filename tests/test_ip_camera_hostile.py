"""A camera that answers what no camera should (tests/ip_cameras.HostileCamera, on loopback):
bytes that are not HTTP, another protocol's status line, a 200 kB header line, more than 100
headers, a status that is no number, a redirect with an endless body, garbage after good frames. At start that is one ``error:``
line and exit status 2; while the app runs it is a lost camera, retried until it streams again
or ``--camera-timeout`` runs out; never a traceback."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from conftest import app_env, classify_command, media_path
from ip_cameras import HOSTILE_ANSWERS, HostileCamera

from video_classifier.sources.ip_camera import diagnose

CLIP = "carving_ice.mp4"


def records(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def top1s(log) -> list[str]:
    return [r["top"][0]["label"] for r in records(log) if "top" in r]


def one_error_line(done: subprocess.CompletedProcess) -> str:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.rstrip().endswith(errors[0]), done.stderr
    return errors[0]


def wait_until(condition, timeout: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the app exited ({proc.returncode}) waiting for {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} in {timeout:g} s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def camera():
    with HostileCamera(media_path(CLIP)) as server:
        yield server


@pytest.mark.parametrize("answer", HOSTILE_ANSWERS)
@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_the_diagnosis_names_a_hostile_answer_in_words(camera, answer, scheme):
    camera.answer = answer
    why = diagnose(f"{scheme}://127.0.0.1:{camera.port}/stream.mjpg", 5)
    kind = "RTSP" if scheme == "rtsp" else "HTTP"
    assert why == f"port {camera.port} of 127.0.0.1 answers, but not as an {kind} camera: check the port and the scheme"


@pytest.mark.parametrize("answer", HOSTILE_ANSWERS)
def test_a_hostile_answer_at_start_is_one_error_line(camera, answer):
    camera.answer = answer
    done = subprocess.run(
        classify_command("--no-display", "--max-frames", "5"),
        capture_output=True,
        text=True,
        timeout=120,
        env=app_env(MOVINET_CAMERA=camera.url()),
    )
    line = one_error_line(done)
    assert line == (
        f"error: {camera.url()}: port {camera.port} of 127.0.0.1 answers, but not as an HTTP camera: "
        "check the port and the scheme"
    )


def test_a_host_name_no_resolver_takes_is_one_error_line():
    label = "a" * 70  # over the 63 characters a name's label may have
    done = subprocess.run(
        classify_command("--no-display", "--camera", f"rtsp://{label}.example/live"),
        capture_output=True,
        text=True,
        timeout=120,
        env=app_env(),
    )
    assert f"unknown host {label}.example: check the camera's address" in one_error_line(done)


def start(camera: HostileCamera, log, timeout_s: float) -> subprocess.Popen:
    camera.answer = "frames"
    return subprocess.Popen(
        classify_command("--no-display", "--log", log, "--camera-timeout", str(timeout_s)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=app_env(MOVINET_CAMERA=camera.url()),
    )


@pytest.mark.slow  # the app on a camera in real time, through every hostile answer in turn (about 35 s)
def test_a_running_app_retries_through_every_hostile_answer_and_goes_on_when_frames_come_back(camera, tmp_path):
    """Good frames, then garbage in the stream (the camera is lost), then each hostile answer in
    turn to the reconnects (each reaches both FFmpeg's open and the diagnosis: two connections a
    try), then frames again: the camera is restored and classified as before."""
    log = tmp_path / "log.jsonl"
    proc = start(camera, log, timeout_s=120)
    try:
        wait_until(lambda: len(top1s(log)) >= 10, 60, proc, "10 model frames")
        for answer in HOSTILE_ANSWERS:
            wanted = camera.served[answer] + 3  # the third connection: a whole try is over
            camera.answer = answer
            wait_until(lambda a=answer, n=wanted: camera.served[a] >= n, 30, proc, f"a whole try answered with {answer}")
        assert [r["state"] for r in records(log) if r.get("type") == "camera"] == ["lost"]
        camera.answer = "frames"
        wait_until(lambda: any(r.get("state") == "restored" for r in records(log)), 30, proc, "the camera restored")
        restored_at = len(records(log))
        wait_until(lambda: sum("top" in r for r in records(log)[restored_at:]) >= 10, 60, proc, "10 model frames more")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "error:" not in err, err
    assert [r["state"] for r in records(log) if r.get("type") == "camera"] == ["lost", "restored"]
    assert "camera lost, retrying" in err and "camera restored" in err
    after = [r["top"][0]["label"] for r in records(log)[restored_at:] if "top" in r]
    assert after[-3:] == ["carving ice"] * 3, after


def test_a_camera_that_stays_hostile_is_given_up_on_after_the_camera_timeout(camera, tmp_path):
    log = tmp_path / "log.jsonl"
    proc = start(camera, log, timeout_s=4)
    try:
        wait_until(lambda: len(top1s(log)) >= 5, 60, proc, "5 model frames")
        camera.answer = "101 headers"
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, "", err)
    # Retried until the time-out (the message says so), not given up at the first answer.
    assert one_error_line(done) == (
        f"error: {camera.url()} lost for 4 s, giving up: port {camera.port} of 127.0.0.1 answers, "
        "but not as an HTTP camera: check the port and the scheme"
    )
    assert [r["state"] for r in records(log) if r.get("type") == "camera"] == ["lost"]
