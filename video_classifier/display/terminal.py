"""The terminal around a console picture: keys from the terminal the app runs in, and the
console's blinking cursor hidden while the picture is on the framebuffer.

Settings:
    MOVINET_CONSOLE   the console's terminal device (default: the active one, /dev/tty1 usually)
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import tty
from pathlib import Path

from video_classifier import environment

HIDE_CURSOR = "\033[?25l"
SHOW_CURSOR = "\033[?25h"


class TerminalKeys:
    """Single key presses from stdin when it is a terminal (q, r, space), without Enter."""

    def __init__(self, stream=None) -> None:
        self._stream = stream or sys.stdin
        self._saved = None
        try:
            if self._stream.isatty():
                fd = self._stream.fileno()
                self._saved = termios.tcgetattr(fd)
                tty.setcbreak(fd)  # keys come one by one, Ctrl-C still interrupts
        except (OSError, ValueError, termios.error):
            self._saved = None

    @property
    def active(self) -> bool:
        return self._saved is not None

    def key(self) -> int:
        """The next key pressed, or -1 (never waits)."""
        if self._saved is None:
            return -1
        fd = self._stream.fileno()
        if not select.select([fd], [], [], 0)[0]:
            return -1
        data = os.read(fd, 1)
        return data[0] if data else -1

    def close(self) -> None:
        if self._saved is not None:
            with contextlib.suppress(OSError, ValueError, termios.error):
                termios.tcsetattr(self._stream.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None


def console_device() -> Path:
    """The terminal device the framebuffer console shows."""
    configured = environment.value("MOVINET_CONSOLE")
    if configured:
        return Path(configured)
    try:
        active = Path("/sys/class/tty/tty0/active").read_text().strip() or "tty1"
    except OSError:
        active = "tty1"
    return Path("/dev") / active


class ConsoleCursor:
    """Hides the console's cursor, which would blink over the picture, until :meth:`restore`.

    Writes the terminal's own hide/show sequences to the console device when it may be written
    (on Raspberry Pi OS the desktop user may; a service gets ``SupplementaryGroups=tty``);
    otherwise the cursor stays, which is only cosmetic.
    """

    def __init__(self, device: Path | None = None) -> None:
        self.device = device or console_device()
        self.hidden = self._write(HIDE_CURSOR)

    def _write(self, sequence: str) -> bool:
        try:
            with open(self.device, "a", encoding="ascii") as console:
                console.write(sequence)
            return True
        except OSError:
            return False

    def restore(self) -> None:
        """Show the cursor again (also after Ctrl-C, SIGTERM or a crash: called from ``finally``)."""
        if self.hidden:
            self._write(SHOW_CURSOR)
            self.hidden = False
