"""The systemd unit that setup.sh --install-service installs."""

import shutil
import subprocess
import sys

import pytest
from conftest import IN_CI, ROOT

from install.service import unit_text


def verify(tmp_path, text):
    if shutil.which("systemd-analyze") is None:
        if IN_CI:
            pytest.fail("systemd-analyze is not installed")
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "movinet-actions.service"
    unit.write_text(text)
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)


def test_headless_unit_runs_at_boot_and_restarts_on_failure(tmp_path):
    text = unit_text(ROOT / ".venv/bin/python", desktop=False, user="root", extra_args=["--camera", "0"])
    assert "Restart=on-failure" in text and "WantedBy=multi-user.target" in text
    assert "--no-display" in text and "--camera 0" in text and "User=root" in text
    result = verify(tmp_path, text.replace(str(ROOT / ".venv/bin/python"), sys.executable))
    assert result.returncode == 0, result.stderr


def test_desktop_unit_opens_the_window_on_the_hdmi_display(tmp_path):
    text = unit_text(ROOT / ".venv/bin/python", desktop=True, user="pi", extra_args=[])
    assert "--display :0" in text and "WantedBy=graphical-session.target" in text and "User=" not in text
    result = verify(tmp_path, text.replace(str(ROOT / ".venv/bin/python"), sys.executable))
    assert result.returncode == 0, result.stderr


def test_console_unit_draws_on_the_hdmi_console_at_boot(tmp_path):
    text = unit_text(ROOT / ".venv/bin/python", desktop=False, user="pi", extra_args=["--camera", "0"], console=True)
    assert "--display fb" in text and "--no-display" not in text and "--camera 0" in text
    assert "SupplementaryGroups=video tty" in text and "User=pi" in text and "WantedBy=multi-user.target" in text
    result = verify(tmp_path, text.replace(str(ROOT / ".venv/bin/python"), sys.executable))
    assert result.returncode == 0, result.stderr
    command = [sys.executable, "-m", "install.service", "--console", "--desktop"]
    both = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
