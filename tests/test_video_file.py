"""VideoFileSource: what a file given as --camera is, told from the file itself."""

import struct
import zlib

import cv2
import numpy as np
import pytest

from video_classifier.errors import SourceError
from video_classifier.sources.video_file import VideoFileSource


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def animated_png(frames: int, size=(64, 48)) -> bytes:
    """An APNG: a PNG whose acTL chunk says it is an animation (FFmpeg plays it as a video)."""
    w, h = size

    def pixels(value: int) -> bytes:
        return zlib.compress(b"".join(b"\0" + bytes([value]) * (w * 3) for _ in range(h)))

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    data += chunk(b"acTL", struct.pack(">II", frames, 0))
    sequence = 0
    for i in range(frames):
        data += chunk(b"fcTL", struct.pack(">IIIIIHHBB", sequence, w, h, 0, 0, 1, 5, 0, 0))
        sequence += 1
        if i == 0:
            data += chunk(b"IDAT", pixels(40))
        else:
            data += chunk(b"fdAT", struct.pack(">I", sequence) + pixels(40 + 30 * i))
            sequence += 1
    return data + chunk(b"IEND", b"")


def box(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", 8 + len(data)) + kind + data


def frames_of(path) -> int:
    source = VideoFileSource(path)
    try:
        count = 0
        while source.read() is not None:
            count += 1
        return count
    finally:
        source.close()


def test_pictures_that_move_play_and_still_ones_are_refused_whatever_their_name(tmp_path):
    """An APNG starts as any PNG does, and a camera's MJPEG stream as any JPEG: only a file of
    one picture is a still one, also a photo without its .jpg."""
    animation = tmp_path / "wave.png"
    animation.write_bytes(animated_png(6))
    assert frames_of(animation) == 6
    picture = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))[1].tobytes()
    stream = tmp_path / "door.mjpeg"
    stream.write_bytes(picture * 8)
    assert frames_of(stream) == 8
    photo = tmp_path / "IMG_0001"
    photo.write_bytes(picture)
    with pytest.raises(SourceError, match=r"IMG_0001 is a still picture \(JPEG\), not a video"):
        VideoFileSource(photo)


@pytest.mark.parametrize("brand", [b"heic", b"avif"])
def test_a_phones_heif_or_avif_photo_is_a_still_picture_not_an_mp4_cut_short(tmp_path, brand):
    photo = tmp_path / f"photo.{brand.decode()}"
    photo.write_bytes(box(b"ftyp", brand + b"\0\0\0\0" + b"mif1" + brand) + box(b"meta", bytes(40)) + box(b"mdat", bytes(400)))
    with pytest.raises(SourceError, match=r"is a still picture \(HEIF or AVIF, a phone's photo\)"):
        VideoFileSource(photo)


def test_a_file_of_a_million_empty_boxes_is_judged_without_walking_them_all(tmp_path):
    crafted = tmp_path / "boxes.mp4"
    crafted.write_bytes(box(b"ftyp", b"isom\0\0\0\0isom") + box(b"free", b"") * 1_000_000)
    with pytest.raises(SourceError, match="not a video OpenCV can read"):  # not walked to its end: no verdict
        VideoFileSource(crafted)
