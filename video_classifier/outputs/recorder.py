"""MP4 clips around action events, with the overlay, a JSON sidecar and a disk budget.

The compositor's JPEG pictures go into a ring buffer that covers the pre-roll (and the time an
event takes to be confirmed). When an event starts, a clip begins with the buffered pictures
from ``pre_roll_s`` before the event; it ends ``post_roll_s`` after the event. Pictures go to
a writer thread once they are older than the detector's confirmation delay (so that the end is
cut where the event ended, not where it was confirmed); it decodes and encodes them as they
come, so neither the model nor the live view waits for the disk, a long clip is never held in
memory, and at exit only the last seconds are left to write. Keeping JPEGs rather than raw
frames makes the ring many times smaller (a 640x480 frame is 900 KB raw).

Clips have a constant frame rate: a picture the compositor dropped (a busy CPU) is replaced by
repeating the one before, so a clip always lasts as long as the moment it shows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import stat
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from utils.priority import lower_this_thread
from utils.safe_files import UnsafeFile, open_regular, replace_file
from video_classifier.data import ActionEvent, Picture
from video_classifier.errors import UserError
from video_classifier.outputs import Output
from video_classifier.outputs.clips import CLIP_NAME, ClipLibrary
from video_classifier.settings import SETTLE_MAX_S

log = logging.getLogger("record")


@dataclass
class Clip:
    """An event being recorded, from ``start_at`` to ``end_at`` (capture time)."""

    event: ActionEvent
    start_at: float
    wall_start: float
    end_at: float | None = None  # known once the event has ended
    truncated: bool = False  # stopped at the length limit or at the end of the stream
    last_at: float = float("-inf")  # capture time of the newest picture sent to the writer


class EventRecorder(Output):
    """Pictures and events in, clips out (listed in :attr:`library`)."""

    def __init__(
        self,
        folder: str | Path,
        pre_roll_s: float = 3.0,
        post_roll_s: float = 3.0,
        max_mb: float = 1000.0,
        max_clip_s: float = 120.0,
        model_name: str = "",
        fps: float = 15.0,
        confirm_s: float = 3.0,
    ) -> None:
        self.folder = Path(folder)
        self.pre_roll_s = pre_roll_s
        self.post_roll_s = post_roll_s
        self.max_bytes = int(max_mb * 1e6)
        self.max_clip_s = max_clip_s
        self.model_name = model_name
        self.fps = fps  # the clips' frame rate: the compositor's
        # An event's start and end are known this long after the moment they mark (the detector's
        # hold): pictures go to the writer only once they are this old, so the end is cut right.
        self.confirm_s = confirm_s
        self.library = ClipLibrary(self.folder)
        self.deleted = 0  # old clips removed to stay within the budget
        _check_writable(self.folder)
        self.removed_parts = _remove_stale_parts(self.folder)
        self._ring: deque[Picture] = deque()
        self._clip: Clip | None = None
        self._lock = threading.Lock()  # pictures and events arrive from different threads
        # Work for the writer thread, in order: a Clip starts a file, a Picture goes into the
        # current one, None ends it; the string "stop" ends the thread.
        self._queue: queue.Queue = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="recorder", daemon=True)
        self._writer.start()

    @property
    def saved(self) -> list[Path]:
        """Clips written so far, in order."""
        return self.library.saved

    # -- inputs ----------------------------------------------------------------------------
    def on_picture(self, picture: Picture) -> None:
        with self._lock:
            self._ring.append(picture)
            while self._ring[0].timestamp < picture.timestamp - self.pre_roll_s - self.confirm_s - 1.0:
                self._ring.popleft()
            if self._clip is not None:
                self._send_ready(picture.timestamp - self.confirm_s)

    def on_event_start(self, event: ActionEvent) -> None:
        with self._lock:
            if self._clip is not None:  # the previous clip's post-roll is cut short by the next event
                self._end_now()
            self._clip = Clip(event, event.start_s - self.pre_roll_s, wall_start=time.time())
            self._queue.put(self._clip)

    def on_event_end(self, event: ActionEvent) -> None:
        with self._lock:
            if self._clip is not None and self._clip.event is event:  # else it was cut at the length limit
                self._clip.end_at = event.end_s + self.post_roll_s

    def close(self) -> None:
        """End of stream: end the clip in progress with what there is, and wait for the writer."""
        with self._lock:
            if self._clip is not None:
                self._end_now()
        self._queue.put("stop")
        self._writer.join()

    def _send_ready(self, upto: float) -> None:
        """Send the clip's pictures captured up to ``upto`` to the writer; end the clip when it is complete."""
        clip = self._clip
        limit = upto if clip.end_at is None else min(upto, clip.end_at)
        for picture in self._ring:
            if clip.last_at < picture.timestamp <= limit and picture.timestamp >= clip.start_at:
                clip.last_at = picture.timestamp
                self._queue.put(picture)
        if clip.end_at is not None and upto >= clip.end_at:
            self._finish()
        elif clip.last_at - clip.start_at >= self.max_clip_s:
            clip.truncated = True
            self._finish()

    def _end_now(self) -> None:
        """End the clip with the pictures there are; truncated if they stop short of its end."""
        clip = self._clip
        newest = self._ring[-1].timestamp if self._ring else float("-inf")
        clip.truncated = clip.end_at is None or newest < clip.end_at
        self._send_ready(float("inf"))
        if self._clip is not None:
            self._finish()

    def _finish(self) -> None:
        self._clip = None
        self._queue.put(None)

    # -- writer thread ---------------------------------------------------------------------
    def _write_loop(self) -> None:
        lower_this_thread()
        file: ClipFile | None = None
        while (item := self._queue.get()) != "stop":
            try:
                if isinstance(item, Clip):
                    file = ClipFile(self.folder, item, self.fps)
                elif isinstance(item, Picture) and file is not None:
                    file.write(item)
                elif item is None and file is not None:
                    event_id = file.clip.event.id
                    path, file = file.finish(self._sidecar), None
                    if path is not None:
                        self.library.add(path, event_id)
                        self._enforce_budget(keep=path)
            # A full disk, or a folder removed or replaced by a file, must not stop the app: that clip
            # is lost, its remaining pictures are taken and dropped (so they do not pile up in the
            # queue), and the next clip is tried afresh.
            except (OSError, UnsafeFile, cv2.error) as exc:
                log.warning("could not save the clip of %s: %s", file.clip.event.label if file else "an event", exc)
                if file is not None:
                    file.discard()
                file = None

    def _sidecar(self, file: ClipFile) -> dict:
        return {
            "event": file.clip.event.to_json(),
            "clip": {
                "file": file.path.name,
                "start_s": round(file.first_at, 3),
                "end_s": round(file.last_at, 3),
                "duration_s": round(file.frames / self.fps, 3),
                "frames": file.frames,
                "fps": self.fps,
                "size": list(file.size),
                "pre_roll_s": self.pre_roll_s,
                "post_roll_s": self.post_roll_s,
                "truncated": file.clip.truncated,
            },
            "model": self.model_name,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(file.clip.wall_start)),
        }

    def _enforce_budget(self, keep: Path) -> None:
        """Delete the oldest clips (and sidecars) until the clips take at most ``max_bytes``."""
        clips = self.library.on_disk()
        sizes = {p: _size(p) + _size(p.with_suffix(".json")) for p in clips}
        total = sum(sizes.values())
        for old in clips:
            if total <= self.max_bytes or old == keep:
                break
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
            total -= sizes[old]
            self.deleted += 1
        if total > self.max_bytes:
            log.warning("the newest clip alone (%.1f MB) is over --record-max-mb", total / 1e6)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()  # a new, unnamed file: never through a link
    except OSError as exc:
        raise UserError(f"cannot write clips to {folder} ({exc.strerror}): choose a writable folder for --record") from None


# A clip being written grows with every picture; one untouched this long was left by a run that
# did not end (a power cut, kill -9): without its index it cannot be played, and it is outside
# the disk budget, so a Pi that loses power now and then would fill its card with them.
STALE_PART_S = 600.0


def _remove_stale_parts(folder: Path) -> int:
    """Delete the unfinished clips (``*.part.mp4``, named as the recorder names them) that no run
    has written to for :data:`STALE_PART_S`; their number."""
    removed = 0
    for path in folder.glob("*.part.mp4"):
        try:
            info = os.lstat(path)  # never through a link
            ours = CLIP_NAME.match(path.name.replace(".part.mp4", ".mp4")) and stat.S_ISREG(info.st_mode)
            if ours and time.time() - info.st_mtime > STALE_PART_S:
                path.unlink()
                removed += 1
        except OSError:
            continue
    if removed:
        log.warning("removed %d unfinished clip(s) in %s left by a run that did not end", removed, folder)
    return removed


class ClipFile:
    """One MP4 being written at a constant frame rate (in the writer thread)."""

    def __init__(self, folder: Path, clip: Clip, fps: float) -> None:
        wall = clip.wall_start
        stem = time.strftime("%Y%m%d-%H%M%S", time.localtime(wall)) + f"-{int(wall * 1000) % 1000:03d}"
        stem += "_" + (re.sub(r"[^a-z0-9]+", "-", clip.event.label.lower()).strip("-") or "action")
        self.clip = clip
        self.path = folder / f"{stem}.mp4"
        self.partial = folder / f"{stem}.part.mp4"  # renamed when complete: a crash leaves no half clip posing as one
        self.fps = fps
        self.frames = 0
        self.size: tuple[int, int] = (0, 0)
        self.first_at = self.last_at = 0.0
        self._writer: cv2.VideoWriter | None = None
        self._claimed: os.stat_result | None = None  # the partial file made for the encoder
        self._previous: np.ndarray | None = None
        self._slot = 0.0  # capture time of the next output frame

    def write(self, picture: Picture) -> None:
        image = cv2.imdecode(np.frombuffer(picture.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if self._writer is None:
            self.size, self.first_at, self._slot = picture.size, picture.timestamp, picture.timestamp
            # Made here, never through a link (UnsafeFile): the encoder opens it by name and would follow one.
            try:
                fd = open_regular(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            except UnsafeFile as exc:
                raise UnsafeFile(f"{self.partial} {exc}") from None
            self._claimed = os.fstat(fd)
            os.close(fd)
            self._writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
            if not self._writer.isOpened():
                raise OSError(f"cannot write {self.partial}")
        elif image.shape[1::-1] != self.size:  # the camera was reopened at another size
            image = cv2.resize(image, self.size)
        # Every output slot before this picture shows the picture before it (repeated if one was dropped).
        while self._previous is not None and self._slot < picture.timestamp - 0.5 / self.fps:
            self._emit(self._previous)
        self._previous, self.last_at = image, picture.timestamp

    def _emit(self, image: np.ndarray) -> None:
        self._writer.write(image)
        self.frames += 1
        self._slot += 1.0 / self.fps

    def finish(self, sidecar) -> Path | None:
        """Close the file, move it into place and write ``sidecar(self)`` beside it."""
        if self._writer is None:
            return None
        self._emit(self._previous)
        self._writer.release()
        if self.frames < 2:
            self.partial.unlink(missing_ok=True)
            return None
        try:
            written = os.lstat(self.partial)
        except FileNotFoundError:
            written = None
        if written is None or (written.st_dev, written.st_ino) != (self._claimed.st_dev, self._claimed.st_ino):
            raise UnsafeFile(f"{self.partial} was removed or replaced while it was written")
        if written.st_size == 0:
            self.partial.unlink(missing_ok=True)
            raise OSError(f"the encoder wrote nothing to {self.partial} (disk full?)")
        os.replace(self.partial, self.path)  # a link at the clip's name is replaced, not followed
        try:  # whole or not at all: a full disk leaves no half-written sidecar
            replace_file(self.path.with_suffix(".json"), (json.dumps(sidecar(self), indent=1) + "\n").encode())
        except OSError:
            self.path.unlink(missing_ok=True)  # a clip without its sidecar would never be cleaned up by name
            raise
        return self.path

    def discard(self) -> None:
        """Give the clip up: close the encoder and remove the partial file if it can be (never raises OSError)."""
        if self._writer is not None:
            self._writer.release()
        with contextlib.suppress(OSError):  # the folder itself may be what failed (gone, a file now, read-only)
            self.partial.unlink(missing_ok=True)


def attach(app) -> EventRecorder:
    """``--record``: the output the app (being assembled) attaches."""
    s = app.settings
    # An event's start and end are told at most this long after them: its start after its hold
    # (and the fresh stream's settling, when it began in it) and the frame that completes it.
    confirm_s = max(s.hold + SETTLE_MAX_S + 1 / s.fps, s.grace) + 1
    return EventRecorder(s.record, s.pre_roll, s.post_roll, s.record_max_mb, model_name=app.name, confirm_s=confirm_s)
