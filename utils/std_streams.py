"""Standard input, output and error as a program may find them: closed, or piped into a reader
that has gone away."""

from __future__ import annotations

import os
import select
import sys
from typing import TextIO

# The standard streams that were closed when the program started (``prog >&-``), by name.
closed_at_start: set[str] = set()


def ensure_std_streams() -> None:
    """Give each closed standard descriptor (``prog >&-``) ``/dev/null``, and Python a stream
    on it. Else the next file the program opens takes descriptor 1 or 2, and what is printed, or
    what a native library writes to stderr, lands in that file. Each is noted in
    :data:`closed_at_start`: output asked for on it goes nowhere."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
            closed_at_start.add(name)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115 (lives as long as the program)


def print_line(text: str, stream: TextIO | None = None) -> None:
    """``text`` and its newline on ``stream`` (stderr by default) in one write, flushed: ``print``
    writes the two apart, and a line another thread printed at that moment ("stopping" while an
    event was told) landed between them, two lines run together."""
    stream = sys.stderr if stream is None else stream
    if stream is not None:
        stream.write(f"{text}\n")
        stream.flush()


def reader_gone(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a pipe whose reading end is closed (``prog | head -1`` once head
    has exited): writing to it can only fail."""
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False
