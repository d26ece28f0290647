"""Keep native libraries' chatter off stderr, so that a program speaks with one voice."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Send what C/C++ code writes to file descriptor 2 to nowhere while the block runs (Python's
    own ``sys.stderr`` too). Only for code run by one thread, such as start-up: every thread's
    writes to fd 2 are lost meanwhile."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            try:  # from before the redirection: a Ctrl-C right after it must not leave fd 2 in the sink
                os.dup2(sink.fileno(), 2)
                yield
            finally:
                try:
                    sys.stderr.flush()  # Python's own lines into the sink, not after the restore
                finally:  # fd 2 comes back even when a Ctrl-C interrupts the flush
                    os.dup2(saved, 2)
    finally:
        os.close(saved)


def quiet_opencv() -> None:
    """No OpenCV or FFmpeg log lines (warnings about absent cameras, damaged files): the caller
    reports what went wrong itself. Call before the first ``VideoCapture``."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    import cv2

    cv2.setLogLevel(0)  # LOG_LEVEL_SILENT
