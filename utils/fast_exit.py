"""End a program the way Python's own exit does, without tearing the interpreter down."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def exit_without_teardown(status: int) -> NoReturn:
    """Exit with ``status`` once what a normal exit guarantees is done: threads that are not
    daemons joined, ``atexit`` handlers run (``logging`` flushes its handlers there), stdout
    and stderr flushed (a failure to write stdout said, as a normal exit does). What is left is
    the interpreter's teardown: every module and object freed one by one, numpy's, OpenCV's and
    the TFLite runtime's included, for memory the system takes back anyway (25 ms of each run of
    the app on a 2-core x86 VM). For a program's last line only: nothing of the caller runs
    after it."""
    try:
        current = threading.current_thread()
        for thread in threading.enumerate():
            if thread is not current and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
    except KeyboardInterrupt:  # a second Ctrl-C on the way out: leave now
        status = status or 130
    status = _stdout_flushed(status)
    with contextlib.suppress(AttributeError, OSError, ValueError):  # a closed stderr: nothing more to say there
        sys.stderr.flush()
    os._exit(status)


def _stdout_flushed(status: int) -> int:
    """``status`` once what is left in stdout's buffer is written; what could not be (a full disk)
    is said on stderr and makes a success 2 (Python's own exit says it, and makes it 120); after a
    failure the program has reported, nothing more is said. A reader that has gone away
    (``| head -1``) had all it wanted: no error then."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        pass
    except (OSError, ValueError) as exc:
        if status:  # the program has said what failed (stdout's own error, as likely as not)
            return status
        with contextlib.suppress(AttributeError, OSError, ValueError):
            print(f"error: cannot write to standard output ({getattr(exc, 'strerror', None) or exc})", file=sys.stderr)
        return 2
    return status
