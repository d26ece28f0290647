"""How fast each memory policy follows a new action, how steady it stays, and what it costs.

    python -m benchmarks.policies [--json FILE] [--policies NAME,NAME]

On the real A0 at 5 fps, driving the wrapper directly, faster than real time (two processes).

Reaction, over every ordered pair of different actions among the shared clips A0 names right
(7 actions, 42 pairs): 60 s of the first action looped, then the second from its start, with
the switch at three phases of the first clip's loop (126 switches). Measured after the switch:
  first      seconds until the new action is top-1 for the first time
  for good   seconds until it is top-1 on every later frame of the 12 s that follow;
             "never" when it is not top-1 at the end of those 12 s
Steadiness: the share of frames with the right top-1 after the first 2 s, each clip looped to
60 s from a reset. Cost: ms per frame (one inference each).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from benchmarks.media import A0, CLIPS, KINETICS_LABELS, MEDIA
from benchmarks.stats import markdown_table
from video_classifier.labels import read_label_file
from video_classifier.movinet import SWITCH_KEEP_FRAMES, MovinetStream
from video_classifier.pacer import paced_frames

FPS = 5
HISTORY_S = 60
AFTER_S = 12
PHASES = (0.0, 1 / 3, 2 / 3)
STEADY_S = 60
NEVER = float("inf")

# name -> (window frames or None, switch_keep or None)
POLICIES = {
    "cumulative (--window 0)": (None, None),
    "window 25": (25, None),
    "window 30": (30, None),
    "window 25 + switch": (25, SWITCH_KEEP_FRAMES),
    "window 30 + switch (default)": (30, SWITCH_KEEP_FRAMES),
}

_frames: dict | None = None


def clip_frames() -> dict[str, list[np.ndarray]]:
    """The 5 fps frames of each clip, decoded once per process."""
    global _frames
    if _frames is None:
        _frames = {label: paced_frames(MEDIA / name) for label, name in CLIPS.items()}
    return _frames


def looped(frames: list, count: int) -> list:
    return [frames[i % len(frames)] for i in range(count)]


def open_policy(policy: str) -> MovinetStream:
    window, keep = POLICIES[policy]
    return MovinetStream(A0, num_threads=1, window_frames=window, switch_keep=keep)


def settle_times(correct: list[bool]) -> tuple[float, float]:
    """(first, for good) in seconds from the switch, for the per-frame "top-1 is right" flags."""
    first = next((i / FPS for i, ok in enumerate(correct, 1) if ok), NEVER)
    if not correct[-1]:
        return first, NEVER
    last_wrong = max((i for i, ok in enumerate(correct, 1) if not ok), default=0)
    return first, (last_wrong + 1) / FPS


def switches_from(task: tuple[str, str]) -> list[dict]:
    """Every switch away from ``first`` (all phases, all second actions) under one policy."""
    policy, first = task
    frames, labels = clip_frames(), read_label_file(KINETICS_LABELS)
    model = open_policy(policy)
    rows = []
    for phase in PHASES:
        history = looped(frames[first], HISTORY_S * FPS + round(phase * len(frames[first])))
        for second in CLIPS:
            if second == first:
                continue
            model.reset()
            for frame in history:
                model.step(frame)
            target = labels.index(second)
            correct = [int(np.argmax(model.step(f))) == target for f in looped(frames[second], AFTER_S * FPS)]
            first_s, good_s = settle_times(correct)
            rows.append({"from": first, "to": second, "phase": round(phase, 2), "first_s": first_s, "for_good_s": good_s})
    return rows


def steadiness_of(task: tuple[str, str]) -> tuple[str, float]:
    policy, label = task
    model = open_policy(policy)
    target = read_label_file(KINETICS_LABELS).index(label)
    tops = [int(np.argmax(model.step(f))) for f in looped(clip_frames()[label], STEADY_S * FPS)]
    return label, float(np.mean([t == target for t in tops[2 * FPS :]]))


def cost_of(policy: str) -> float:
    model = open_policy(policy)
    stream = looped(clip_frames()["arm wrestling"], 100)
    start = time.perf_counter()
    for frame in stream:
        model.step(frame)
    return (time.perf_counter() - start) * 1000 / len(stream)


def summary(values: list[float]) -> dict:
    """Median, 95th percentile and worst; each a measured value ("higher" rank: never interpolated,
    so that "never" counts as the slowest)."""
    return {
        "p50": float(np.percentile(values, 50, method="higher")),
        "p95": float(np.percentile(values, 95, method="higher")),
        "worst": float(max(values)),
    }


def measure(policy: str, pool) -> dict:
    switches = [row for rows in pool.map(switches_from, [(policy, a) for a in CLIPS]) for row in rows]
    steady = dict(pool.map(steadiness_of, [(policy, a) for a in CLIPS]))
    return {
        "policy": policy,
        "switches": switches,
        "first": summary([r["first_s"] for r in switches]),
        "for_good": summary([r["for_good_s"] for r in switches]),
        "never": sum(r["for_good_s"] == NEVER for r in switches),
        "steadiness": steady,
        "ms_per_frame": round(cost_of(policy), 2),
    }


def seconds(value: float) -> str:
    return "never" if value == NEVER else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--policies", default=",".join(POLICIES), help="comma-separated names from: " + ", ".join(POLICIES))
    args = p.parse_args(argv)
    chosen = [name.strip() for name in args.policies.split(",")]
    unknown = [name for name in chosen if name not in POLICIES]
    if unknown:
        p.error(f"unknown policies {unknown}: choose from {list(POLICIES)}")
    results = []
    with Pool(2) as pool:
        for policy in chosen:
            print(f"measuring {policy}", file=sys.stderr, flush=True)
            results.append(measure(policy, pool))
    baseline = next((r["steadiness"] for r in results if POLICIES[r["policy"]][0] is None), None)
    rows = []
    for r in results:
        margin = min(r["steadiness"][c] - baseline[c] for c in CLIPS) if baseline else float("nan")
        rows.append(
            {
                "policy": r["policy"],
                "first": " / ".join(seconds(r["first"][k]) for k in ("p50", "p95", "worst")),
                "good": " / ".join(seconds(r["for_good"][k]) for k in ("p50", "p95", "worst")),
                "never": r["never"],
                "steady": " / ".join(f"{r['steadiness'][c]:.2f}" for c in CLIPS),
                "margin": f"{margin:+.3f}",
                "ms": r["ms_per_frame"],
            }
        )
    n = len(results[0]["switches"])
    print(f"\nReaction over {n} switches (42 ordered pairs x {len(PHASES)} phases) after {HISTORY_S} s of the first action")
    print(f"Steadiness on: {', '.join(CLIPS)} (each looped to {STEADY_S} s)\n")
    columns = [
        ("policy", "policy"),
        ("first", "first top-1 p50 / p95 / worst (s)"),
        ("good", "top-1 for good p50 / p95 / worst (s)"),
        ("never", "never settles"),
        ("steady", "steadiness"),
        ("margin", "worst steadiness vs no window"),
        ("ms", "ms/frame"),
    ]
    print(markdown_table(rows, columns))
    for r in results:
        slow = sorted(r["switches"], key=lambda s: -s["for_good_s"])[:5]
        text = ", ".join(f"{s['from']} -> {s['to']} @{s['phase']} {seconds(s['for_good_s'])} s" for s in slow)
        print(f"\nslowest for {r['policy']}: {text}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
