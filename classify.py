#!/usr/bin/env python3
"""Real-time action recognition with a MoViNet stream model on a Raspberry Pi.

Usage:
    python classify.py                                   # Pi camera, window on the HDMI monitor
    python classify.py --camera clip.mp4 --no-display --log -   # a video file, JSON lines out

Reads frames from the camera or a video, gives the model 5 frames per second by their
timestamps, and shows the picture with the top actions, or logs them. Run with --help for flags.
"""

from __future__ import annotations

import os
import signal
import sys

from video_classifier.options import parse_settings
from video_classifier.settings import Settings


def settings_from(argv: list[str] | None = None) -> Settings:
    """The app's settings from its flags (see ``video_classifier/options.py``)."""
    return parse_settings(argv, description=__doc__.split("\n\n")[0])


def _stop_on_sigterm() -> None:
    """SIGTERM (systemctl stop, kill) takes the same clean path as Ctrl-C."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    from utils.stderr_log import log_to_stderr
    from video_classifier.app import run
    from video_classifier.errors import UserError

    settings = settings_from(argv)
    log_to_stderr(settings.verbose)
    if not settings.verbose:
        from utils.quiet import quiet_opencv

        quiet_opencv()
    _stop_on_sigterm()
    try:
        return run(settings)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the camera started (opening it, for one)
        print("stopping", file=sys.stderr)
        return 0
    except BrokenPipeError:  # stdout piped into head: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
