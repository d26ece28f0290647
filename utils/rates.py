"""Rates measured over a sliding time window, not from the last interval alone."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateMeter:
    """Events per second over the last ``window_s`` seconds (thread-safe).

    One interval is noisy (a 33 ms frame after a 40 ms one reads 30 then 25 fps);
    counting events over a window gives a steady number to show.
    """

    def __init__(self, window_s: float = 2.0, clock=time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        """Record one event (at ``now``, default the clock)."""
        now = self._clock() if now is None else now
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def rate(self, now: float | None = None) -> float:
        """Events per second in the window; 0 until two events have been seen."""
        now = self._clock() if now is None else now
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()
