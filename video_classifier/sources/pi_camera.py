"""The Raspberry Pi camera through picamera2, with the ISP's lores stream for the model."""

from __future__ import annotations

import logging
import math
import time
from fractions import Fraction

from video_classifier.data import Frame
from video_classifier.errors import SourceError
from video_classifier.sources.base import FrameSource

log = logging.getLogger(__name__)


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


def open_spec(spec: str, options) -> Picamera2Source:
    """``--camera picamera2``: the Pi camera, with a lores stream for ``options.model_size``."""
    o = options
    return Picamera2Source(o.width, o.height, o.camera_fps, o.hflip, o.vflip, model_size=o.model_size, model_crop=o.model_crop)
