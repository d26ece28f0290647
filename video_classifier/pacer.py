"""Choose frames at the model's rate by their capture timestamps."""

from __future__ import annotations


class Pacer:
    """Lets through one frame per ``1/fps`` seconds of *capture* time.

    MoViNet stream models were trained on 5 fps clips: feeding every frame of a 30 fps
    clip makes them much worse (the media README gives figures). Deciding by timestamp rather
    than by counting frames makes a 24, 30 or 60 fps source give the same frames to the model.
    """

    # A frame this close before its due time still counts, so that 29.97 fps timestamps
    # (0.1998 s) are not pushed to the next frame by rounding.
    TOLERANCE_S = 0.002

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.period = 1.0 / fps
        self._due: float | None = None

    def wanted(self, timestamp: float) -> bool:
        """Whether :meth:`take` would let the frame at ``timestamp`` through (nothing changes)."""
        due = self._due
        return due is None or not due - self.period - self.TOLERANCE_S <= timestamp < due - self.TOLERANCE_S

    def take(self, timestamp: float) -> bool:
        """Whether the frame captured at ``timestamp`` (seconds) should go to the model."""
        due = self._due
        if due is not None and timestamp < due - self.TOLERANCE_S:
            if timestamp >= due - self.period - self.TOLERANCE_S:
                return False  # not yet due
            due = None  # the clock went backwards (a looped or restarted source): start over
        if due is None or timestamp >= due + self.period:
            # First frame, or a gap of more than a period: restart the schedule, don't catch up.
            self._due = timestamp + self.period
        else:
            self._due = due + self.period  # fixed grid: no drift from frame jitter
        return True
