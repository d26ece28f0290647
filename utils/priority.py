"""Thread priority: background work yields the CPU to the model."""

from __future__ import annotations

import contextlib
import os
import threading


def lower_this_thread(niceness: int = 10) -> None:
    """Make the calling thread nicer than the rest (Linux applies nice values per thread), so
    that drawing, encoding and disk writes give way to the model on a busy CPU. No-op elsewhere."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
