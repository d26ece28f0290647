"""ReconnectingSource: a lost live camera is tried again until --camera-timeout, not less."""

import time

import numpy as np
import pytest

from video_classifier.data import Frame
from video_classifier.errors import SourceError
from video_classifier.sources.base import FrameSource
from video_classifier.sources.reconnect import ReconnectingSource


class Lost(FrameSource):
    """A camera that has just gone away."""

    name = "rtsp://cam/x"

    def read(self):
        raise SourceError(f"{self.name}: the stream stopped")


@pytest.mark.parametrize("timeout_s", [1.2, 2.0, 3.8])
def test_a_lost_camera_is_tried_again_until_the_timeout_not_a_back_off_before_it(timeout_s):
    tries = []

    def reopen():
        tries.append(time.monotonic())
        raise SourceError("rtsp://cam/x: nothing answers on port 554 of cam")

    source = ReconnectingSource(Lost(), reopen, timeout_s=timeout_s)
    lost = time.monotonic()
    with pytest.raises(SourceError) as raised:
        source.read()
    assert str(raised.value) == f"rtsp://cam/x lost for {timeout_s:g} s, giving up: nothing answers on port 554 of cam"
    assert tries[-1] - lost >= timeout_s - 0.06  # the last try is at the time-out...
    assert time.monotonic() - lost < timeout_s + 0.5  # ...and the app does not wait on after it
    assert all(b - a <= 4.05 for a, b in zip(tries, tries[1:]))  # tries at most 4 s apart


class Stalling(FrameSource):
    """A camera timed by arrival (0 at its open) that gives ``frames`` frames 0.05 s apart, then
    goes silent for ``silent_s`` and is found lost (as an IP camera's read time-out finds it)."""

    name = "rtsp://cam/x"
    live = True

    def __init__(self, frames: int, silent_s: float = 0.0, late_s: float = 0.0) -> None:
        # late_s: its clock started that much after the app's (a device opened a little later)
        self.opened, self.left, self.silent_s = time.monotonic() + late_s, frames, silent_s

    def read(self):
        if not self.left:
            time.sleep(self.silent_s)
            raise SourceError(f"{self.name}: no picture for {self.silent_s:g} s")
        self.left -= 1
        time.sleep(0.05)
        return Frame(np.zeros((4, 4, 3), np.uint8), time.monotonic() - self.opened, 0)


@pytest.mark.parametrize("late_s", [0.0, 0.05])
def test_frame_times_after_a_reconnect_count_the_silence_that_found_the_camera_lost(late_s):
    """Frame times and the "lost" / "restored" times are one timeline: the 0.6 s in which the
    camera said nothing before it was found lost are in the next frame's time too, and no frame
    is timed before "restored", also from a device whose clock started after the app's."""
    heard = []
    first = Stalling(3, silent_s=0.6, late_s=late_s)
    source = ReconnectingSource(first, lambda: Stalling(5, late_s=late_s), on_status=lambda s, t: heard.append((s, t)))
    times = [source.read().timestamp for _ in range(5)]
    (lost, lost_at), (restored, restored_at) = heard
    assert (lost, restored) == ("lost", "restored")
    assert times[2] < lost_at - 0.5  # the last frame came a silence before the camera was found lost
    assert restored_at <= times[3] <= restored_at + 0.2  # the first frame after it comes after "restored"
    assert times == sorted(times)
