"""The running app's copy of the action library, kept by a thread of its own.

Every read and write of the library file (and of the recent events beside it) happens in this
one thread: the model's thread only reads :attr:`LibraryKeeper.current`, the last good library.
So a lock held by another program, a FIFO or a huge file in its place, a slow SD card or an fsync
never delays a model frame, and a file damaged while the app runs costs one warning, not the app.

    keeper = LibraryKeeper(ActionLibrary(path, model))   # reads the file now: errors at start
    keeper.on_change(scorer.use)                          # told of each new library, in the thread
    keeper.start()
    keeper.change(lambda library: ...)                    # a Future; the change is saved off-thread
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from video_classifier.teach.examples import Library, LibraryError
from video_classifier.teach.library import ActionLibrary

log = logging.getLogger("teach")

T = TypeVar("T")
CHANGE_WAIT_S = 60.0  # a change waits this long for another writer's lock before it is given up


class LibraryKeeper:
    """Watches ``library``'s file (every ``poll_s``) and runs every change to it, in its thread."""

    def __init__(self, library: ActionLibrary, poll_s: float = 0.5) -> None:
        self.library = library
        self.poll_s = poll_s
        self._stamp = library.stamp()
        self.current: Library = library.load()  # a bad file is an error at start, in the caller's thread
        self.version = 0  # bumped with every new library
        self._listeners: list[Callable[[Library], None]] = []
        self._jobs: queue.Queue = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="actions", daemon=True)

    def on_change(self, listener: Callable[[Library], None]) -> None:
        """Call ``listener`` (in the keeper's thread) with every new library."""
        self._listeners.append(listener)

    def start(self) -> LibraryKeeper:
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Finish the changes already asked for (within ``timeout``), then stop."""
        self._closing.set()
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run(self, job: Callable[[], T]) -> Future[T]:
        """Run ``job`` in the keeper's thread (file work that must not block the caller)."""
        future: Future[T] = Future()
        if self._closing.is_set() and not self._thread.is_alive():
            future.set_exception(LibraryError("the app is stopping: nothing more is saved"))
            return future
        self._jobs.put((job, future))
        if not self._thread.is_alive() and not self._thread.ident:
            self._drain()  # not started (the command line): run it here and now
        return future

    def change(self, edit: Callable[[Library], None]) -> Future[Library]:
        """Apply ``edit`` to the newest library on disk and save it; the Future holds the library
        saved, or the :class:`LibraryError` that refused it (the file is then left as it was)."""

        def job() -> Library:
            saved = self.library.change(edit, CHANGE_WAIT_S)
            self._stamp = None  # read it back at the next look: another writer may have come between
            self._use(saved)
            return saved

        return self.run(job)

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                item = self._jobs.get(timeout=self.poll_s)
            except queue.Empty:
                item = False
            if item is None or (self._closing.is_set() and item is False):
                self._drain()
                return
            if item:
                self._do(*item)
            else:
                self._look()

    def _drain(self) -> None:
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                return
            if item:
                self._do(*item)

    @staticmethod
    def _do(job: Callable, future: Future) -> None:
        try:
            future.set_result(job())
        except Exception as exc:  # noqa: BLE001 (handed to whoever asked)
            future.set_exception(exc)

    def _look(self) -> None:
        """Load the file again if it changed (another process taught or corrected something)."""
        stamp = self.library.stamp()
        if stamp == self._stamp:
            return
        self._stamp = stamp  # a damaged version is reported once, not every poll
        if stamp is None and self.current.actions:
            log.warning("the action library %s was deleted; still using the actions loaded before", self.library.path)
            return
        try:
            library = self.library.load()
        except LibraryError as exc:
            log.warning("%s; still using the actions loaded before", exc)
            return
        self._use(library)

    def _use(self, library: Library) -> None:
        self.current = library
        self.version += 1
        for listener in self._listeners:
            listener(library)
