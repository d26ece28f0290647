"""Find an X display to open the window on, also when the app is started over SSH.

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

from video_classifier.errors import DisplayError

_HINT = "log in to the Pi's desktop (or pass --display :0), or run with --no-display"


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
        raise DisplayError(f"cannot open a window: the X11 client library (libX11) is not installed: {_HINT}")
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
    raise DisplayError(f"cannot open a window: no X display could be opened (tried {', '.join(tried)}): {_HINT}")


def use_display(display: str, xauthority: str | None) -> None:
    """Point this process's GUI at ``display`` (before OpenCV opens its first window)."""
    os.environ["DISPLAY"] = display
    if xauthority:
        os.environ["XAUTHORITY"] = xauthority
    # OpenCV's Qt backend would otherwise try a Wayland socket it was not built for.
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
