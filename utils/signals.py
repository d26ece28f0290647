"""Ctrl-C and SIGTERM held back while a block of work must not be cut short."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


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
