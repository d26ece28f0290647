"""What the benchmarks run on: the models and clips folders (the same settings as the tests),
the clips whose Kinetics-600 top-1 A0 gets right."""

from __future__ import annotations

import os
from pathlib import Path

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
