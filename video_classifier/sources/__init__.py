"""Frame sources: the Pi camera (picamera2), a USB camera, an IP camera or a video file, behind
one interface (:class:`~video_classifier.sources.base.FrameSource`).

Every source yields :class:`~video_classifier.data.Frame` objects carrying the frame's capture
time, which is what the pacer uses to pick frames at the model's rate. :func:`open_source`
decides what a ``--camera`` string means, from :data:`KINDS`; everything else just reads frames.

A new kind of source is one module with an ``open_spec(spec, options)`` function and one line
in :data:`KINDS`. Modules are imported only when their kind is used (start-up time on a Pi).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from video_classifier.sources.base import FrameSource
from video_classifier.sources.camera_url import is_network


@dataclass(frozen=True)
class SourceOptions:
    """What the flags say about any source; each kind uses the fields it needs."""

    width: int = 640
    height: int = 480
    camera_fps: float = 30.0
    hflip: bool = False
    vflip: bool = False
    loop: bool = False  # a video file plays again and again
    rtsp_transport: str = "tcp"
    model_size: tuple[int, int] | None = None  # the model's input: the Pi camera's ISP can scale to it
    model_crop: str = "center"


# (what it is, which --camera strings it takes, the module that opens it): the first match wins.
KINDS: tuple[tuple[str, Callable[[str], bool], str], ...] = (
    ("IP camera", is_network, "video_classifier.sources.ip_camera"),
    ("Pi camera", lambda spec: spec == "picamera2", "video_classifier.sources.pi_camera"),
    ("USB camera", str.isdecimal, "video_classifier.sources.usb_camera"),
    ("video file", lambda spec: True, "video_classifier.sources.video_file"),
)


def picamera2_available() -> bool:
    """Whether the picamera2 module can be imported (it is only packaged for Raspberry Pi OS)."""
    return importlib.util.find_spec("picamera2") is not None


def default_camera() -> str:
    """``picamera2`` on a Pi with the module installed, else the first USB camera."""
    return "picamera2" if picamera2_available() else "0"


def open_source(spec: str, options: SourceOptions | None = None, **fields) -> FrameSource:
    """Open what a ``--camera`` string names: ``picamera2``, a camera index, an IP camera's URL,
    or a video path. ``options`` (or its fields as keywords) say how."""
    options = options or SourceOptions(**fields)
    module = next(module for _, matches, module in KINDS if matches(spec))
    return importlib.import_module(module).open_spec(spec, options)
