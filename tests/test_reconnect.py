"""ReconnectingSource: a lost live camera is tried again until --camera-timeout, not less."""

import time

import pytest

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
