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
    """Frames of a video file, timestamped by the file's frame rate (not by the wall clock)."""

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
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(f"cannot decode {self.path}: {_unreadable(self.path)}")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        # Some containers report 0 or absurd rates; fall back to the decoder's own clock then.
        self.fps = fps if 0 < fps < 1000 else 0.0
        self.expected_frames = max(int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self._index = 0
        self._first = self._read_raw()
        if self._first is None:
            self.close()
            raise SourceError(f"video {self.path} has no frames that can be decoded: check the file")
        picture = _picture_format(self.path)
        if picture:  # which FFmpeg opens as a video of one frame
            self.close()
            raise SourceError(
                f"{self.path} is a still picture ({picture}), not a video: actions are told from moving pictures: "
                "pass a video file, a camera index or 'picamera2' with --camera"
            )

    def _read_raw(self) -> Frame | None:
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        # POS_MSEC is unreliable (AVI reports the next frame's time and 0 at the end).
        decoder_s = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        timestamp = self._index / self.fps if self.fps else self._pass_start_s + decoder_s
        self._last_s = timestamp
        frame = Frame(image, timestamp, self._index)
        self._index += 1
        return frame

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
        self._pass_start_s = self._last_s + 0.04
        self._capture.release()
        self._capture = cv2.VideoCapture(str(self.path))
        self._pass_start = self._index
        return self._read_raw()

    @property
    def next_timestamp(self) -> float | None:
        """The capture time of the frame :meth:`read` or :meth:`skip` will give next, when the
        file's frame rate tells it."""
        if self._first is not None:
            return self._first.timestamp
        return self._index / self.fps if self.fps else None

    def skip(self) -> bool:
        """Pass over the next frame without converting its picture (a fraction of a full read);
        False at the end of the file, where :meth:`read` tells what happened."""
        if self._first is not None:
            self._first = None
            return True
        if not self._capture.grab():
            return False
        self._last_s = self._index / self.fps
        self._index += 1
        return True

    def close(self) -> None:
        self._capture.release()


def _unreadable(path: Path) -> str:
    """Why FFmpeg could not open ``path``, where the file itself tells (else the general reason)."""
    if _mp4_cut_short(path):
        return (
            "an MP4 file cut short before the end of its index (the 'moov' box a recorder writes last): "
            "a recording stopped before it was finished cannot be played; record it again or repair it"
        )
    return "not a video OpenCV can read (check the file, or convert it: ffmpeg -i FILE out.mp4)"


def _mp4_cut_short(path: Path) -> bool:
    """Whether ``path`` is an MP4 or QuickTime file (ISO base media: it starts with an 'ftyp'
    box) cut short: its top-level boxes end before the 'moov' box that indexes its frames, or
    that box runs past the end of the file."""
    with contextlib.suppress(OSError), path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        position = 0
        while position + 8 <= size:
            file.seek(position)
            header = file.read(16)
            length, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if position == 0 and kind != b"ftyp":
                return False
            if length == 1:  # a 64-bit length follows
                length = int.from_bytes(header[8:16], "big")
            if kind == b"moov":
                return position + length > size
            if length < 8:  # 0: the box runs to the end of the file
                break
            position += length
        return position > 0
    return False


# The first bytes of the picture formats FFmpeg opens as a "video".
_PICTURES = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def _picture_format(path: Path) -> str | None:
    """The still picture format ``path`` is in, by its first bytes (None: not one). A camera's
    MJPEG recording starts as a JPEG picture does (pictures one after another): JPEG counts
    only by its name."""
    try:
        with path.open("rb") as file:
            head = file.read(12)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    found = next((name for magic, name in _PICTURES if head.startswith(magic)), None)
    return None if found == "JPEG" and path.suffix.lower() not in (".jpg", ".jpeg", ".jfif") else found


def open_spec(spec: str, options) -> VideoFileSource:
    """A ``--camera`` path: the video file (played again and again with ``options.loop``)."""
    return VideoFileSource(spec, options.loop)
