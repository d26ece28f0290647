"""Keep a live camera going: reopen it with backoff when it stops delivering frames."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from video_classifier.data import Frame
from video_classifier.errors import SourceError
from video_classifier.sources.base import FrameSource

log = logging.getLogger(__name__)


class ReconnectingSource(FrameSource):
    """Wraps a live source; when it fails (unplugged USB camera, libcamera time-out), closes it
    and reopens it with ``reopen`` after 0.5, 1, 2, 4... s, for at most ``timeout_s``.

    While it retries, :attr:`status` says so (the window shows it) and ``on_status`` hears
    ``"lost"`` and ``"restored"``. Timestamps and indices keep counting across reconnects, so
    the pacer and the log see one continuous stream. After ``timeout_s`` without a frame the
    last error is raised as a :class:`SourceError`.
    """

    live = True

    def __init__(
        self,
        source: FrameSource,
        reopen: Callable[[], FrameSource],
        timeout_s: float = 30.0,
        on_status: Callable[[str, float], None] | None = None,
        max_backoff_s: float = 4.0,
    ) -> None:
        self._open = reopen
        self._source: FrameSource | None = source
        self.name = self._source.name
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.on_status = on_status
        self.status = ""
        self._interrupted = threading.Event()
        self._offset = 0.0  # added to the current device's timestamps
        self._last_timestamp = 0.0
        self._started = self._last_arrival = time.monotonic()
        self._index = 0

    def read(self) -> Frame | None:
        while True:
            if self._source is None:
                return None  # closed, or interrupted while reconnecting: the app is stopping
            try:
                frame = self._source.read()
                break
            except SourceError as exc:
                if not self._reconnect(exc):
                    return None
        if frame is None:
            return None
        timestamp = frame.timestamp + self._offset
        self._last_timestamp, self._last_arrival = timestamp, time.monotonic()
        stamped = replace(frame, timestamp=timestamp, index=self._index)  # the lores picture too
        self._index += 1
        return stamped

    def _reconnect(self, error: SourceError) -> bool:
        """Retry until a device opens (True), the app stops (False) or time runs out (raise)."""
        lost_at = time.monotonic()
        self._notify("lost", f"camera lost, retrying ({error})")
        self._close_device()
        delay = 0.5
        while True:
            if self._interrupted.wait(delay):
                return False
            try:
                self._source = self._open()
            except SourceError as exc:
                error = exc
                left = self.timeout_s - (time.monotonic() - lost_at)
                if left <= 0.05:  # the last try is at the time-out, not one back-off before it
                    why = str(error).removeprefix(f"{self.name}: ")  # the camera is named once
                    raise SourceError(f"{self.name} lost for {self.timeout_s:g} s, giving up: {why}") from None
                delay = min(delay * 2, self.max_backoff_s, left)
                continue
            # The new device's clock starts again at 0: continue from the last frame, plus all the
            # time since it came (the wait that found the camera silent included), and never before
            # "restored" itself, so that frame times and the log's "lost" and "restored" times stay
            # one timeline (the device's clock and this one start a few ms apart).
            now = time.monotonic()
            self._offset = max(self._last_timestamp + (now - self._last_arrival), now - self._started)
            self._notify("restored", "", now)
            return True

    def _notify(self, state: str, status: str, at: float | None = None) -> None:
        self.status = status
        if state == "lost":
            log.warning("%s: %s", self.name, status)
        else:
            log.warning("%s: camera restored", self.name)
        if self.on_status is not None:
            self.on_status(state, (at if at is not None else time.monotonic()) - self._started)

    def _close_device(self) -> None:
        if self._source is not None:
            try:
                self._source.close()
            finally:
                self._source = None

    def interrupt(self) -> None:
        self._interrupted.set()

    def close(self) -> None:
        self._interrupted.set()
        self._close_device()
