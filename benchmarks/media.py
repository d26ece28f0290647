"""What the benchmarks run on: the models and clips folders (the same settings as the tests),
the clips whose Kinetics-600 top-1 A0 gets right, and a video that plays forever."""

from __future__ import annotations

import os
from pathlib import Path

from video_classifier.data import Frame
from video_classifier.sources import FrameSource, VideoFileSource

ROOT = Path(__file__).resolve().parent.parent
MODELS = Path(os.environ.get("MOVINET_MODELS", ROOT / "models"))
MEDIA = Path(os.environ.get("MOVINET_MEDIA", ROOT / "media"))
A0 = MODELS / "movinet_a0_stream_int8.tflite"
KINETICS_LABELS = MODELS / "kinetics600_label_map.txt"

# Kinetics-600 label -> shared clip, for the actions A0 names right (the scenario of the policy benchmark).
CLIPS = {
    "arm wrestling": "arm_wrestling_mmaction2_demo.mp4",
    "cleaning pool": "cleaning_pool_mmaction2_test.mp4",
    "flipping pancake": "flipping_a_pancake.mkv",
    "carving ice": "carving_ice.mp4",
    "playing cricket": "v_CricketShot_g04_c01_rgb.gif",
    "putting on eyeliner": "apply_eye_makeup_mmaction2_test.avi",
    "jumping jacks": "jumping_jacks.mp4",
}


class LoopedVideo(FrameSource):
    """A video file played over and over, with one continuous clock."""

    live = False

    def __init__(self, path: Path) -> None:
        self.path, self.name = path, f"{path.name} (looped)"
        self._video = VideoFileSource(path)
        self._offset, self._last, self._index = 0.0, 0.0, 0

    def read(self) -> Frame | None:
        frame = self._video.read()
        if frame is None:
            self._video.close()
            self._video = VideoFileSource(self.path)
            self._offset = self._last + 1.0 / (self._video.fps or 30.0)
            frame = self._video.read()
        self._last = frame.timestamp + self._offset
        self._index += 1
        return Frame(frame.image, self._last, self._index - 1)

    def close(self) -> None:
        self._video.close()
