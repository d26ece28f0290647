"""The frames of a video file that a model fed at a fixed rate gets: for evaluating a model
on clips (the tests and the benchmarks do) with exactly the app's decoding and pacing."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def paced_frames(path: str | Path, fps: float = 5.0, limit: int | None = None, loop: bool = False) -> list[np.ndarray]:
    """The BGR frames of ``path`` that the app gives the model at ``fps`` (at most ``limit``;
    ``loop``: played again and again as ``--loop`` does, so give a limit)."""
    from video_classifier.pacer import Pacer
    from video_classifier.sources.video_file import VideoFileSource

    pacer, frames = Pacer(fps), []
    with VideoFileSource(path, loop=loop) as source:
        while (limit is None or len(frames) < limit) and (frame := source.read()) is not None:
            if pacer.take(frame.timestamp):
                frames.append(frame.image)
    return frames
