"""How fast each memory policy follows a new action, how steady it is, and what it costs.

    python -m benchmarks.policies [--json FILE]

Policies, all on the real A0 at 5 fps, driven faster than real time:
  cumulative   the model's own memory: a running mean since the start
  reset-25     reset every 25 frames (5 s)
  3-streams    three streams reset every 40 frames, staggered, scores averaged by history length
  window-25    this app's default (--window 5): the head's pool kept as a sliding 25-frame sum
Reaction: seconds until the new action is top-1 after 60 s and 600 s of another action.
Steadiness: share of correct top-1 after the first 2 s on single clips looped to 60 s.
Cost: inferences per frame and extra ms per frame over one plain step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.media import A0, CLIPS, KINETICS_LABELS, MEDIA
from benchmarks.stats import markdown_table
from video_classifier.labels import read_label_file
from video_classifier.movinet import MovinetStream
from video_classifier.pacer import paced_frames
from video_classifier.scores import softmax

PAIRS = [
    ("arm wrestling", "cleaning pool"),
    ("cleaning pool", "arm wrestling"),
    ("flipping pancake", "carving ice"),
    ("playing cricket", "putting on eyeliner"),
]
STEADY = ["flipping pancake", "playing cricket", "putting on eyeliner"]


class Cumulative:
    streams = 1

    def __init__(self, model_path: Path, window: int | None = None, reset_every: int | None = None) -> None:
        self.model = MovinetStream(model_path, num_threads=1, window_frames=window)
        self.reset_every = reset_every
        self.n = 0

    def reset(self) -> None:
        self.model.reset()
        self.n = 0

    def step(self, frame) -> np.ndarray:
        if self.reset_every and self.n and self.n % self.reset_every == 0:
            self.model.reset()
        self.n += 1
        return softmax(self.model.step(frame))


class Staggered:
    """The multi-stream baseline: K streams reset every ``period`` frames, offset by period/K."""

    def __init__(self, model_path: Path, count: int = 3, period: int = 40) -> None:
        self.models = [MovinetStream(model_path, num_threads=1) for _ in range(count)]
        self.streams, self.period, self.n = count, period, 0
        self.ages = [0] * count

    def reset(self) -> None:
        for m in self.models:
            m.reset()
        self.ages = [0] * self.streams
        self.n = 0

    def step(self, frame) -> np.ndarray:
        scores = []
        for j, model in enumerate(self.models):
            if (self.n + j * self.period // self.streams) % self.period == 0 and self.n:
                model.reset()
                self.ages[j] = 0
            self.ages[j] += 1
            scores.append(softmax(model.step(frame)))
        self.n += 1
        weights = np.array(self.ages, np.float32)
        return np.tensordot(weights / weights.sum(), np.stack(scores), axes=1)


def looped(frames, seconds):
    return [frames[i % len(frames)] for i in range(int(seconds * 5))]


def measure(policy, frames, labels) -> dict:
    row = {}
    for history in (60, 600):
        reactions = []
        for first, second in PAIRS:
            policy.reset()
            # +1.4 s: a switch that does not fall on a reset of the periodic policies
            for frame in looped(frames[first], history + 1.4):
                policy.step(frame)
            target = labels.index(second)
            reaction = next(
                (i / 5 for i, f in enumerate(looped(frames[second], 15), 1) if int(np.argmax(policy.step(f))) == target),
                float("inf"),
            )
            reactions.append(reaction)
        row[f"reaction_{history}s"] = reactions
    steady = []
    for label in STEADY:
        policy.reset()
        top = [int(np.argmax(policy.step(f))) for f in looped(frames[label], 60)]
        steady.append(round(float(np.mean([t == labels.index(label) for t in top[10:]])), 2))
    row["steadiness"] = steady
    policy.reset()
    stream = looped(frames["arm wrestling"], 20)
    start = time.perf_counter()
    for frame in stream:
        policy.step(frame)
    row["ms_per_frame"] = round((time.perf_counter() - start) * 1000 / len(stream), 2)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    model_path = A0
    labels = read_label_file(KINETICS_LABELS)
    frames = {label: paced_frames(MEDIA / name) for label, name in CLIPS.items()}
    policies = {
        "cumulative": Cumulative(model_path),
        "reset-25": Cumulative(model_path, reset_every=25),
        "3-streams": Staggered(model_path),
        "window-25 (default)": Cumulative(model_path, window=25),
    }
    rows = []
    for name, policy in policies.items():
        print(f"measuring {name}", file=sys.stderr, flush=True)
        rows.append({"policy": name, "inferences": getattr(policy, "streams", 1), **measure(policy, frames, labels)})
    base = rows[0]["ms_per_frame"]
    for row in rows:
        row["extra_ms"] = round(row["ms_per_frame"] - base, 2)
        for key in ("reaction_60s", "reaction_600s"):
            row[key + "_text"] = " / ".join("never" if r == float("inf") else f"{r:.1f}" for r in row[key])
        row["steady_text"] = " / ".join(f"{s:.2f}" for s in row["steadiness"])
    pairs = ", ".join(f"{a} -> {b}" for a, b in PAIRS)
    print(f"\nReaction in seconds for: {pairs}\nSteadiness for: {', '.join(STEADY)} (looped to 60 s)\n")
    print(
        markdown_table(
            rows,
            [
                ("policy", "policy"),
                ("reaction_60s_text", "reaction after 60 s (s)"),
                ("reaction_600s_text", "reaction after 600 s (s)"),
                ("steady_text", "steadiness"),
                ("inferences", "inferences/frame"),
                ("ms_per_frame", "ms/frame"),
                ("extra_ms", "extra ms"),
            ],
        )
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
