"""A one-item hand-over between two threads."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Closed(Exception):
    """Raised by :meth:`Handoff.get` once the producer has closed the hand-off and it is empty."""


class Handoff(Generic[T]):
    """Passes the newest item from a producer to a consumer.

    ``lossless=False`` (live cameras): a new item replaces one not yet taken, and the
    replaced items are counted in :attr:`dropped`, so a slow consumer never builds a
    backlog. ``lossless=True`` (video files): the producer waits until the item is taken.
    """

    def __init__(self, lossless: bool = False) -> None:
        self.lossless = lossless
        self.dropped = 0
        self._item: T | None = None
        self._full = False
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Offer ``item``; in lossless mode wait up to ``timeout`` for room. False if not placed."""
        with self._cond:
            if self.lossless and not self._cond.wait_for(lambda: not self._full or self._closed, timeout):
                return False
            if self._closed:
                return False
            if self._full:
                self.dropped += 1
            self._item, self._full = item, True
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """Take the item, waiting up to ``timeout`` (None on time-out). Raises :class:`Closed`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout):
                return None
            if not self._full:
                raise Closed
            item, self._item, self._full = self._item, None, False
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more items: the consumer drains what is there, then gets :class:`Closed`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
