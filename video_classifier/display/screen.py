"""Choose where the picture goes: an X display (also when the app is started over SSH), or,
with no desktop running, the console framebuffer.

Over SSH, ``DISPLAY`` is unset or points to a forwarded display, but the user wants the
window on the Pi's HDMI monitor: the local desktop's ``:0`` (an X11 session, or XWayland
under Bookworm's Wayland desktops). Opening it needs that desktop user's Xauthority cookie.
Each candidate is tried with Xlib's ``XOpenDisplay`` first, because OpenCV's GUI aborts the
whole process (no exception) when it cannot connect.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from video_classifier.display.framebuffer import Geometry, default_device
from video_classifier.errors import DisplayError

_HINT = "log in to the Pi's desktop (or pass --display :0), or run with --no-display"


class NoXDisplay(DisplayError):
    """No X display could be opened; ``reason`` says why, without the advice."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot open a window: {reason}: {_HINT}")
        self.reason = reason


@dataclass(frozen=True)
class DisplayChoice:
    """Where the picture goes: ``x11`` (``target`` is the display) or ``framebuffer`` (a device)."""

    kind: str
    target: str
    xauthority: str | None = None


def framebuffer_problem(device: Path) -> str | None:
    """Why the picture cannot go to ``device``, or None when it can."""
    if not device.exists():
        return f"{device} does not exist"
    if not os.access(device, os.R_OK | os.W_OK):
        return f"{device} is not writable for this user (add it to the 'video' group: sudo usermod -aG video $USER)"
    try:
        Geometry.of(device)
    except DisplayError as exc:
        return str(exc)
    return None


def choose_display(requested: str | None = None, env: Mapping[str, str] = os.environ) -> DisplayChoice:
    """``--display``: an X display (``:0``), ``fb`` or a framebuffer device path; by default the
    first X display that opens, else the console framebuffer. Raises :class:`DisplayError` with
    one line naming what was tried when neither can be used."""
    if requested == "fb" or (requested and "/" in requested):
        device = default_device() if requested == "fb" else Path(requested)
        problem = framebuffer_problem(device)
        if problem:
            raise DisplayError(f"cannot draw on the console framebuffer: {problem}: check --display, or run with --no-display")
        return DisplayChoice("framebuffer", str(device))
    try:
        display, cookie = find_display(requested, env)
        return DisplayChoice("x11", display, cookie)
    except NoXDisplay as no_x:
        if requested:  # that very X display was asked for
            raise
        device = default_device()
        problem = framebuffer_problem(device)
        if problem:
            raise DisplayError(
                f"cannot open a window: {no_x.reason}, and no console framebuffer ({problem}): "
                "log in to the Pi's desktop, or run with --no-display"
            ) from None
        return DisplayChoice("framebuffer", str(device))


def _xlib():
    name = ctypes.util.find_library("X11")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return lib


def xauthority_candidates(env: Mapping[str, str] = os.environ) -> list[str | None]:
    """Cookie files that may let us onto the local desktop, most likely first."""
    found: list[str | None] = [env.get("XAUTHORITY")]
    found.append(os.path.expanduser("~/.Xauthority"))
    found += sorted(glob.glob("/home/*/.Xauthority"))
    found += sorted(glob.glob("/run/user/*/.mutter-Xwaylandauth.*"))  # GNOME-style XWayland
    found += sorted(glob.glob("/run/user/*/xauth_*"))  # labwc/wayfire XWayland, LightDM
    unique: list[str | None] = []
    for path in found:
        if path not in unique and (path is None or os.path.isfile(path)):
            unique.append(path)
    return unique or [None]


def display_candidates(requested: str | None, env: Mapping[str, str] = os.environ) -> list[str]:
    """Displays to try in order: the requested one alone, else a local ``DISPLAY``, then ``:0``,
    then a forwarded SSH display (it works, but the picture crosses the network)."""
    if requested:
        return [requested]
    current = env.get("DISPLAY", "")
    forwarded = bool(current) and not current.startswith(":")
    order = [] if not current or forwarded else [current]
    order.append(":0")
    if forwarded:
        order.append(current)
    return list(dict.fromkeys(order))


def find_display(requested: str | None = None, env: Mapping[str, str] = os.environ) -> tuple[str, str | None]:
    """The first (DISPLAY, XAUTHORITY) pair that an X client can open.

    Raises :class:`DisplayError` with a one-line fix when none can be opened.
    """
    xlib = _xlib()
    if xlib is None:
        raise NoXDisplay("the X11 client library (libX11) is not installed")
    tried = display_candidates(requested, env)
    saved = os.environ.get("XAUTHORITY")
    try:
        for display in tried:
            for cookie in xauthority_candidates(env):
                if cookie is None:
                    os.environ.pop("XAUTHORITY", None)
                else:
                    os.environ["XAUTHORITY"] = cookie
                handle = xlib.XOpenDisplay(display.encode())
                if handle:
                    xlib.XCloseDisplay(handle)
                    return display, cookie
    finally:
        if saved is None:
            os.environ.pop("XAUTHORITY", None)
        else:
            os.environ["XAUTHORITY"] = saved
    raise NoXDisplay(f"no X display could be opened (tried {', '.join(tried)})")


def use_display(display: str, xauthority: str | None) -> None:
    """Point this process's GUI at ``display`` (before OpenCV opens its first window)."""
    os.environ["DISPLAY"] = display
    if xauthority:
        os.environ["XAUTHORITY"] = xauthority
    # OpenCV's Qt backend would otherwise try a Wayland socket it was not built for.
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")


def screen_size(display: str | None = None) -> tuple[int, int] | None:
    """The (width, height) of the X screen of ``display`` (default ``$DISPLAY``), or None when it
    cannot be asked (no libX11, no display)."""
    xlib = _xlib()
    name = display or os.environ.get("DISPLAY")
    if xlib is None or not name:
        return None
    handle = xlib.XOpenDisplay(name.encode())
    if not handle:
        return None
    try:
        for function in (xlib.XDefaultScreen, xlib.XDisplayWidth, xlib.XDisplayHeight):
            function.restype = ctypes.c_int
        xlib.XDefaultScreen.argtypes = [ctypes.c_void_p]
        xlib.XDisplayWidth.argtypes = xlib.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
        screen = xlib.XDefaultScreen(handle)
        return xlib.XDisplayWidth(handle, screen), xlib.XDisplayHeight(handle, screen)
    finally:
        xlib.XCloseDisplay(handle)
