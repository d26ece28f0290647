"""Ctrl-C and SIGTERM: held back while a block of work must not be cut short, and seen at once
by a main thread that waits."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator

# CPython runs signal handlers in the main thread only. A signal sent to the process may be
# taken by any of its threads, and one taken by another thread does not wake a main thread
# blocked on a lock: the handler runs when that wait ends. Seen with two signals sent together
# (timeout(1) sends two, an impatient user presses Ctrl-C twice): 3 of 13 such stops of a
# headless run waited for the end of its 1 s wait, up to 0.65 s late. A main thread that waits in
# slices this long handles every signal within one.
WAKE_S = 0.05


@contextlib.contextmanager
def signals_held() -> Iterator[list[int]]:
    """While the block runs, SIGINT and SIGTERM are only noted, in the list it is given; their
    handlers come back after it (a signal that was ignored, as in a background job, stays so).
    For work an interrupt would break: importing C extensions, closing files and recordings.
    Outside the main thread, where handlers cannot be set, nothing is held."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_event(event: threading.Event, timeout: float | None = None) -> bool:
    """``event.wait(timeout)``, in which a stop signal is handled at once (within :data:`WAKE_S`)."""
    return _awake(event.wait, timeout)


def join_thread(thread: threading.Thread, timeout: float | None = None) -> bool:
    """``thread.join(timeout)``, in which a stop signal is handled at once; True if it has ended."""

    def joined(seconds: float | None) -> bool:
        thread.join(seconds)
        return not thread.is_alive()

    return _awake(joined, timeout)


def _awake(wait: Callable[[float | None], bool], timeout: float | None) -> bool:
    """``wait(seconds)`` until it returns True or ``timeout`` has passed, in slices of
    :data:`WAKE_S` in the main thread (another thread runs no signal handlers: one wait)."""
    if threading.current_thread() is not threading.main_thread():
        return wait(timeout)
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        left = WAKE_S if end is None else min(WAKE_S, end - time.monotonic())
        if wait(max(0.0, left)):
            return True
        if end is not None and time.monotonic() >= end:
            return False
