"""The console framebuffer display: a regular file stands in for the device and a folder written
by the test for its sysfs geometry (MOVINET_FRAMEBUFFER, MOVINET_FB_SYSFS, MOVINET_CONSOLE)."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import app_env, classify_command, media_path, read_frames

from video_classifier.data import Category
from video_classifier.display.framebuffer import Framebuffer
from video_classifier.display.overlay import BAR, OverlayStatus, draw_overlay

PADDING = 0xAA  # what the bytes past the visible width hold before, and must hold after


def fake_device(tmp_path: Path, width: int, height: int, bpp: int, padding: int) -> tuple[Path, Path]:
    """A framebuffer file of ``height`` lines of ``width * bpp / 8 + padding`` bytes, and its sysfs."""
    sysfs = tmp_path / "sysfs"
    sysfs.mkdir(exist_ok=True)
    line = width * bpp // 8 + padding
    (sysfs / "virtual_size").write_text(f"{width},{height}\n")
    (sysfs / "bits_per_pixel").write_text(f"{bpp}\n")
    (sysfs / "stride").write_text(f"{line}\n")
    device = tmp_path / "fb0"
    device.write_bytes(bytes([PADDING]) * line * height)
    return device, sysfs


def overlaid_frame(size: tuple[int, int]) -> np.ndarray:
    """A real camera picture with the overlay drawn on it."""
    image = cv2.resize(read_frames(media_path("carving_ice.mp4"))[10], size, interpolation=cv2.INTER_AREA)
    status = OverlayStatus(top=[Category("carving ice", 0.98), Category("chiseling stone", 0.01)], model_fps=5.0)
    return draw_overlay(image, status)


def rgb565(image: np.ndarray) -> np.ndarray:
    """BGR pixels packed the way a 16 bpp console stores them: RGB565, little-endian."""
    b, g, r = (image[..., i].astype(np.uint16) for i in range(3))
    return (((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3)).astype("<u2").view(np.uint8).reshape(image.shape[0], -1)


@pytest.mark.parametrize(
    ("screen", "bpp", "picture", "box"),
    [
        ((1920, 1080), 32, (640, 480), (240, 0, 1440, 1080)),  # 4:3 on 16:9: bars left and right
        ((1920, 1080), 16, (640, 480), (240, 0, 1440, 1080)),
        ((1280, 1024), 16, (640, 360), (0, 152, 1280, 720)),  # 16:9 on 5:4: bars above and below
        ((800, 480), 32, (1280, 720), (0, 15, 800, 450)),  # a larger picture shrunk to a small screen
    ],
    ids=["32 bpp 1080p", "16 bpp 1080p", "16 bpp 5:4", "32 bpp shrunk"],
)
def test_the_file_holds_the_overlaid_frame_scaled_and_letterboxed(tmp_path, monkeypatch, screen, bpp, picture, box):
    width, height = screen
    device, sysfs = fake_device(tmp_path, width, height, bpp, padding=96)
    monkeypatch.setenv("MOVINET_FB_SYSFS", str(sysfs))
    image = overlaid_frame(picture)
    framebuffer = Framebuffer(device)
    framebuffer.show(image)
    framebuffer.close()

    line = width * bpp // 8 + 96
    memory = np.fromfile(device, np.uint8).reshape(height, line)
    x, y, w, h = box
    interpolation = cv2.INTER_AREA if w < picture[0] else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (w, h), interpolation=interpolation)
    expected = np.dstack([scaled, np.full((h, w), 255, np.uint8)]).reshape(h, -1) if bpp == 32 else rgb565(scaled)
    step = bpp // 8
    np.testing.assert_array_equal(memory[y : y + h, x * step : (x + w) * step], expected)
    visible = memory[:, : width * step].copy()
    visible[y : y + h, x * step : (x + w) * step] = 0
    assert not visible.any()  # black bars around the picture
    assert (memory[:, width * step :] == PADDING).all()  # nothing written past the visible width


def start(tmp_path: Path, *args, stdin=subprocess.DEVNULL, device_env: bool = True, **env: str) -> subprocess.Popen:
    """The app on a real-time two-action clip, with no X display."""
    clip = media_path(CLIP)
    extra = {"MOVINET_CONSOLE": str(tmp_path / "console"), "DISPLAY": ""}
    if device_env:
        device, sysfs = fake_device(tmp_path, 1920, 1080, 32, padding=0)
        extra |= {"MOVINET_FRAMEBUFFER": str(device), "MOVINET_FB_SYSFS": str(sysfs)}
    return subprocess.Popen(
        classify_command("--camera", clip, *args), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=app_env(**extra, **env),
    )  # fmt: skip


CLIP = "cleaning_pool_mmaction2_test.mp4"  # 340x256: on 1920x1080 it is 1434 pixels wide, from x = 243
LEFT, RIGHT = 243, 243 + 1434


def wait_for_picture(device: Path, proc: subprocess.Popen, timeout: float = 30) -> np.ndarray:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        memory = np.fromfile(device, np.uint8).reshape(1080, 1920, 4)
        if memory[:, LEFT:RIGHT].any():
            time.sleep(1.5)  # a second more, for the first prediction's overlay
            return np.fromfile(device, np.uint8).reshape(1080, 1920, 4)
        assert proc.poll() is None, proc.communicate(timeout=20)[1]
        time.sleep(0.1)
    pytest.fail("nothing was drawn on the framebuffer")


@pytest.mark.slow  # the app on a clip played in real time
def test_without_x_the_picture_goes_to_the_framebuffer_and_sigterm_restores_the_console(tmp_path):
    proc = start(tmp_path)
    screen = wait_for_picture(tmp_path / "fb0", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "on the console framebuffer" in err and "Traceback" not in err
    picture = screen[:, LEFT:RIGHT, :3]
    assert picture.std() > 20 and not screen[:, :LEFT].any() and not screen[:, RIGHT:].any()
    assert (screen[:, LEFT:RIGHT, 3] == 255).all()
    panel = picture[:300, :800]  # the overlay's panel, scaled 4.2 times
    assert np.all(np.abs(panel.astype(int) - BAR) <= 30, axis=2).sum() > 2000  # the top action's bar
    assert (tmp_path / "console").read_text() == "\033[?25l\033[?25h"  # cursor hidden, then shown again
    assert not np.fromfile(tmp_path / "fb0", np.uint8).any()  # cleared at exit: no stale picture


@pytest.mark.slow  # the app on a clip played in real time
def test_keys_come_from_the_terminal_the_app_runs_in(tmp_path):
    main, child = pty.openpty()
    device, sysfs = fake_device(tmp_path, 1920, 1080, 32, padding=0)
    proc = start(tmp_path, "--display", str(device), stdin=child, device_env=False, MOVINET_FB_SYSFS=str(sysfs))
    os.close(child)
    try:
        wait_for_picture(device, proc)
        os.write(main, b"q")
        _, err = proc.communicate(timeout=20)
    finally:
        os.close(main)
    assert proc.returncode == 0, err
    assert "keys in this terminal: q quit" in err
    read = int(re.search(r"done: (\d+) frames read", err).group(1))
    assert read < 250  # q ended it long before the clip's 300 frames
    assert (tmp_path / "console").read_text() == "\033[?25l\033[?25h"


def test_no_x_display_and_no_framebuffer_is_one_line_naming_both(tmp_path):
    proc = start(tmp_path, device_env=False, MOVINET_FRAMEBUFFER=str(tmp_path / "missing-fb"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    [line] = err.strip().splitlines()
    assert line.startswith("error: cannot open a window: no X display could be opened")
    assert f"no console framebuffer ({tmp_path / 'missing-fb'} does not exist)" in line and "--no-display" in line


def test_a_framebuffer_asked_for_but_unreadable_is_one_clear_line(tmp_path):
    device, sysfs = fake_device(tmp_path, 1920, 1080, 24, padding=0)
    proc = start(tmp_path, "--display", str(device), device_env=False, MOVINET_FB_SYSFS=str(sysfs))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    [line] = err.strip().splitlines()
    assert "24 bits per pixel" in line and line.startswith("error: cannot draw on the console framebuffer")


def test_with_an_x_display_the_window_is_used_and_the_framebuffer_left_alone(tmp_path, xvfb):
    device, sysfs = fake_device(tmp_path, 1920, 1080, 32, padding=0)
    env = {"DISPLAY": xvfb, "MOVINET_FRAMEBUFFER": str(device), "MOVINET_FB_SYSFS": str(sysfs)}
    proc = subprocess.Popen(
        classify_command("--camera", media_path("carving_ice_rpi.mp4")), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=app_env(**env, MOVINET_CONSOLE=str(tmp_path / "console")),
    )  # fmt: skip
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "keys: q/Esc quit" in err and "framebuffer" not in err
    assert (np.fromfile(device, np.uint8) == PADDING).all() and not (tmp_path / "console").exists()
