"""Frame sources: the Pi camera (picamera2), a USB camera or a video file, behind one interface.

Every source yields :class:`Frame` objects carrying the frame's capture time, which is what the
pacer uses to pick frames at the model's rate. ``open_source`` decides what a ``--camera``
string means; everything else just calls :meth:`FrameSource.read`.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import re
import time
from fractions import Fraction
from pathlib import Path

import cv2

from video_classifier.camera_url import is_camera, is_network
from video_classifier.data import Frame
from video_classifier.errors import SourceError

log = logging.getLogger(__name__)


class FrameSource:
    """Base of all sources. ``live`` sources drop frames rather than queue them."""

    live = True
    name = "source"
    status = ""  # e.g. "camera lost, retrying": shown on the overlay

    def read(self) -> Frame | None:
        """The next frame, or None when the stream has ended."""
        raise NotImplementedError

    def interrupt(self) -> None:
        """Make a blocked :meth:`read` give up soon (called from another thread when stopping)."""

    def close(self) -> None:
        """Release the device or file. Safe to call twice."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
            raise SourceError(f"cannot decode {self.path}: not a video OpenCV can read (try converting it to mp4)")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        # Some containers report 0 or absurd rates; fall back to the decoder's own clock then.
        self.fps = fps if 0 < fps < 1000 else 0.0
        self.expected_frames = max(int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self._index = 0
        self._first = self._read_raw()
        if self._first is None:
            self.close()
            raise SourceError(f"video {self.path} has no frames that can be decoded: check the file")

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


class OpenCVCameraSource(FrameSource):
    """A USB (V4L2) camera through OpenCV, timestamped by the monotonic clock at capture."""

    def __init__(self, index: int, width: int, height: int) -> None:
        self.name = f"camera {index}"
        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
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


class Picamera2Source(FrameSource):
    """The Raspberry Pi camera through picamera2 (libcamera), timestamped by the sensor.

    Given the model's input size (``model_size``, width and height) and crop (``model_crop``, as
    ``--crop``), it also asks the ISP for a ``lores`` stream for the model (:func:`lores_size`):
    every frame then carries that small picture as :attr:`Frame.lores`, and the model is fed it
    without a CPU resize of the main picture. Its size as configured is in :attr:`lores_size`
    (None without one: no model size, a main picture no larger, or a camera that refused it,
    which is logged as a warning).
    """

    name = "picamera2"

    def __init__(
        self,
        width: int,
        height: int,
        fps: float = 30.0,
        hflip: bool = False,
        vflip: bool = False,
        *,
        model_size: tuple[int, int] | None = None,
        model_crop: str = "center",
    ) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise SourceError(
                "picamera2 is not installed: on a Pi run ./setup.sh (it installs python3-picamera2 "
                "and a venv with --system-site-packages), or use --camera 0 for a USB camera"
            ) from None
        if not Picamera2.global_camera_info():
            raise SourceError(
                "no Pi camera detected: check the ribbon cable and `rpicam-hello --list-cameras`, "
                "or use --camera 0 for a USB camera"
            )
        try:
            self._camera = Picamera2()
        except (RuntimeError, IndexError) as exc:
            raise SourceError(f"the Pi camera cannot be opened ({exc}): is another program using it?") from None
        self.lores_size: tuple[int, int] | None = None
        try:
            frame_us = int(round(1_000_000 / fps))
            # RGB888 is B, G, R in memory: exactly OpenCV's BGR order, no conversion needed.
            extra = {"transform": _transform(hflip, vflip)} if hflip or vflip else {}
            settings = {
                "main": {"size": (width, height), "format": "RGB888"},
                "controls": {"FrameDurationLimits": (frame_us, frame_us)},
                **extra,
            }
            lores = lores_size((width, height), model_size, model_crop) if model_size else None
            if lores is not None:
                self._configure_with_lores(settings, lores)
            if self.lores_size is None:
                self._camera.configure(self._camera.create_video_configuration(**settings))
            self._camera.start()
        except Exception as exc:  # libcamera raises plain RuntimeErrors for busy or unsupported setups
            self.close()
            raise SourceError(f"the Pi camera cannot be started ({exc}): is another program using it?") from None
        self._first_ns: int | None = None
        self._index = 0
        # A camera whose frontend stalls may never deliver again: picamera2 raises TimeoutError
        # after this many seconds (older picamera2 ignores the number and simply waits).
        self._frame_timeout_s = max(2.0, 10.0 / fps)

    def _configure_with_lores(self, settings: dict, size: tuple[int, int]) -> None:
        """Configure main and a YUV420 lores stream (the one format every Pi's ISP gives it in);
        a camera that refuses is configured without one by the caller, after one warning."""
        try:
            from libcamera import ColorSpace

            # The lores stream's YUV is encoded with the colour space's matrix and OpenCV decodes
            # BT.601 limited range, which is SMPTE170M (picamera2 picks Rec709 from 1280x720 up).
            # The RGB main stream takes only the primaries and transfer function from it.
            config = self._camera.create_video_configuration(
                lores={"size": size, "format": "YUV420"}, colour_space=ColorSpace.Smpte170m(), **settings
            )
            self._camera.configure(config)
        except Exception as exc:  # libcamera raises plain RuntimeErrors for setups it cannot do
            log.warning("the Pi camera gives no lores stream (%s): the model's pictures are resized from the main ones", exc)
            return
        width, height = self._camera.camera_config["lores"]["size"]  # libcamera may have adjusted it
        self.lores_size = (int(width), int(height))
        log.debug("the model is fed the camera's lores stream, %dx%d", *self.lores_size)

    def read(self) -> Frame | None:
        try:
            request = self._camera.capture_request(wait=self._frame_timeout_s)
        except Exception as exc:  # libcamera reports a lost camera as a RuntimeError or a time-out
            raise SourceError(f"the Pi camera stopped delivering frames ({exc}): check the cable and start again") from None
        try:
            image = request.make_array("main")
            # Copied as it is (the buffer goes back to the camera): padding is cut when converted.
            lores = request.make_array("lores") if self.lores_size else None
            sensor_ns = request.get_metadata().get("SensorTimestamp")
        finally:
            request.release()
        if sensor_ns is None:
            sensor_ns = time.monotonic_ns()
        if self._first_ns is None:
            self._first_ns = sensor_ns
        width = self.lores_size[0] if lores is not None else None
        frame = Frame(image, (sensor_ns - self._first_ns) / 1e9, self._index, lores, width)
        self._index += 1
        return frame

    def close(self) -> None:
        camera = getattr(self, "_camera", None)
        if camera is None:
            return
        self._camera = None
        try:
            camera.stop()
        finally:
            camera.close()


def lores_size(main: tuple[int, int], model: tuple[int, int], crop: str = "center") -> tuple[int, int] | None:
    """The lores stream for a ``model`` input (width, height) cropped as ``crop`` (``--crop``)
    from a ``main`` stream, or None when main is no larger.

    The ISP scales main's whole field of view into it. With a centre crop: the smallest even size
    with main's aspect ratio that covers the model's, so that its centre is the model's picture
    as it is (no resize) and shapes stay true. Without a crop the model squashes the whole
    picture: the model's own size, squashed by the ISP (resizing a main-shaped lores picture to
    it would cost the CPU about as much as resizing main).
    """
    width, height = main
    scale = max(Fraction(model[0], width), Fraction(model[1], height))  # exact: 172/720 * 720 is 172
    if scale >= 1:
        return None
    if crop == "none":
        return (_even_up(Fraction(model[0])), _even_up(Fraction(model[1])))
    return (min(_even_up(width * scale), width), min(_even_up(height * scale), height))


def _even_up(value: Fraction) -> int:
    """``value`` rounded up to an even integer (picamera2 takes even sizes only)."""
    whole = math.ceil(value)
    return whole + whole % 2


def _transform(hflip: bool, vflip: bool):
    from libcamera import Transform

    return Transform(hflip=int(hflip), vflip=int(vflip))


def picamera2_available() -> bool:
    """Whether the picamera2 module can be imported (it is only packaged for Raspberry Pi OS)."""
    return importlib.util.find_spec("picamera2") is not None


def default_camera() -> str:
    """``picamera2`` on a Pi with the module installed, else the first USB camera."""
    return "picamera2" if picamera2_available() else "0"


def open_source(
    spec: str,
    width: int = 640,
    height: int = 480,
    camera_fps: float = 30.0,
    hflip: bool = False,
    vflip: bool = False,
    loop: bool = False,
    rtsp_transport: str = "tcp",
    *,
    model_size: tuple[int, int] | None = None,
    model_crop: str = "center",
) -> FrameSource:
    """Open what a ``--camera`` string names: ``picamera2``, a camera index, an IP camera's URL,
    or a video path (played again and again with ``loop``). ``model_size`` (the model's input,
    width and height) and ``model_crop`` (``--crop``) let the Pi camera's ISP scale the model's
    pictures (other sources ignore them)."""
    if is_network(spec):
        from video_classifier.ip_camera import NetworkCameraSource

        return NetworkCameraSource(spec, rtsp_transport)
    if not is_camera(spec):
        return VideoFileSource(spec, loop)
    if spec == "picamera2":
        return Picamera2Source(width, height, camera_fps, hflip, vflip, model_size=model_size, model_crop=model_crop)
    return OpenCVCameraSource(int(spec), width, height)
