"""A stand-in for the parts of the ``libcamera`` Python bindings the app uses (see picamera2.py)."""


class Transform:
    """Mirroring applied by the sensor: ``hflip`` (left-right) and ``vflip`` (upside down)."""

    def __init__(self, hflip: int = 0, vflip: int = 0, transpose: int = 0) -> None:
        self.hflip, self.vflip, self.transpose = bool(hflip), bool(vflip), bool(transpose)
