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


def with_frame_lengths(mp4: bytes, lengths, shifts=None) -> bytes:
    """An MP4 as OpenCV writes it (its index, the 'moov' box, after the pictures) with frame i
    lasting ``lengths(i)`` frame intervals: a variable frame rate, as a phone records. With
    ``shifts``, frame i is shown ``shifts(i)`` intervals from its place (a 'ctts' box: a damaged
    file's may send a time back)."""
    ticks_of: list[int] = []

    def rebuild(data: bytes) -> bytes:
        out, position = b"", 0
        while position < len(data):
            size, kind = struct.unpack(">I4s", data[position : position + 8])
            body = data[position + 8 : position + size]
            if kind == b"edts":  # its edit list would end the video at the old length
                position += size
                continue
            if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
                body = rebuild(body)
            elif kind == b"stts":  # the frames' durations: (count, ticks) pairs, here one for all
                count, ticks = struct.unpack(">II", body[8:16])
                ticks_of[:] = [count, ticks]
                durations = [round(lengths(i) * ticks) for i in range(count)]
                body = body[:4] + struct.pack(">I", count) + b"".join(struct.pack(">II", 1, d) for d in durations)
            out += box(kind, body)
            position += size
            if kind == b"stts" and shifts is not None:  # version 1: signed offsets
                count, ticks = ticks_of
                out += box(b"ctts", b"\x01\0\0\0" + struct.pack(">I", count) + b"".join(
                    struct.pack(">Ii", 1, round(shifts(i) * ticks)) for i in range(count)))  # fmt: skip
        return out

    return rebuild(mp4)


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


def phone_video(folder, frames: int, lengths, shifts=None):
    """A 30 fps MP4 of ``frames`` frames, then retimed: frame i lasts ``lengths(i)`` intervals
    (and is shown ``shifts(i)`` from its place)."""
    plain = folder / "plain.mp4"
    writer = cv2.VideoWriter(str(plain), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i * 2, np.uint8))
    writer.release()
    phone = folder / "phone.mp4"
    phone.write_bytes(with_frame_lengths(plain.read_bytes(), lengths, shifts))
    return phone


def test_a_variable_frame_rate_video_is_timed_by_its_own_frame_times(tmp_path):
    """A phone's video: the frames come further apart in low light. The 61st frame of this one
    is shown for 2 s: the next one is at 4.0 s, not at 2.033 s (its index over the mean rate),
    and the model's 5 frames a second are 0.2 s apart on either side of the pause."""
    phone = phone_video(tmp_path, 120, lambda i: 60 if i == 60 else 1)
    with VideoFileSource(phone) as source:
        times = [frame.timestamp for frame in iter(source.read, None)]
    assert len(times) == 120
    assert times[60] == pytest.approx(2.0) and times[61] == pytest.approx(4.0) and times[-1] == pytest.approx(5.933, abs=1e-3)
    from video_classifier.pacer import Pacer

    pacer = Pacer(5.0)
    paced = [t for t in times if pacer.take(t)]
    gaps = [b - a for a, b in zip(paced, paced[1:])]
    assert all(abs(g - 0.2) < 0.02 for g in gaps if g < 1.0) and [round(g, 2) for g in gaps if g >= 1.0] == [2.0]


def test_a_variable_frame_rate_video_skips_by_its_own_frame_times(tmp_path):
    """Frames the model does not get are passed over unconverted, judged by their own times."""
    phone = phone_video(tmp_path, 90, lambda i: 3 if i % 2 else 1)  # 15 fps on average
    with VideoFileSource(phone) as source:
        read = []
        while (timestamp := source.next_timestamp) is not None:
            if timestamp < 1.0:
                read.append(source.read().timestamp)
            else:
                assert source.skip()
        assert source.read() is None and source.skip() is False
    assert read == pytest.approx([i // 2 * 4 / 30 + (i % 2) / 30 for i in range(len(read))]) and len(read) == 16


def test_a_frame_time_that_goes_back_never_sends_the_time_back(tmp_path):
    """A damaged file's frame said to come 100 s before the others: it is timed a frame interval
    after the frame before (the rest of the file was timed by index over the mean rate, and the
    time ran back by seconds), and a loop's next pass starts a frame interval after the last
    frame, however long a pause the file holds (it was one mean interval, which a pause stretches)."""
    phone = phone_video(tmp_path, 60, lambda i: 90 if i == 20 else 1, lambda i: -3000 if i == 40 else 0)
    with VideoFileSource(phone, loop=True) as source:
        times = [source.read().timestamp for _ in range(130)]
    assert all(b >= a for a, b in zip(times, times[1:])), times
    assert times[21] - times[20] == pytest.approx(3.0) and times[40] - times[39] == pytest.approx(1 / 30)
    assert times[60] - times[59] == pytest.approx(1 / 30)  # the second pass
    assert times[81] - times[80] == pytest.approx(3.0)  # its pause, once
