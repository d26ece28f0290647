"""What the benchmarks run on: the models and clips folders (the same settings as the tests),
the clips whose Kinetics-600 top-1 A0 gets right."""

from __future__ import annotations

import os
import sys
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


def require_media() -> None:
    """End the benchmark with one line, not a traceback, when the clips it plays are not there
    (a Pi set up with setup.sh alone has none)."""
    if not (MEDIA.is_dir() and any(MEDIA.iterdir())):
        print(
            f"error: no clips in {MEDIA}: fetch them with .venv/bin/python tests/fetch_test_data.py "
            "(or point MOVINET_MEDIA at a folder of them)",
            file=sys.stderr,
        )
        sys.exit(2)
