"""A send time drawn into a video frame, to measure camera-to-model latency over a real stream.

The stamp is a band of 2 rows x 24 square cells, pure black or white, in the frame's top-left
corner: 40 bits of ``int(time.time() * 1000) % 2**40`` (milliseconds, wrapping every 35 years)
then an 8-bit CRC. Cells are ``min(16, width // 24)`` pixels wide, so at 384 pixels and more they
sit on H.264's 16x16 macroblock grid, and black next to white survives the encoder's quantising.

Plain Python (no numpy): the RTSP test server imports it under the system Python, which may have
no numpy. ``read_stamp`` takes a numpy image but only uses the array's own methods.
"""

from __future__ import annotations

import time

COLUMNS, ROWS = 24, 2
VALUE_BITS, CHECK_BITS = 40, 8
WRAP = 1 << VALUE_BITS


def cell_size(width: int) -> int:
    """The side of one cell, in pixels, for a frame ``width`` pixels wide."""
    return min(16, width // COLUMNS)


def band_size(width: int) -> tuple[int, int]:
    """(width, height) in pixels of the stamp band in a frame ``width`` pixels wide."""
    cell = cell_size(width)
    return COLUMNS * cell, ROWS * cell


def _crc8(value: int) -> int:
    """CRC-8 (polynomial 0x07) of the value's 5 bytes, with 0xFF first so that all black fails."""
    crc = 0xFF
    for byte in value.to_bytes(VALUE_BITS // 8, "big"):
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def stamp_bits(ms: int) -> list[int]:
    """The 48 bits (most significant first) that stamp the time ``ms`` (milliseconds since 1970)."""
    value = ms % WRAP
    word = (value << CHECK_BITS) | _crc8(value)
    total = VALUE_BITS + CHECK_BITS
    return [(word >> (total - 1 - i)) & 1 for i in range(total)]


def luma_rows(ms: int, width: int) -> list[bytes]:
    """The stamp band's pixel rows for an 8-bit luma (or grey) plane: 0 for black, 255 for white.

    Each row is ``band_size(width)[0]`` bytes; write them over the first rows of the plane."""
    cell = cell_size(width)
    bits = stamp_bits(ms)
    rows = []
    for r in range(ROWS):
        row = b"".join((b"\xff" if bit else b"\x00") * cell for bit in bits[r * COLUMNS : (r + 1) * COLUMNS])
        rows += [row] * cell
    return rows


def draw_stamp(image, ms: int) -> None:
    """Draw the stamp of ``ms`` into a numpy image (grey or BGR) in place."""
    import numpy as np

    width, height = band_size(image.shape[1])
    band = np.frombuffer(b"".join(luma_rows(ms, image.shape[1])), np.uint8).reshape(height, width)
    image[:height, :width] = band if image.ndim == 2 else band[..., None]


def read_stamp(image, now_ms: float | None = None) -> int | None:
    """The send time stamped in a BGR (or grey) numpy image, in milliseconds since 1970, or None.

    None when the frame is too small, any cell is not clearly black or white, or the check fails.
    The 40 stamped bits are completed with the high bits of ``now_ms`` (default: now), taking the
    time nearest to it.
    """
    height, width = image.shape[:2]
    cell = cell_size(width)
    if cell < 4 or height < ROWS * cell:
        return None
    # The middle half of each cell: its edges blur into the neighbour's colour after compression.
    lo, hi = cell // 4, cell - cell // 4
    bits = []
    for r in range(ROWS):
        for c in range(COLUMNS):
            level = float(image[r * cell + lo : r * cell + hi, c * cell + lo : c * cell + hi].mean())
            if 64 < level < 192:
                return None
            bits.append(1 if level >= 192 else 0)
    word = 0
    for bit in bits:
        word = (word << 1) | bit
    value, check = word >> CHECK_BITS, word & ((1 << CHECK_BITS) - 1)
    if _crc8(value) != check:
        return None
    now = time.time() * 1000 if now_ms is None else now_ms
    base = int(now) - int(now) % WRAP
    return min((base - WRAP + value, base + value, base + WRAP + value), key=lambda t: abs(t - now))
