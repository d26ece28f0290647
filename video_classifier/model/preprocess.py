"""Turn a camera frame into the pixels a MoViNet stream model expects.

Steps: centre square crop (or none, squashing the whole frame), resize to the model size,
BGR to RGB, scale to [0, 1]. Frames of any common layout are accepted: grey, BGR, BGRA,
8- or 16-bit integers, or floats in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_CHOICES = ("center", "none")

# cv2.resize handles these dtypes natively; anything else goes through float32 first.
_RESIZABLE = (np.uint8, np.uint16, np.float32)
_SCALE = {np.dtype(np.uint8): np.float32(1 / 255), np.dtype(np.uint16): np.float32(1 / 65535)}


def center_square(frame: np.ndarray) -> np.ndarray:
    """The largest centred square of ``frame`` (a view, no copy)."""
    height, width = frame.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return frame[top : top + side, left : left + side]


def resize_rgb(frame: np.ndarray, size: tuple[int, int], crop: str = "center") -> np.ndarray:
    """Crop, resize to ``size`` (width, height) and convert to 3-channel RGB; the dtype is kept
    for uint8, uint16 and float32 frames, other dtypes become float32.

    Raises ``ValueError`` for frames that are not 2-D images with 1, 3 or 4 channels.
    """
    if frame.ndim not in (2, 3) or frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"a frame must be an HxW or HxWxC image, got shape {frame.shape}")
    channels = 1 if frame.ndim == 2 else frame.shape[2]
    if channels not in (1, 3, 4):
        raise ValueError(f"a frame must have 1, 3 or 4 channels, got {channels}")
    if crop == "center":
        frame = center_square(frame)
    if np.issubdtype(frame.dtype, np.floating):
        # Floats are taken to be in [0, 1]; NaN and infinities must not reach the model.
        # Clip before the cast: a float64 beyond float32's range would overflow on the way.
        frame = np.clip(np.nan_to_num(frame, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0).astype(np.float32)
    elif frame.dtype.type not in _RESIZABLE:  # other integer types and bool: taken as 8-bit
        frame = np.clip(frame, 0, 255).astype(np.uint8) if frame.dtype != np.bool_ else frame.astype(np.uint8) * 255
    small = _shrink(frame, size)
    if small.ndim == 2 or small.shape[2] == 1:
        return cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(small, cv2.COLOR_BGR2RGB if small.shape[2] == 3 else cv2.COLOR_BGRA2RGB)


def _shrink(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to ``size``. By less than half: bilinear, as Kinetics' own pipelines resize (and a
    tenth of INTER_AREA's cost at such ratios, whose generic path is the slowest). By more:
    area averaging, the quality that matters for the model there (plain bilinear skips pixels
    and loses the weak classes), at a fraction of INTER_AREA's cost on large frames: bilinear
    to twice the target first, then an exact 2:1 area reduction (``benchmarks/models.py``)."""
    width, height = size
    if frame.shape[:2] == (height, width):
        return frame  # already the model's size: the camera's lores picture, centre-cropped or squashed by the ISP
    if frame.shape[0] > 2 * height and frame.shape[1] > 2 * width:
        frame = cv2.resize(frame, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
        return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)


def fill_input(dst: np.ndarray, rgb: np.ndarray) -> None:
    """Write ``rgb`` scaled to [0, 1] into the float32 array ``dst`` without a temporary."""
    scale = _SCALE.get(rgb.dtype)
    if scale is None:  # floats are taken to be in [0, 1] already
        np.clip(rgb, 0.0, 1.0, out=dst, casting="unsafe")
    else:
        np.multiply(rgb, scale, out=dst, casting="unsafe")
