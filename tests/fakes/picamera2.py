"""A stand-in for the ``picamera2`` module: the camera hardware is the one thing tests fake.

It has the parts of picamera2's API the app uses and serves the frames of a real clip, resized
to the configured size, at the configured frame rate in real time, with sensor timestamps in
nanoseconds, like a camera would. Settings come from the environment, so that it also works in
a subprocess (put ``tests/fakes`` on ``PYTHONPATH``):

    FAKE_PICAMERA2_CLIP        the clip to serve (looped)
    FAKE_PICAMERA2_FAIL_AFTER  raise like a disconnected camera after this many frames; the camera
                               is then gone (no camera listed) ...
    FAKE_PICAMERA2_RECOVER_AFTER_S  ... until this many seconds later (default: never)
    FAKE_PICAMERA2_BUSY        any value: opening the camera fails as if another program had it
    FAKE_PICAMERA2_HANG_AFTER  stop delivering (capture_request waits out its timeout) after this
                               many frames, like a stalled camera frontend
    FAKE_PICAMERA2_RECORD      append one line per API call (e.g. "close") to this file
    FAKE_PICAMERA2_CAMERAS     number of cameras attached (default 1)
    FAKE_PICAMERA2_PLATFORM    ``vc4`` (Pi 4 and earlier, the default: a lores stream must be YUV)
                               or ``pisp`` (Pi 5: an RGB lores stream too)
    FAKE_PICAMERA2_REFUSE_LORES  any value: configuring a lores stream fails, as libcamera does
                               for a camera or pipeline that has no second output

Like the real one, it has a fixed number of buffers (``buffer_count``, 6 for video): a request
that is not released keeps its buffer, and once all are held the camera delivers nothing more
(``capture_request`` waits out its timeout). Configuration arguments are checked, and the
``transform`` (``libcamera.Transform``, from the ``libcamera`` stand-in beside this file) flips
the served pictures as the sensor would.

A ``lores`` stream is served as the ISP makes it: the same moment and field of view, scaled down
from the sensor's picture (area averaging), no larger than main. YUV420 comes as picamera2 gives
it, ``(h * 3 // 2, stride)``: each plane's rows padded to the stride (64 bytes for the luma, half
that for the chroma), encoded BT.601 limited range (the SMPTE170M colour space's encoding). After
``configure`` the sizes and strides are in ``camera_config``, as in picamera2.
"""

from __future__ import annotations

import os
import time

import cv2
import numpy as np
from libcamera import ColorSpace

_unplugged_at: float | None = None  # when the camera "failed"; shared by all instances


def _record(event: str) -> None:
    path = os.environ.get("FAKE_PICAMERA2_RECORD")
    if path:
        with open(path, "a") as f:
            f.write(event + "\n")


VIDEO_CONFIGURATION_ARGS = {
    "main", "lores", "raw", "transform", "colour_space", "buffer_count", "controls", "display", "encode", "queue", "sensor",
    "use_case",
}  # fmt: skip
FORMATS = {"RGB888": 3, "BGR888": 3, "XRGB8888": 4, "XBGR8888": 4}
YUV_FORMATS = {"YUV420"}
YUV_ALIGN = 64  # bytes: the luma rows of a YUV420 buffer are padded to a multiple of this
CONTROLS = {"FrameDurationLimits", "FrameRate", "ExposureTime", "AnalogueGain", "AeEnable", "AwbEnable", "ScalerCrop"}


class _Request:
    def __init__(self, arrays: dict, timestamp_ns: int, camera: Picamera2) -> None:
        self._arrays = arrays  # stream name -> its picture
        self._metadata = {"SensorTimestamp": timestamp_ns, "FrameDuration": 33333}
        self._camera = camera
        self.released = False

    def make_array(self, name: str):
        assert not self.released
        if name not in self._arrays:
            raise RuntimeError(f"Stream {name!r} is not defined")
        return self._arrays[name].copy()

    def get_metadata(self) -> dict:
        return dict(self._metadata)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._camera.held -= 1  # the buffer goes back to the camera


class Picamera2:
    instances: list[Picamera2] = []

    @staticmethod
    def global_camera_info() -> list[dict]:
        global _unplugged_at
        count = int(os.environ.get("FAKE_PICAMERA2_CAMERAS", "1"))
        if _unplugged_at is not None:
            recover = os.environ.get("FAKE_PICAMERA2_RECOVER_AFTER_S")
            if recover is None or time.monotonic() - _unplugged_at < float(recover):
                return []
            _unplugged_at = None
        return [{"Model": "imx708", "Num": i} for i in range(count)]

    def __init__(self, camera_num: int = 0) -> None:
        if os.environ.get("FAKE_PICAMERA2_BUSY"):
            raise RuntimeError("Failed to acquire camera: Device or resource busy")
        self._clip = os.environ["FAKE_PICAMERA2_CLIP"]
        self._fail_after = int(os.environ.get("FAKE_PICAMERA2_FAIL_AFTER", "0"))
        self._capture = cv2.VideoCapture(self._clip)
        self._config: dict | None = None
        self.started = False
        self.closed = False
        self.frames = 0
        self.held = 0  # requests handed out and not yet released
        Picamera2.instances.append(self)
        _record("open")

    def create_video_configuration(
        self, main=None, lores=None, controls=None, buffer_count: int = 6, colour_space=None, **kwargs
    ) -> dict:
        unknown = set(kwargs) - VIDEO_CONFIGURATION_ARGS
        if unknown:
            raise TypeError(f"create_video_configuration() got unexpected keyword arguments {sorted(unknown)}")
        main = dict(main or {})
        size = main.get("size", (1280, 720))
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise ValueError(f"bad main size {size!r}")
        if main.setdefault("format", "XBGR8888") not in FORMATS:
            raise ValueError(f"unknown format {main['format']!r}")
        if lores is not None:
            lores = {"size": size, "format": "YUV420"} | dict(lores)
            if lores["format"] not in FORMATS.keys() | YUV_FORMATS:
                raise ValueError(f"unknown lores format {lores['format']!r}")
            width, height = lores["size"]
            lores["size"] = (width - width % 2, height - height % 2)  # picamera2 rounds down to even
        if colour_space is None:  # picamera2's default for video: by the main stream's size
            colour_space = ColorSpace.Smpte170m() if size[0] < 1280 or size[1] < 720 else ColorSpace.Rec709()
        elif not isinstance(colour_space, ColorSpace):
            raise TypeError("colour_space must be a libcamera.ColorSpace")
        bad_controls = set(controls or {}) - CONTROLS
        if bad_controls:
            raise RuntimeError(f"Control {sorted(bad_controls)[0]} is not advertised by libcamera")
        if "transform" in kwargs and not hasattr(kwargs["transform"], "hflip"):
            raise TypeError("transform must be a libcamera.Transform")
        config = {"main": main, "controls": dict(controls or {}), "buffer_count": buffer_count, **kwargs}
        return config | {"lores": lores, "colour_space": colour_space}

    def configure(self, config: dict) -> None:
        if not isinstance(config, dict) or "main" not in config:
            raise TypeError("configure() takes a configuration made by create_*_configuration()")
        lores = config.get("lores")
        if lores is not None:  # picamera2's own checks, then libcamera's
            main_w, main_h = config["main"]["size"]
            if lores["size"][0] > main_w or lores["size"][1] > main_h:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if os.environ.get("FAKE_PICAMERA2_PLATFORM", "vc4") == "vc4" and lores["format"] not in YUV_FORMATS:
                raise RuntimeError("lores stream must be YUV")
            if os.environ.get("FAKE_PICAMERA2_REFUSE_LORES"):
                raise RuntimeError("Configuration failed: the pipeline has no output for the lores stream")
        self._config = config
        self.camera_config = {**config, "main": _with_stride(config["main"])}
        if lores is not None:
            self.camera_config["lores"] = _with_stride(lores)
        _record("configure")

    def start(self) -> None:
        assert self._config is not None, "configure() before start()"
        limits = self._config["controls"].get("FrameDurationLimits", (33333, 33333))
        self._period_ns = int(limits[0]) * 1000
        self._t0 = time.monotonic_ns()
        self._sensor0 = 1_000_000_000_000  # sensor clocks do not start at zero
        self.started = True
        _record("start")

    def capture_request(self, wait=None) -> _Request:
        assert self.started and not self.closed
        global _unplugged_at
        hang_after = int(os.environ.get("FAKE_PICAMERA2_HANG_AFTER", "0"))
        out_of_buffers = self.held >= self._config["buffer_count"]
        if out_of_buffers or (hang_after and self.frames >= hang_after):
            if not isinstance(wait, (int, float)) or isinstance(wait, bool):
                raise AssertionError("a stalled camera would block forever without a timeout")
            time.sleep(wait)
            raise TimeoutError("capture_request timed out")
        if self._fail_after and self.frames >= self._fail_after:
            _unplugged_at = time.monotonic()
            raise RuntimeError("Camera frontend has timed out!")
        due = self._t0 + self.frames * self._period_ns
        delay = (due - time.monotonic_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)
        ok, image = self._capture.read()
        if not ok:  # loop the clip, like a camera that never ends
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._capture.read()
        arrays = {"main": self._stream_picture(image, self.camera_config["main"], cv2.INTER_LINEAR)}
        if self.camera_config.get("lores") is not None:
            arrays["lores"] = self._stream_picture(image, self.camera_config["lores"], cv2.INTER_AREA)
        request = _Request(arrays, self._sensor0 + self.frames * self._period_ns, self)
        self.frames += 1
        self.held += 1
        return request

    def _stream_picture(self, image, stream: dict, interpolation: int):
        """One stream's picture of the sensor's ``image``: scaled, mirrored, in the stream's format."""
        image = cv2.resize(image, tuple(stream["size"]), interpolation=interpolation)
        transform = self._config.get("transform")
        if transform is not None and (transform.hflip or transform.vflip):
            image = cv2.flip(image, -1 if transform.hflip and transform.vflip else (1 if transform.hflip else 0))
        if stream["format"] in YUV_FORMATS:
            return _padded_i420(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), stream["stride"])
        if stream["format"] in ("BGR888", "XBGR8888"):  # R, G, B in memory: the reverse of OpenCV's order
            image = image[..., ::-1].copy()
        if FORMATS[stream["format"]] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
        return image

    def stop(self) -> None:
        self.started = False
        _record("stop")

    def close(self) -> None:
        self.closed = True
        self._capture.release()
        _record("close")


def _with_stride(stream: dict) -> dict:
    """A stream's configuration as libcamera gives it back: with its stride (bytes per row)."""
    width = stream["size"][0]
    if stream["format"] in YUV_FORMATS:
        return stream | {"stride": -(-width // YUV_ALIGN) * YUV_ALIGN}
    return stream | {"stride": width * FORMATS[stream["format"]]}


def _padded_i420(i420, stride: int):
    """A packed I420 picture ``(h * 3 // 2, w)`` laid out in a buffer whose luma rows are ``stride``
    bytes and chroma rows half that, shaped ``(h * 3 // 2, stride)`` as picamera2 returns it."""
    rows, width = i420.shape
    height = rows * 2 // 3
    luma = np.zeros((height, stride), np.uint8)
    luma[:, :width] = i420[:height]
    chroma = np.zeros((height, stride // 2), np.uint8)  # U's rows, then V's
    chroma[:, : width // 2] = i420[height:].reshape(height, width // 2)
    return np.concatenate((luma.reshape(-1), chroma.reshape(-1))).reshape(rows, stride)
