"""A USB camera through OpenCV."""

from __future__ import annotations

import time

import cv2

from video_classifier.data import Frame
from video_classifier.errors import SourceError
from video_classifier.sources.base import FrameSource

MAX_INDEX = 2**31 - 1  # OpenCV takes a C int: a larger index names no camera


class OpenCVCameraSource(FrameSource):
    """A USB (V4L2) camera through OpenCV, timestamped by the monotonic clock at capture."""

    def __init__(self, index: int, width: int, height: int) -> None:
        self.name = f"camera {index}"
        self._capture = cv2.VideoCapture(index) if index <= MAX_INDEX else None
        if self._capture is None or not self._capture.isOpened():
            if self._capture is not None:
                self._capture.release()
            raise SourceError(
                f"camera {index} cannot be opened (absent or busy): check `ls /dev/video*`, "
                "or use --camera picamera2 for a Pi camera"
            )
        self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._start = time.monotonic()
        self._index = 0

    def read(self) -> Frame | None:
        ok, image = self._capture.read()
        if not ok or image is None:
            raise SourceError(f"{self.name} stopped delivering frames (unplugged?): reconnect it and start again")
        frame = Frame(image, time.monotonic() - self._start, self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        self._capture.release()


def open_spec(spec: str, options) -> OpenCVCameraSource:
    """A ``--camera`` index: that USB camera."""
    return OpenCVCameraSource(int(spec), options.width, options.height)
