"""The picture on the Linux console framebuffer (``/dev/fb0``), for a Pi without a desktop.

Raspberry Pi OS Lite has no X server, but its KMS driver offers the HDMI screen as a framebuffer
device. Its geometry comes from sysfs (``/sys/class/graphics/fb0``: ``virtual_size``,
``bits_per_pixel``, ``stride``); the picture is scaled to fit, centred between black bars, and
written straight into the device's memory as BGRX (32 bits per pixel) or RGB565 (16).

Settings (for other devices, and for tests that stand a file in for the device):
    MOVINET_FRAMEBUFFER   the device used when no X display can be opened (default /dev/fb0)
    MOVINET_FB_SYSFS      the folder holding its geometry (default /sys/class/graphics/<name>)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from video_classifier import environment
from video_classifier.errors import DisplayError

DEFAULT_DEVICE = "/dev/fb0"


def default_device() -> Path:
    return Path(environment.value("MOVINET_FRAMEBUFFER") or DEFAULT_DEVICE)


@dataclass(frozen=True)
class Geometry:
    """What the picture must fit: visible size, bits per pixel and bytes per line."""

    width: int
    height: int
    bits_per_pixel: int
    line_length: int

    @classmethod
    def of(cls, device: Path) -> Geometry:
        folder = Path(environment.value("MOVINET_FB_SYSFS") or f"/sys/class/graphics/{device.name}")
        try:
            width, height = (int(v) for v in (folder / "virtual_size").read_text().strip().split(","))
            bpp = int((folder / "bits_per_pixel").read_text().strip())
            stride_file = folder / "stride"
            line_length = int(stride_file.read_text().strip()) if stride_file.exists() else width * bpp // 8
        except (OSError, ValueError) as exc:
            raise DisplayError(f"cannot read the geometry of {device} from {folder} ({exc})") from None
        if bpp not in (16, 32):
            raise DisplayError(f"{device} has {bpp} bits per pixel; only 16 and 32 are drawn: set the console to 32 bpp")
        if line_length < width * bpp // 8:
            raise DisplayError(f"{device}: line length {line_length} is shorter than {width} pixels")
        return cls(width, height, bpp, line_length)


def placement(size: tuple[int, int], geometry: Geometry) -> tuple[int, int, int, int]:
    """Where a ``size`` (width, height) picture goes: x, y, width, height, scaled to fit and centred."""
    scale = min(geometry.width / size[0], geometry.height / size[1])
    width, height = max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
    return (geometry.width - width) // 2, (geometry.height - height) // 2, width, height


class Framebuffer:
    """A framebuffer device (or a file standing in for one), drawn into through a memory map."""

    def __init__(self, device: str | Path) -> None:
        self.device = Path(device)
        self.geometry = Geometry.of(self.device)
        g = self.geometry
        try:
            self._memory = np.memmap(self.device, dtype=np.uint8, mode="r+", shape=(g.height, g.line_length))
        except PermissionError:
            raise DisplayError(
                f"no permission to draw on {self.device}: add yourself to the 'video' group "
                "(sudo usermod -aG video $USER, then log in again)"
            ) from None
        except (OSError, ValueError) as exc:
            raise DisplayError(f"cannot draw on {self.device} ({exc})") from None
        self._bytes = g.bits_per_pixel // 8
        self._placed: tuple[tuple[int, int], tuple[int, int, int, int]] | None = None

    def show(self, image: np.ndarray) -> None:
        """Draw a BGR picture, scaled to fit the screen and centred."""
        size = (image.shape[1], image.shape[0])
        if self._placed is None or self._placed[0] != size:
            self.clear()  # black bars around the picture, drawn once per picture size
            self._placed = (size, placement(size, self.geometry))
        x, y, width, height = self._placed[1]
        shrinking = width < size[0]
        scaled = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        pixels = cv2.cvtColor(scaled, cv2.COLOR_BGR2BGRA if self._bytes == 4 else cv2.COLOR_BGR2BGR565)
        target = self._memory[y : y + height, x * self._bytes : (x + width) * self._bytes]
        target[...] = pixels.reshape(height, width * self._bytes)

    def clear(self) -> None:
        """Black on every visible pixel (the padding past the visible width is left alone)."""
        self._memory[:, : self.geometry.width * self._bytes] = 0

    def close(self) -> None:
        memory, self._memory = self._memory, None
        if memory is not None:
            memory.flush()
            del memory
