"""Code for test_tiers.py to classify, never run: each function needs what its name says."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import Broker, classify_command, require_program, start_live_app, start_xvfb
from home_assistant import HASS
from ip_cameras import RtspServer


def starts_a_broker(folder: Path) -> Broker:
    return Broker(folder).start()


def through_another_helper(folder: Path) -> Broker:
    return starts_a_broker(folder)


def opens_a_browser() -> str:
    return require_program("chromium", "chromium")


def runs_home_assistant(folder: Path) -> subprocess.Popen:
    return subprocess.Popen([str(HASS), "-c", str(folder)])


def serves_rtsp(clip: Path) -> RtspServer:
    return RtspServer(clip).start()


def plays_the_live_view() -> None:
    start_live_app("--serve", "0")


class Screen:
    def open(self) -> None:
        self.server, self.display = start_xvfb(range(90, 130))


def in_a_lambda(folder: Path) -> None:
    later = lambda: Broker(folder)  # noqa: E731, F841


def runs_the_app_on_a_file(clip: Path) -> subprocess.CompletedProcess:
    return subprocess.run(classify_command("--no-display", "--camera", clip), capture_output=True)
