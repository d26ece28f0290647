"""The plain data that flows through the app: frames, predictions, events and pictures.

These sit at the bottom of the package: every part imports them without importing the part
that makes them (the recorder takes a :class:`Picture` without knowing the compositor).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

# The reserved label for "something else happens here" (teach mode): taught by corrections or
# --learn other, scored like an action, but never an event, a sensor or a notification.
OTHER = "other"
OTHER_SHOWN = "something else"


def shown(label: str) -> str:
    """A label as people read it: ``other`` is "something else"."""
    return OTHER_SHOWN if label == OTHER else label


@dataclass(frozen=True)
class Region:
    """A rectangle of the camera picture, in whole pixels."""

    x: int
    y: int
    w: int
    h: int

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    def fits(self, size: tuple[int, int]) -> bool:
        """Whether it lies wholly inside a picture of ``size`` (width, height)."""
        return self.x >= 0 and self.y >= 0 and self.x + self.w <= size[0] and self.y + self.h <= size[1]

    def crop(self, image: np.ndarray) -> np.ndarray:
        """Its part of ``image`` (a view, no copy)."""
        return image[self.y : self.y + self.h, self.x : self.x + self.w]

    def scaled(self, old: tuple[int, int], new: tuple[int, int]) -> Region:
        """The same part of a picture of size ``new`` that it is of a picture of size ``old``."""
        sx, sy = new[0] / old[0], new[1] / old[1]
        x, y = round(self.x * sx), round(self.y * sy)
        return Region(x, y, min(round(self.w * sx), new[0] - x), min(round(self.h * sy), new[1] - y))

    def fractions(self, size: tuple[int, int]) -> tuple[float, float, float, float]:
        """Its corners as fractions of a picture of ``size``: x0, y0, x1, y1 (for drawing at any scale)."""
        return self.x / size[0], self.y / size[1], (self.x + self.w) / size[0], (self.y + self.h) / size[1]

    @staticmethod
    def whole(size: tuple[int, int]) -> Region:
        return Region(0, 0, size[0], size[1])


@dataclass(frozen=True)
class Frame:
    """One picture (BGR uint8) and when it was captured, in seconds since the source started.

    ``lores`` is the Pi camera's second, smaller picture of the same moment and field of view,
    near the model's input size, as picamera2 gives YUV420: planar (I420), ``(h * 3 // 2,
    stride)``, each row padded to the stride (the chroma rows to half of it) past the picture's
    ``lores_width`` pixels. The model gets it (:attr:`model_image`); the window, live view and
    clips show ``image``.
    """

    image: np.ndarray
    timestamp: float
    index: int
    lores: np.ndarray | None = None
    lores_width: int | None = None  # None: the rows are not padded

    @cached_property
    def model_image(self) -> np.ndarray:
        """The picture for the model (BGR): the lores picture, or else ``image``.

        Converted on first use rather than by the source: the camera delivers 30 frames a second
        and the model takes 5, so only the frames it takes pay for the conversion. The padding
        is converted with the rest (OpenCV reads the chroma rows at half the stride) and cut off
        after, a view."""
        if self.lores is None:
            return self.image
        bgr = cv2.cvtColor(self.lores, cv2.COLOR_YUV2BGR_I420)
        return bgr if self.lores_width is None else bgr[:, : self.lores_width]


@dataclass(frozen=True)
class Category:
    """One action and its score."""

    label: str
    score: float


@dataclass(frozen=True)
class Prediction:
    """The classifier's answer for one model frame: the top actions, or while the taught actions
    warm up after a start or reset, none yet and ``warming_up_s``."""

    frame: int  # index of the camera/video frame that was classified
    time_s: float  # that frame's capture time, seconds since the source started
    top: list[Category]
    inference_ms: float
    received_at: float = 0.0  # time.monotonic() when the frame left the source, for latency
    features: np.ndarray | None = None  # the frame's own pooled features, when teaching needs them
    warming_up_s: float | None = None  # while warming up (top empty), the seconds until the first scores
    region: Region | None = None  # the part of the picture the model saw (a Region), None: the whole
    settling: bool = False  # a fresh stream's first answers (a start, a reset, a camera back): start no event

    @property
    def warming_up(self) -> bool:
        return self.warming_up_s is not None

    def warming_up_line(self) -> str:
        """What the overlay and the terminal say while warming up."""
        return f"warming up, {self.warming_up_s:.1f} s"

    def to_json(self) -> dict:
        """The ``--log`` record for this prediction (while warming up, no ``top``: nothing is named yet)."""
        record: dict = {"frame": self.frame, "time_s": round(self.time_s, 3)}
        if self.warming_up:
            record["warming_up_s"] = round(self.warming_up_s, 2)
        else:
            record["top"] = [{"label": c.label, "score": round(c.score, 5)} for c in self.top]
        if self.settling:
            record["settling"] = True
        record["inference_ms"] = round(self.inference_ms, 2)
        if self.region is not None:
            record["region"] = self.region.as_list()  # X,Y,W,H in pixels of the camera picture
        return record


def new_event_id() -> str:
    """A short random id, easy to type over SSH (``--correct 3f9a1c2e``)."""
    return os.urandom(4).hex()


@dataclass
class ActionEvent:
    """One stretch of time during which an action was the confident top-1; ``id`` names it in
    every output (log, MQTT, live view, clips) and in corrections."""

    label: str
    start_s: float
    end_s: float
    scores: list[float] = field(default_factory=list)
    id: str = field(default_factory=new_event_id)

    def to_json(self) -> dict:
        """The ``--log`` record for a finished event."""
        return {
            "type": "event",
            "id": self.id,
            "label": self.label,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "duration_s": round(self.end_s - self.start_s, 3),
            "peak": round(max(self.scores), 5),
            "mean": round(sum(self.scores) / len(self.scores), 5),
            "frames": len(self.scores),
        }


@dataclass(frozen=True)
class Picture:
    """One overlaid frame, JPEG-encoded."""

    jpeg: bytes
    timestamp: float  # the camera frame's capture time, seconds since the source started
    size: tuple[int, int]  # width, height
