#!/usr/bin/env python3
"""Real-time action recognition with a MoViNet stream model on a Raspberry Pi.

Usage:
    python classify.py                                   # Pi camera, window on the HDMI monitor
    python classify.py --camera clip.mp4 --no-display --log -   # a video file, JSON lines out

Reads frames from the camera or a video, gives the model 5 frames per second by their
timestamps, and shows the picture with the top actions, or logs them. Run with --help for flags.
"""

from __future__ import annotations

# _signal: the interpreter's own signal module, loaded before any of this file runs: the handlers
# below are set before anything is read from disk (`signal`, which wraps it, is a file to read).
import _signal
import sys


def _end_start_quietly(signum, frame) -> None:
    """A stop signal before the app's own handlers are set: the start ends here, as quietly as a
    stop does later (it printed a traceback and exited with status 130)."""
    if sys.stderr is not None:
        sys.stderr.write("stopping\n")  # one write, as print_line (not imported yet) does
    sys.exit(0)


if __name__ == "__main__":  # first of all: the rest of this file's imports take a few ms on a Pi
    for _signum in (_signal.SIGINT, _signal.SIGTERM):
        if _signal.getsignal(_signum) is not _signal.SIG_IGN:  # ignored, as in a background job: it stays so
            _signal.signal(_signum, _end_start_quietly)

# isort: split
import contextlib  # noqa: E402  (after the handlers above, as are the imports below)
import gc  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

from utils.signals import signals_held  # noqa: E402
from utils.std_streams import ensure_std_streams, print_line, reader_gone  # noqa: E402

if TYPE_CHECKING:
    from video_classifier.settings import Settings


def settings_from(argv: list[str] | None = None) -> Settings:
    """The app's settings from its flags (see ``video_classifier/options.py``)."""
    from video_classifier.options import parse_settings

    return parse_settings(argv, description=__doc__.split("\n\n")[0])


_stopping = False  # a stop is under way, or the run is over: signals change nothing more


def _stop() -> None:
    """Stop the app (a KeyboardInterrupt), once."""
    global _stopping
    if not _stopping:
        _stopping = True
        raise KeyboardInterrupt


def _stop_on_signals() -> dict:
    """Ctrl-C and SIGTERM (systemctl stop, kill) take one clean path: a KeyboardInterrupt, once.
    A second signal while the app stops (timeout(1) sends two, an impatient user presses Ctrl-C
    again) or after its run is ignored: raised inside the first one's unwinding, it broke a lock
    of Python's threading ("release unlocked lock") and the closing with it. A Ctrl-C ignored, as
    in a background job, stays ignored. Returns the handlers it replaced. Outside the main thread,
    where handlers cannot be set, the caller's stay (and none are returned)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig, before in previous.items():
        if before is not signal.SIG_IGN:
            signal.signal(sig, lambda signum, frame: _stop())
    return previous


def main(argv: list[str] | None = None) -> int:
    global _stopping
    _stopping = False
    previous: dict = {}
    try:
        ensure_std_streams()
        previous = _stop_on_signals()
        return _run(argv)
    except KeyboardInterrupt:  # before the camera started (importing the app, opening the camera)
        print_line("stopping")
        return 0
    finally:
        _stopping = True  # the run is over: a signal from here to the exit changes nothing
        for sig, handler in previous.items():  # a caller that ran main() in-process gets its own back
            signal.signal(sig, handler)


def _run(argv: list[str] | None) -> int:
    # Everything is imported here, after the SIGTERM handler and inside main's KeyboardInterrupt
    # handler: a Ctrl-C in the first moments of a start is a quiet stop, not a traceback.
    # numpy's and OpenCV's C extensions turn an interrupt during their import into an ImportError
    # traceback ("numpy._core.multiarray failed to import"): a Ctrl-C waits until they are in.
    # The collector waits too: the imports make a few hundred thousand objects that live as long
    # as the app, and walking them again and again while they come in cost 5% of a start here.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with signals_held() as interrupted:
            import video_classifier  # noqa: F401  (first: it sets numpy's threads before numpy loads)

            # isort: split
            import cv2  # noqa: F401  (the C extensions next, while an interrupt waits)
            import numpy  # noqa: F401

            import video_classifier.options  # noqa: F401  (what reads the flags, below)
            from utils.stderr_log import log_to_stderr
            from video_classifier.app import run
            from video_classifier.errors import UserError
            from video_classifier.model.runtime import load_runtime
        if interrupted:
            _stop()
        # The flags are read with stop signals live: an @FILE of flags may be a pipe (a shell's
        # <(...)) whose writer is slow or never writes, and Ctrl-C or SIGTERM must end that wait.
        try:
            settings = settings_from(argv)
        except UserError as exc:  # a flag or its value not understood
            print(f"error: {exc}", file=sys.stderr)
            return 2
        # The runtime while signals wait again: an interrupted import of LiteRT is an ImportError,
        # and --runtime auto then went on with tflite-runtime, the Ctrl-C lost. A runtime that cannot
        # be imported is said where the app loads the model.
        with signals_held() as interrupted, contextlib.suppress(UserError):
            load_runtime(settings.runtime)
        if interrupted:
            _stop()
    finally:
        if __name__ == "__main__":  # the program itself (a caller that imported main keeps its heap as it is)
            gc.freeze()  # what was imported lives as long as the app: the collector need not walk it again
        if collecting:
            gc.enable()
    log_to_stderr(settings.verbose)
    if not settings.verbose:
        from utils.quiet import quiet_opencv

        quiet_opencv()
    try:
        return run(settings)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        if not reader_gone(sys.stdout):  # stderr's reader went away: what the run did went unsaid
            return 2
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # stdout piped into head: the
        return 0  # reader has all it wanted (and no second error at exit)


if __name__ == "__main__":
    try:
        _stop_on_signals()  # the program's own handlers, which main() leaves in place, through to the exit
        status = main()
    except KeyboardInterrupt:  # a stop signal before main() was ready to take it
        print_line("stopping")
        status = 0
    # Everything is closed by now: tearing numpy, OpenCV and the runtime down object by object
    # would only add to the exit (25 ms of each run here).
    from utils.fast_exit import exit_without_teardown

    exit_without_teardown(status)
