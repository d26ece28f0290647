"""A video file (or a V4L2 device given by path) through OpenCV."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import cv2

from video_classifier.data import Frame
from video_classifier.errors import SourceError
from video_classifier.sources.base import FrameSource


class VideoFileSource(FrameSource):
    """Frames of a video file, timestamped by the file's own frame times (a phone's video has a
    variable frame rate: frames come closer or further apart as the light changes), or by its
    frame rate where the container keeps no times (AVI); never by the wall clock."""

    live = False

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        self.path = Path(path)
        self.loop = loop
        self.name = self.path.name
        if not self.path.is_file():
            device = re.fullmatch(r"/dev/video(\d+)", str(self.path))
            if device:
                raise SourceError(f"{self.path} is not a video file: a USB camera is given by its index, --camera {device[1]}")
            what = "is a directory" if self.path.is_dir() else "is not a regular file" if self.path.exists() else "not found"
            raise SourceError(f"video {what}: {self.path}: pass a video file, a camera index or 'picamera2' with --camera")
        self._capture = cv2.VideoCapture(str(self.path))
        self._pass_start = 0  # index of this pass's first frame: with ``loop`` the index runs on
        self._pass_start_s = self._last_s = 0.0
        # AVI keeps no frame times (OpenCV reports the next frame's, and 0 at the end): its rate says them.
        self._own_times = not _is_avi(self.path)
        self._time_zero: float | None = None  # this pass's first frame's own time (a file may start after 0)
        self._grabbed: float | None = None  # the time of a frame grabbed but not yet taken (decoded, not converted)
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(_unreadable(self.path))
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        # Some containers report 0 or absurd rates; fall back to the decoder's own clock then.
        self.fps = fps if 0 < fps < 1000 else 0.0
        self._step = 1 / self.fps if self.fps else 0.04  # the last time between two frames (a frame interval)
        self.expected_frames = max(int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self._index = 0
        self._first = self._read_raw()
        if self._first is None:
            self.close()
            raise SourceError(f"video {self.path} has no frames that can be decoded: check the file")
        picture = _picture_format(self.path)
        if picture:  # FFmpeg opens one as a video of one frame; a camera's MJPEG stream, an APNG: of many
            if not self._capture.grab():
                self.close()
                raise SourceError(_still_picture(self.path, picture))
            self._capture.release()  # start again at the first frame
            self._capture = cv2.VideoCapture(str(self.path))
            self._index, self._last_s, self._time_zero, self._grabbed = 0, 0.0, None, None
            self._first = self._read_raw()

    def _grab(self) -> float | None:
        """Grab the next frame (decoded, its picture not yet converted), once; its capture time,
        or None at the end of the file."""
        if self._grabbed is None and self._capture.grab():
            self._grabbed = self._time_of_grabbed()
        return self._grabbed

    def _time_of_grabbed(self) -> float:
        """The capture time of the frame just grabbed, from the start of the first pass."""
        if self.fps and not self._own_times:
            return self._index / self.fps
        decoder_s = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if not self.fps:
            return self._pass_start_s + decoder_s
        if self._time_zero is None:
            self._time_zero = decoder_s
        elif self._index == self._pass_start + 1 and decoder_s == self._time_zero:
            self._own_times = False  # the second frame says the first one's time: a file without frame times
            return self._index / self.fps
        timestamp = self._pass_start_s + decoder_s - self._time_zero
        # A time going back (a damaged file): a frame interval after the frame before, never earlier.
        return self._last_s + self._step if timestamp < self._last_s else timestamp

    def _take(self) -> float:
        """Take the grabbed frame as the next one; its capture time."""
        timestamp, self._grabbed = self._grabbed, None
        if self._index > self._pass_start and timestamp > self._last_s:
            self._step = timestamp - self._last_s
        self._last_s = timestamp
        self._index += 1
        return timestamp

    def _read_raw(self) -> Frame | None:
        if self._grab() is None:
            return None
        ok, image = self._capture.retrieve()
        index, timestamp = self._index, self._take()
        return Frame(image, timestamp, index) if ok and image is not None else None

    def read(self) -> Frame | None:
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        frame = self._read_raw()
        decoded = self._index - self._pass_start
        # The header's frame count is an estimate for some containers: allow a little slack.
        if frame is None and decoded < self.expected_frames - max(2, self.expected_frames // 50):
            raise SourceError(
                f"{self.path} stopped decoding at frame {decoded} of {self.expected_frames}: the file is "
                "truncated or damaged (results up to there were written)"
            )
        if frame is None and self.loop and decoded:
            frame = self._rewind()
        return frame

    def _rewind(self) -> Frame | None:
        """Start the next pass: reopened (seeking is unreliable in some containers), with the
        timestamps running on one frame interval after the last frame."""
        self._pass_start_s = self._last_s + self._step
        self._capture.release()
        self._capture = cv2.VideoCapture(str(self.path))
        self._pass_start, self._time_zero, self._grabbed = self._index, None, None
        return self._read_raw()

    @property
    def next_timestamp(self) -> float | None:
        """The capture time of the frame :meth:`read` or :meth:`skip` will give next (grabbed to
        know it), when the file tells it; None at the end of a pass, or without a frame rate."""
        if self._first is not None:
            return self._first.timestamp
        return self._grab() if self.fps else None

    def skip(self) -> bool:
        """Pass over the next frame without converting its picture (a fraction of a full read);
        False at the end of the file, where :meth:`read` tells what happened."""
        if self._first is not None:
            self._first = None
            return True
        if self._grab() is None:
            return False
        self._take()
        return True

    def close(self) -> None:
        self._capture.release()


def _is_avi(path: Path) -> bool:
    """Whether ``path`` is an AVI file, by its first bytes."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except OSError:
        return False
    return head[:4] == b"RIFF" and head[8:12] == b"AVI "


def _still_picture(path: Path, kind: str) -> str:
    """The error line for a picture given as a video."""
    return (
        f"{path} is a still picture ({kind}), not a video: actions are told from moving pictures: "
        "pass a video file, a camera index or 'picamera2' with --camera"
    )


def _unreadable(path: Path) -> str:
    """The error line for a file FFmpeg could not open: why, where the file itself tells."""
    boxes = _top_level_boxes(path)
    if boxes and boxes[0][0] == b"ftyp" and boxes[0][2] & _PICTURE_BRANDS:
        return _still_picture(path, "HEIF or AVIF, a phone's photo")
    if boxes and boxes[0][0] == b"ftyp" and not any(kind == b"moov" and whole for kind, whole, _ in boxes):
        return (
            f"cannot decode {path}: an MP4 file cut short before the end of its index (the 'moov' box a recorder "
            "writes last): a recording stopped before it was finished cannot be played; record it again or repair it"
        )
    return f"cannot decode {path}: not a video OpenCV can read (check the file, or convert it: ffmpeg -i FILE out.mp4)"


# ISO base media files that hold pictures, not a video (their 'ftyp' box's brands).
_PICTURE_BRANDS = {b"mif1", b"msf1", b"heic", b"heix", b"heim", b"heis", b"avif", b"avis"}
_MAX_BOXES = 10_000  # a file of millions of empty boxes is not walked to its end


def _top_level_boxes(path: Path) -> list[tuple[bytes, bool, set[bytes]]]:
    """The top-level boxes of an ISO base media file (MP4, QuickTime, HEIF): each box's type,
    whether the file holds all of it, and for the first, its brands. Empty for other files."""
    boxes: list[tuple[bytes, bool, set[bytes]]] = []
    with contextlib.suppress(OSError), path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        head = file.read(64)
        if head[4:8] != b"ftyp":
            return []
        length = int.from_bytes(head[:4], "big")
        brands = {head[i : i + 4] for i in range(8, min(length, len(head)), 4)} - {head[12:16]}  # not the minor version
        position = 0
        while position + 8 <= size and len(boxes) < _MAX_BOXES:
            file.seek(position)
            header = file.read(16)
            length, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if length == 1:  # a 64-bit length follows
                length = int.from_bytes(header[8:16], "big")
            if length == 0:  # the box runs to the end of the file
                length = size - position
            boxes.append((kind, position + length <= size, brands if not boxes else set()))
            if length < 8:
                break
            position += length
    return boxes if len(boxes) < _MAX_BOXES else []  # not walked to the end: nothing to tell


# The first bytes of the picture formats FFmpeg opens as a "video".
_PICTURES = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def _picture_format(path: Path) -> str | None:
    """The picture format ``path`` is in, by its first bytes (None: not one)."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _PICTURES if head.startswith(magic)), None)


def open_spec(spec: str, options) -> VideoFileSource:
    """A ``--camera`` path: the video file (played again and again with ``options.loop``)."""
    return VideoFileSource(spec, options.loop)
