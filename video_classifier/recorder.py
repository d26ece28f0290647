"""MP4 clips around action events, with the overlay, a JSON sidecar and a disk budget.

The compositor's JPEG pictures go into a ring buffer that covers the pre-roll (and the time an
event takes to be confirmed). When an event starts, a clip begins with the buffered pictures
from ``pre_roll_s`` before the event; it ends ``post_roll_s`` after the event. A writer thread
decodes and encodes the clip, so neither the model nor the live view waits for the disk.
Keeping JPEGs rather than raw frames makes the ring about 25x smaller (a 640x480 frame is
900 KB raw, about 40 KB as JPEG).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from video_classifier.compositor import Picture
from video_classifier.errors import UserError
from video_classifier.events import ActionEvent

log = logging.getLogger("record")

# Only files named like this are ever deleted by the disk budget, whatever else is in the folder.
CLIP_NAME = re.compile(r"^\d{8}-\d{6}-\d{3}_[a-z0-9-]+\.mp4$")
CONFIRM_MARGIN_S = 10.0  # the ring also covers the time between an event's start and its confirmation


@dataclass
class Clip:
    """An event being recorded: its pictures from ``start_at`` to ``end_at`` (capture time)."""

    event: ActionEvent
    start_at: float
    wall_start: float
    pictures: list[Picture] = field(default_factory=list)
    end_at: float | None = None  # known once the event has ended
    truncated: bool = False  # stopped at the length limit or at the end of the stream


class EventRecorder:
    """Pictures in (:meth:`add`), events in (``event_started``/``event_ended``), clips out."""

    def __init__(
        self,
        folder: str | Path,
        pre_roll_s: float = 3.0,
        post_roll_s: float = 3.0,
        max_mb: float = 1000.0,
        max_clip_s: float = 120.0,
        model_name: str = "",
    ) -> None:
        self.folder = Path(folder)
        self.pre_roll_s = pre_roll_s
        self.post_roll_s = post_roll_s
        self.max_bytes = int(max_mb * 1e6)
        self.max_clip_s = max_clip_s
        self.model_name = model_name
        self.saved: list[Path] = []  # clips written so far, in order
        self.deleted = 0  # old clips removed to stay within the budget
        _check_writable(self.folder)
        self._ring: deque[Picture] = deque()
        self._clip: Clip | None = None
        self._lock = threading.Lock()  # pictures and events arrive from different threads
        self._queue: queue.Queue[Clip | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="recorder", daemon=True)
        self._writer.start()

    # -- inputs ----------------------------------------------------------------------------
    def add(self, picture: Picture) -> None:
        """A compositor consumer: every overlaid picture."""
        with self._lock:
            self._ring.append(picture)
            while self._ring[0].timestamp < picture.timestamp - self.pre_roll_s - CONFIRM_MARGIN_S:
                self._ring.popleft()
            clip = self._clip
            if clip is None:
                return
            clip.pictures.append(picture)
            if clip.end_at is not None and picture.timestamp >= clip.end_at:
                self._finish()
            elif picture.timestamp - clip.start_at >= self.max_clip_s:
                clip.truncated, clip.end_at = True, picture.timestamp
                self._finish()

    def event_started(self, event: ActionEvent) -> None:
        with self._lock:
            if self._clip is not None:  # the previous clip's post-roll is cut short by the next event
                self._finish()
            start_at = event.start_s - self.pre_roll_s
            self._clip = Clip(event, start_at, wall_start=time.time())
            self._clip.pictures = [p for p in self._ring if p.timestamp >= start_at]

    def event_ended(self, event: ActionEvent) -> None:
        with self._lock:
            clip = self._clip
            if clip is None or clip.event is not event:
                return  # its clip was already cut at the length limit
            clip.end_at = event.end_s + self.post_roll_s
            if clip.pictures and clip.pictures[-1].timestamp >= clip.end_at:
                self._finish()

    def close(self) -> None:
        """End of stream: save the clip in progress with what there is, and wait for the writer."""
        with self._lock:
            if self._clip is not None:
                self._clip.truncated = (
                    self._clip.end_at is None
                    or not self._clip.pictures
                    or (self._clip.pictures[-1].timestamp < self._clip.end_at)
                )
                self._finish()
        self._queue.put(None)
        self._writer.join()

    def recent_clips(self, count: int = 10) -> list[Path]:
        """The newest saved clips still on disk, newest first."""
        return [p for p in reversed(self.saved[-count * 2 :]) if p.exists()][:count]

    def clip_path(self, name: str) -> Path | None:
        """The clip or sidecar called ``name`` in the folder, if it is one of ours."""
        stem, _, extension = name.rpartition(".")
        if extension not in ("mp4", "json") or not CLIP_NAME.match(stem + ".mp4"):
            return None  # also refuses anything with a "/" in it
        path = self.folder / name
        return path if path.is_file() else None

    def _finish(self) -> None:
        clip, self._clip = self._clip, None
        end_at = clip.end_at if clip.end_at is not None else float("inf")
        clip.pictures = [p for p in clip.pictures if clip.start_at <= p.timestamp <= end_at]
        if len(clip.pictures) >= 2:
            self._queue.put(clip)

    # -- writer thread ---------------------------------------------------------------------
    def _write_loop(self) -> None:
        while (clip := self._queue.get()) is not None:
            try:
                path = self._write(clip)
            except (OSError, cv2.error) as exc:  # a full or vanished disk must not stop the app
                log.warning("could not save the clip of %s: %s", clip.event.label, exc)
                continue
            self.saved.append(path)
            self._enforce_budget(keep=path)

    def _write(self, clip: Clip) -> Path:
        pictures = clip.pictures
        span = pictures[-1].timestamp - pictures[0].timestamp
        fps = (len(pictures) - 1) / span if span > 0 else 1.0
        stem = time.strftime("%Y%m%d-%H%M%S", time.localtime(clip.wall_start)) + f"-{int(clip.wall_start * 1000) % 1000:03d}"
        stem += "_" + (re.sub(r"[^a-z0-9]+", "-", clip.event.label.lower()).strip("-") or "action")
        video, partial = self.folder / f"{stem}.mp4", self.folder / f"{stem}.part.mp4"
        width, height = pictures[0].size
        writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise OSError(f"cannot write {partial}")
        try:
            for picture in pictures:
                image = cv2.imdecode(np.frombuffer(picture.jpeg, np.uint8), cv2.IMREAD_COLOR)
                if image.shape[:2] != (height, width):  # the camera was reopened at another size
                    image = cv2.resize(image, (width, height))
                writer.write(image)
        finally:
            writer.release()
        if not partial.exists() or partial.stat().st_size == 0:
            partial.unlink(missing_ok=True)
            raise OSError(f"the encoder wrote nothing to {partial} (disk full?)")
        os.replace(partial, video)
        sidecar = {
            "event": clip.event.to_json(),
            "clip": {
                "file": video.name,
                "start_s": round(pictures[0].timestamp, 3),
                "end_s": round(pictures[-1].timestamp, 3),
                "duration_s": round(len(pictures) / fps, 3),
                "frames": len(pictures),
                "fps": round(fps, 3),
                "size": [width, height],
                "pre_roll_s": self.pre_roll_s,
                "post_roll_s": self.post_roll_s,
                "truncated": clip.truncated,
            },
            "model": self.model_name,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(clip.wall_start)),
        }
        try:
            video.with_suffix(".json").write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
        except OSError:
            video.unlink(missing_ok=True)  # a clip without its sidecar would never be cleaned up by name
            raise
        return video

    def _enforce_budget(self, keep: Path) -> None:
        """Delete the oldest clips (and sidecars) until the clips take at most ``max_bytes``."""
        clips = sorted(p for p in self.folder.glob("*.mp4") if CLIP_NAME.match(p.name))
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
        probe = folder / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write clips to {folder} ({exc.strerror}): choose a writable folder for --record") from None
