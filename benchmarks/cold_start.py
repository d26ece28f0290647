"""Cold starts with the Kinetics labels: an action already going when the app starts (or after
``r``). How soon is it named, and how many wrong events come first?

    python -m benchmarks.cold_start [--seconds 10] [--json FILE]

Each shared clip A0 names right (benchmarks/media.CLIPS), as it is, mirrored, letterboxed and
played at 0.8x and 1.25x speed, is started from 12 points spread over it (``--starts``), each start a fresh
stream of the app's classifier as ``classify.py`` assembles it (video_classifier/app.py, the
default window), at the pacer's 5 fps, for ``--seconds``. Its predictions go through the app's
:class:`EventDetector` twice: as the app runs it (a fresh stream's first answers start no event:
:class:`Settling`, 1.2 s at this rate), and as it ran before, when every frame could. Reported per clip and in all:
wrong events (an event of another action), starts whose right event came (and the worst and
median time it was told), and the first time top-1 is right for good (what the overlay shows).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

import numpy as np

from benchmarks.media import A0, CLIPS, KINETICS_LABELS, MEDIA, require_media
from benchmarks.stats import markdown_table
from benchmarks.teach import paced, read_clip, variant
from video_classifier.app import open_classifier
from video_classifier.data import ActionEvent, Prediction
from video_classifier.events import EventDetector, Settling
from video_classifier.outputs import Output
from video_classifier.settings import SETTLE_S, Settings

FPS = 5.0
STARTS = 12  # per clip and variant, spread evenly over the clip
VARIANTS = ("as is", "mirrored", "letterboxed", "0.8x", "1.25x")


class Started(Output):
    """The events' actions and the stream time each start was told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, float]] = []
        self.now = 0.0

    def on_event_start(self, event: ActionEvent) -> None:
        self.told.append((event.label, self.now))


def stream(name: str, kind: str) -> list[np.ndarray]:
    """One loop of a clip's variant, as the pacer gives it to the model."""
    frames, fps = read_clip(MEDIA / name)
    if kind.endswith("x"):  # the same frames played faster or slower: the motion's speed changes
        fps *= float(kind[:-1])
    else:
        frames, fps = variant(frames, fps, kind)
    return paced(frames, fps)


def predictions(classifier, frames: list[np.ndarray]) -> list[Prediction]:
    """A fresh stream of ``frames``: the app's prediction for each."""
    classifier.reset()
    settling = Settling()
    out = []
    for i, frame in enumerate(frames):
        probabilities, ms = classifier.scores(frame)
        out.append(Prediction(i, i / FPS, classifier.top(probabilities), ms, settling=settling.at(i / FPS)))
    return out


def events(series: list[Prediction], settle: bool) -> list[tuple[str, float]]:
    """The events told for a stream, by the app's detector (``settle``: as the app runs it)."""
    told = Started()
    detector = EventDetector(told, Settings.threshold, Settings.hold)
    for prediction in series:
        told.now = prediction.time_s
        detector.update(prediction if settle else replace(prediction, settling=False))
    return told.told


def right_for_good(series: list[Prediction], label: str) -> float | None:
    """The first time from which top-1 is ``label`` to the end of the stream."""
    good = [bool(p.top) and p.top[0].label == label for p in series]
    first = next((i for i in range(len(good)) if all(good[i:])), None)
    return None if first is None else series[first].time_s


def summary(rows: list[dict]) -> dict:
    """Counts and times over some starts."""
    out = {"starts": len(rows)}
    for rule in ("before", "now"):
        told = [r[rule]["right_told_s"] for r in rows if r[rule]["right_told_s"] is not None]
        out[rule] = {
            "wrong_events": sum(r[rule]["wrong"] for r in rows),
            "starts_with_a_wrong_event": sum(r[rule]["wrong"] > 0 for r in rows),
            "right_event_told": len(told),
            "right_told_median_s": round(float(np.median(told)), 1) if told else None,
            "right_told_p90_s": round(float(np.percentile(told, 90)), 1) if told else None,
        }
    named = [r["right_for_good_s"] for r in rows if r["right_for_good_s"] is not None]
    out["top1_right_for_good_median_s"] = round(float(np.median(named)), 1) if named else None
    out["top1_right_for_good_within_2_5_s"] = sum(t <= 2.5 for t in named)
    return out


def measure(seconds: float, starts: int = STARTS) -> dict:
    settings = Settings(model=str(A0), labels=str(KINETICS_LABELS), num_threads=1)
    classifier = open_classifier(settings)
    count = round(seconds * FPS)
    rows = []
    for label, name in CLIPS.items():
        for kind in VARIANTS:
            loop = stream(name, kind)
            for start in range(starts):
                offset = start * len(loop) // starts
                series = predictions(classifier, [loop[(offset + i) % len(loop)] for i in range(count)])
                row = {"clip": name, "label": label, "variant": kind, "offset_s": offset / FPS}
                for rule, settle in (("before", False), ("now", True)):
                    told = events(series, settle)
                    right = [t for action, t in told if action == label]
                    row[rule] = {"wrong": sum(action != label for action, _ in told), "right_told_s": right[0] if right else None}
                row["right_for_good_s"] = right_for_good(series, label)
                rows.append(row)
        print(f"{label}: done", file=sys.stderr)
    per_clip = {label: summary([r for r in rows if r["label"] == label]) for label in CLIPS}
    return {"seconds": seconds, "settle_s": SETTLE_S, "all": summary(rows), "per_clip": per_clip, "starts": rows}


def table(result: dict) -> str:
    columns = [
        ("clip", "clip"),
        ("starts", "starts"),
        ("wrong", "wrong events, before -> now"),
        ("told", "starts with the right event, before -> now"),
        ("when", "right event told, median / 90%, before -> now (s)"),
        ("named", "top-1 right for good, median (s)"),
    ]
    rows = []
    for name, s in [*result["per_clip"].items(), ("all", result["all"])]:
        before, now = s["before"], s["now"]
        rows.append(
            {
                "clip": name,
                "starts": s["starts"],
                "wrong": f"{before['wrong_events']} -> {now['wrong_events']}",
                "told": f"{before['right_event_told']} -> {now['right_event_told']}",
                "when": f"{before['right_told_median_s']} / {before['right_told_p90_s']}"
                f" -> {now['right_told_median_s']} / {now['right_told_p90_s']}",
                "named": s["top1_right_for_good_median_s"],
            }
        )
    return markdown_table(rows, columns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="each start is played this long")
    parser.add_argument("--starts", type=int, default=STARTS, help="starts per clip and variant, spread over it")
    parser.add_argument("--json", type=Path, help="also write the figures (every start's) here")
    args = parser.parse_args(argv)
    require_media()
    result = measure(args.seconds, args.starts)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
