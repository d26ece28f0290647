"""--serve: the live view in a real headless Chromium, and its token check over real HTTP."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
from conftest import ARTIFACTS, app_env, classify_command, media_path, require_program, start_live_app, write_clip

PAGE_BAR_RGB = (0x50, 0xC8, 0x78)  # the page's own score bars (#50c878)
OVERLAY_BAR_RGB = (120, 200, 80)  # the overlay's bars drawn into the picture (video_classifier.display.overlay.BAR, which is BGR)


def start_app(*args, clip: Path | None = None) -> tuple[subprocess.Popen, str]:
    """The app on the picamera2 stand-in serving ``clip`` (default carving ice); returns it and the printed URL."""
    return start_live_app(*args, clip=clip)


def stop_app(proc: subprocess.Popen) -> tuple[int, str]:
    proc.terminate()
    _, err = proc.communicate(timeout=20)
    return proc.returncode, err


def local(url: str) -> str:
    """The same address through loopback (the printed one may be the LAN address)."""
    return re.sub(r"^http://[^/]+:(\d+)/", r"http://127.0.0.1:\1/", url)


def chromium(tmp_path: Path, url: str, *mode: str) -> subprocess.CompletedProcess:
    browser = require_program("chromium", "chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    flags += ["--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=4000"]
    return subprocess.run([browser, *flags, *mode, url], capture_output=True, text=True, timeout=120, cwd=tmp_path)


def near(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 30) -> int:
    """How many pixels of an RGB image are within ``tolerance`` of ``rgb`` on every channel."""
    return int(np.all(np.abs(image.astype(int) - rgb) <= tolerance, axis=2).sum())


def test_the_browser_shows_the_stream_and_the_current_action(tmp_path):
    proc, url = start_app("--serve", "0")
    try:
        assert url.startswith("http://127.0.0.1:") and "token" not in url  # loopback: no token needed
        # The event starts after the stream's 1.2 s of settling and the 1 s hold ("starting" until then).
        deadline = time.monotonic() + 30
        while json.loads(get(url + "status.json")[1])["active"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        shot = tmp_path / "live_view.png"
        made = chromium(tmp_path, url, "--window-size=800,1000", f"--screenshot={shot}")
        assert shot.exists(), made.stderr
        dom = chromium(tmp_path, url, "--dump-dom").stdout
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "live_view.png").write_bytes(shot.read_bytes())

    assert re.search(r'<div id="active">carving ice</div>', dom), dom
    assert re.search(r'<img id="stream" [^>]*src="stream.mjpg"', dom)
    page = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
    picture = page[50:600, 10:790]  # where the stream sits on an 800 px wide page (4:3 picture)
    assert picture.std() > 30  # a camera picture, not the empty placeholder
    assert near(picture, OVERLAY_BAR_RGB) > 500  # the overlay's "carving ice" bar, drawn into the stream
    assert near(page, PAGE_BAR_RGB, tolerance=10) > 500  # the page's own bars from status.json


def get(url: str, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.headers.get_content_type() == "multipart/x-mixed-replace":
                return response.status, response.read(2000)  # the stream never ends: its start is enough
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_every_file_the_page_asks_for_is_served_its_icon_included(tmp_path):
    """A page that names no icon makes every browser ask for /favicon.ico, a 404; a data: icon is
    refused by the page's own Content-Security-Policy. The page names one the app serves."""
    proc, url = start_app("--serve", "0")
    try:
        status, page = get(url)
        head = page.decode()[: page.decode().index("</head>")]
        asked = re.findall(r'(?:href|src)="([^"]+)"', head)
        answers = {path: get(url + path) for path in asked}
        browser = chromium(tmp_path, url, "--dump-dom", "--enable-logging=stderr", "--v=0")
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert status == 200
    (icon,) = re.findall(r'<link rel="icon" href="([^"]+)"', head)
    assert {path: answer[0] for path, answer in answers.items()} == dict.fromkeys(asked, 200)
    assert {"live_view.css", "live_view.js", icon} <= set(asked)
    assert answers[icon][1].startswith(b"<svg ")
    assert "Content Security Policy" not in browser.stderr, browser.stderr  # nothing the page loads is refused


def test_off_loopback_every_request_needs_the_printed_token():
    proc, url = start_app("--serve", "0.0.0.0:0")
    try:
        token = re.search(r"\?token=([\w-]+)$", url).group(1)
        base = local(url).split("?")[0]
        refused = [get(base + path)[0] for path in ("", "stream.mjpg", "snapshot.jpg", "status.json")]
        wrong = get(base + "status.json?token=" + "x" * len(token))[0]
        status, body = get(base + "status.json?token=" + token)
        stream_status, stream = get(base + "stream.mjpg", Authorization=f"Bearer {token}")
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert refused == [401, 401, 401, 401] and wrong == 401
    assert status == 200 and json.loads(body)["camera"] == "ok"
    assert stream_status == 200 and stream.startswith(b"--frame\r\nContent-Type: image/jpeg") and b"\xff\xd8" in stream


def test_the_model_s_first_answers_are_marked_settling_in_the_status():
    """They start no event, so the page does not call them "(starting)"."""
    proc, url = start_app("--serve", "0")
    seen = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(t >= 2.0 for t in seen):
            with contextlib.suppress(OSError):
                status = json.loads(get(local(url) + "status.json")[1])
                if status["time_s"] is not None:
                    seen[status["time_s"]] = status["settling"]
            time.sleep(0.05)
    finally:
        code, err = stop_app(proc)
    assert code == 0, err
    assert any(seen.values()) and all(settling == (t < 1.2 - 0.01) for t, settling in seen.items()), seen


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            classify_command("--no-display", "--serve", str(port), "--camera", media_path("carving_ice.mp4")),
            capture_output=True,
            text=True,
            env=app_env(),
            timeout=60,
        )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: --serve: cannot listen on 127.0.0.1:{port}")


def test_saved_clips_are_listed_and_downloadable(tmp_path):
    clip = write_clip(tmp_path / "short.mp4", [("arm_wrestling_mmaction2_demo.mp4", 4), ("cleaning_pool_mmaction2_test.mp4", 4)])
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "holiday.mp4").write_bytes(b"not ours")
    # The camera plays the two 4 s actions in turn: a grace of 1 s ends each event at the change.
    proc, url = start_app("--serve", "0.0.0.0:0", "--record", folder, "--post-roll", "0.5", "--grace", "1", clip=clip)
    try:
        token = url.split("?token=")[1]
        base = local(url).split("?")[0]
        deadline = time.monotonic() + 30
        while not (clips := json.loads(get(base + "status.json?token=" + token)[1])["clips"]):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.3)
        name = clips[0]
        video = get(f"{base}clips/{name}?token={token}")
        sidecar = get(f"{base}clips/{name[:-4]}.json?token={token}")
        without_token = get(f"{base}clips/{name}")[0]
        not_ours = [get(f"{base}clips/{other}?token={token}")[0] for other in ("holiday.mp4", "..%2F..%2Fetc%2Fpasswd")]
    finally:
        stop_app(proc)
    assert name.endswith("_arm-wrestling.mp4")
    assert video == (200, (folder / name).read_bytes()) and video[1][4:8] == b"ftyp"  # an MP4 file
    assert sidecar[0] == 200 and json.loads(sidecar[1])["event"]["label"] == "arm wrestling"
    assert without_token == 401 and not_ours == [404, 404]
