"""The ``--log``: one JSON line per prediction, event, camera loss and reset, on stdout or in a file;
with ``--actions``, also one per correction of an event, whoever made it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import sys
import threading
from pathlib import Path
from typing import BinaryIO, TextIO

from utils import std_streams
from utils.std_streams import print_line
from video_classifier.data import ActionEvent, Prediction
from video_classifier.errors import UserError
from video_classifier.outputs import Output


class JsonLinesLog(Output):
    """Writes one JSON object per record, each line written at once, so that a crash, Ctrl-C or
    power cut never leaves a half-written record behind what was already written. In a file,
    each line is one unbuffered write; a line the disk took only part of is cut off again. A file
    that would grow past ``max_mb`` is renamed ``FILE.1`` (replacing the one before) and a new
    one begun: a service's log of every frame (about 90 MB a day at 5 fps) stays in bounds."""

    def __init__(self, target: str, max_mb: float | None = None) -> None:
        self.target = target
        self._time_s: float | None = None  # the last prediction's, for records that come from elsewhere
        self._lock = threading.Lock()  # predictions and camera notes come from different threads
        self._file: BinaryIO | None = None
        self._closed = False
        if target == "-":
            if "stdout" in std_streams.closed_at_start:  # it was given /dev/null: the log would go nowhere
                raise UserError("--log - writes to standard output, which is closed (>&-): give --log a file, or open stdout")
            self._stream: TextIO = sys.stdout
        else:
            path = Path(target)
            try:
                self._file = _open_for_appending(path)
            except OSError as exc:
                raise UserError(f"cannot open log file {path} ({exc.strerror}): choose a writable path for --log") from None
            self._seekable = self._file.seekable()  # a FIFO or a terminal is written straight on
            self._path = path
            # Only a regular file named as it is is renamed, and followed when another run renames
            # it: not a FIFO, /dev/null, a terminal or a link (renaming /dev/stdout, a link, would
            # replace it for every program).
            self._named_file = stat.S_ISREG(os.lstat(path).st_mode)
            self._max_bytes = max(1, int(max_mb * 1e6)) if max_mb and self._named_file else 0  # 0: no bound
            self._retry_at = 0  # after a renaming that failed: the size at which it is tried again
            linked_file = not self._named_file and stat.S_ISREG(os.fstat(self._file.fileno()).st_mode)
            if max_mb and linked_file and not os.path.abspath(path).startswith(("/dev/", "/proc/")):  # not a std stream
                print_line(f"log: {path} is a link: it grows without --log-max-mb's bound (give the file's own name)", sys.stderr)

    def write_record(self, record: dict) -> None:
        """Append one record as a JSON line."""
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                if self._closed:
                    return
                if self._file is None:
                    self._stream.write(line)
                    self._stream.flush()
                else:
                    self._append(line.encode("utf-8"))
        except BrokenPipeError:
            if self._file is not None:  # a FIFO's reader: the user may not know it left
                raise UserError(f"the program reading the log FIFO {self.target} stopped reading: the run stops here") from None
            raise  # a reader such as `head` closed the pipe: it has all it wanted (classify.py exits 0)
        except OSError as exc:
            raise UserError(
                f"cannot write to log {self.target} ({exc.strerror}): free some space or choose another --log"
            ) from None

    def _append(self, data: bytes) -> None:
        """``data`` at the file's end, whole or not at all (a full disk takes part of a line)."""
        if self._named_file and not _still_names(self._path, self._file):  # another run with a bound renamed it
            self._follow()
        end = self._file.seek(0, os.SEEK_END) if self._seekable else None
        if self._max_bytes and end and end + len(data) > max(self._max_bytes, self._retry_at):
            end = self._begin_new_file()
        try:
            view = memoryview(data)
            while view:  # the rest of a part taken: written, or the reason it cannot be
                view = view[self._file.write(view) :]
        except OSError:
            if end is not None:
                with contextlib.suppress(OSError):
                    self._file.truncate(end)
            raise

    def _begin_new_file(self) -> int:
        """The full file becomes FILE.1, the one before it dropped, and a new FILE is begun, with
        the old one's permissions; the size of the file written to now. When FILE is no longer
        the file written to (another run on the same log renamed it), that run's new FILE is
        written to instead: the runs take turns under a lock on the file. A step that fails is
        said, and tried again after another bound's worth of growth."""
        path, older, full = self._path, self._path.with_name(f"{self._path.name}.1"), self._file
        locked = _lock(full)
        try:
            if not _still_names(path, full):
                return self._follow()
            try:
                os.replace(path, older)
            except OSError as exc:
                why = f"cannot rename {path} to {older.name} ({exc.strerror})"
                return self._rename_failed(f"{why}: {path} grows past --log-max-mb")
            try:
                new = path.open("ab", buffering=0)
            except OSError as exc:
                return self._rename_failed(f"cannot begin a new {path} ({exc.strerror}): the log goes on in {older}")
            with contextlib.suppress(OSError):  # another user's umask, where this one may change it
                os.fchmod(new.fileno(), stat.S_IMODE(os.fstat(full.fileno()).st_mode))
            print_line(f"log: {path} reached {self._max_bytes / 1e6:g} MB: renamed {older.name}, a new one begun", sys.stderr)
            return self._switch_to(new)
        finally:
            if locked and not full.closed:  # closing it (a switch) let go of the lock
                fcntl.flock(full.fileno(), fcntl.LOCK_UN)

    def _follow(self) -> int:
        """Write to the file now named as the log (another run renamed this one away); its size."""
        try:
            return self._switch_to(self._path.open("ab", buffering=0))
        except OSError as exc:
            self._named_file, self._max_bytes = False, 0
            print_line(f"warning: cannot open {self._path} ({exc.strerror}): the log goes on where it was", sys.stderr)
            return self._file.seek(0, os.SEEK_END)

    def _switch_to(self, new: BinaryIO) -> int:
        self._file.close()
        self._file, self._retry_at = new, 0
        return new.seek(0, os.SEEK_END)

    def _rename_failed(self, warning: str) -> int:
        """Say why the file could not be renamed; it is tried again once it has grown by another
        bound's worth (a service runs for months). The file's size."""
        size = self._file.seek(0, os.SEEK_END)
        self._retry_at = size + self._max_bytes
        print_line(f"warning: {warning} (tried again after another {self._max_bytes / 1e6:g} MB)", sys.stderr)
        return size

    def on_prediction(self, prediction: Prediction) -> None:
        self._time_s = prediction.time_s
        self.write_record(prediction.to_json())

    def on_event_end(self, event: ActionEvent) -> None:
        self.write_record(event.to_json())

    def on_camera(self, state: str, time_s: float) -> None:
        self.write_record({"type": "camera", "state": state, "time_s": round(time_s, 3)})

    def on_reset(self, time_s: float) -> None:
        self.write_record({"type": "reset", "time_s": round(time_s, 3)})

    def on_correction(self, event_id: str, name: str | None) -> None:
        """The event ``event_id`` was corrected as ``name`` (``other``: "wrong"; None: its
        correction taken back), seen at the last prediction's time."""
        record = {"type": "correction", "id": event_id, "as": name}
        if self._time_s is not None:
            record["time_s"] = round(self._time_s, 3)
        self.write_record(record)

    def close(self) -> None:
        """Flush or close the log; a record that comes later (a camera's note from a read that
        was left blocked) is dropped."""
        with self._lock:
            self._closed = True
            try:
                if self._file is None:
                    self._stream.flush()
                else:
                    self._file.close()
            except OSError:
                pass  # a failed write was already reported by write_record


def _lock(file: BinaryIO) -> bool:
    """Take ``file``'s lock, shared by every run that writes it (False where the file system has
    none: the runs then do not take turns)."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX)
    except OSError:
        return False
    return True


def _still_names(path: Path, file: BinaryIO) -> bool:
    """Whether ``path`` is still the name of the open ``file``."""
    try:
        named, opened = os.stat(path), os.fstat(file.fileno())
    except OSError:
        return False
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _open_for_appending(path: Path) -> BinaryIO:
    """The log file opened to append, unbuffered. A FIFO no program reads yet would hold the
    start without a word: the app says that it waits for its reader (a stop signal still stops it)."""
    if path.is_fifo():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: nobody reads it yet
                raise
            print_line(f"log: waiting for a program to read the FIFO {path}", sys.stderr)
            fd = os.open(path, os.O_WRONLY)
        else:
            os.set_blocking(fd, True)  # a slow reader holds a line back, never cuts it
        return os.fdopen(fd, "ab", buffering=0)
    return path.open("ab", buffering=0)


def attach(app) -> JsonLinesLog:
    """``--log``: the output the app (being assembled) attaches; with ``--actions`` it also hears
    of every correction saved in the action library."""
    log = JsonLinesLog(app.settings.log, app.settings.log_max_mb)
    if app.keeper is not None:
        from video_classifier.teach.corrections import watch

        watch(app.keeper, log.on_correction)
    return log
