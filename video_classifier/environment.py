"""Every environment variable the app reads, in one place (besides X's own ``DISPLAY`` and
``XAUTHORITY``, which ``display/screen.py`` reads and sets up for OpenCV's window).

A value that is set but empty counts as not set, unless its reader keeps it (an empty token is
a mistake to refuse, not a token to make up).
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLES = {
    "MOVINET_CAMERA": "--camera, kept out of the command line (a URL with a password)",
    "MQTT_PASSWORD": "--mqtt-password, kept out of the command line",
    "MOVINET_SERVE_TOKEN": "--serve-token, kept out of the command line",
    "MOVINET_INSTANCE": "this instance's name when several run on one Pi (set by the movinet@NAME service)",
    "MOVINET_NUM_THREADS": "the model's CPU threads when --num-threads is not given (the service's share)",
    "MOVINET_FRAMEBUFFER": "the framebuffer --display fb draws on (default /dev/fb0)",
    "MOVINET_CONSOLE": "the terminal whose keys --display fb reads (default: the active console)",
    "MOVINET_FB_SYSFS": "where the framebuffer's size is read (default /sys/class/graphics/fbN)",
    "XDG_CACHE_HOME": "cut heads are kept in its movinet/heads (default ~/.cache)",
    "XDG_STATE_HOME": "regions drawn in the live view are kept in its movinet (default ~/.local/state)",
}


def value(name: str, keep_empty: bool = False) -> str | None:
    """The variable ``name`` (one of :data:`VARIABLES`), or None when it is not set (or empty,
    unless ``keep_empty``)."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not one of the app's environment variables: add it to VARIABLES")
    found = os.environ.get(name)
    return found if keep_empty and found is not None else found or None


def user_folder(variable: str, default: str) -> Path:
    """``$variable/movinet``, or ``~/default/movinet`` when it is not set or relative (as the XDG
    spec says). Raises :class:`OSError` for a user with no home (no ``$HOME``, no passwd entry)."""
    base = value(variable) or ""
    if not os.path.isabs(base):
        try:
            base = Path.home() / default
        except RuntimeError as exc:  # "Could not determine home directory."
            raise OSError(str(exc)) from None
    return Path(base) / "movinet"
