"""The interface every frame source implements."""

from __future__ import annotations

from video_classifier.data import Frame


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
