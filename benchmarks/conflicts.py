"""Examples on both sides of "something else", and corrections of long events, in one room.

    python -m benchmarks.conflicts [--json FILE]

The two NTU clips share a room: drinking and hugging. Each clip's halves, as they are, mirrored,
letterboxed and re-timed to 10 and 60 fps, each looped to a minute from a fresh model, are the
material; lessons are taught as the app teaches from a video (the first 5 s of a fresh stream, or
later in a running one), events come from the app's scorer, event detector and recent events
with the other action taught, corrections are made by the app's Corrector. Three parts:

``similarities``: the cosine between examples (lessons and corrected events) of one action and of
the two different actions of the room, which sets :data:`~video_classifier.teach.conflicts.ALIKE_AT`.

``flicker``: an action's hugging (or drinking) event corrected as "wrong" while only the other
action was taught, then the action taught from the same half of its clip (every variant and two
starts): on the held-out half, in every variant, how often the taught action is top-1, how often
"something else" is, the top-1 switches per minute and the action's events per minute; before and
after the correction is moved (corrected again as the action, as the advice says).

``long_event``: one stream of 30 s of one action and then 30 s of the other, with only drink
taught, makes one long "drink" event, corrected as "wrong"; what the correction teaches (all of
it: before; the part unlike drink's examples: the app; the last or the first window: the
alternatives) against false events on the held-out hugging and drink's accuracy afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

import numpy as np

import video_classifier.teach.recent_events as recent_events
from benchmarks.media import MEDIA, require_media
from benchmarks.stats import markdown_table
from benchmarks.teach import FPS, VARIANTS, Count, _play, open_model, own_features, paced, read_clip, scorer_of, variant
from video_classifier.teach.conflicts import ALIKE_AT
from video_classifier.teach.corrections import Corrector
from video_classifier.teach.examples import Example, ModelIdentity
from video_classifier.teach.keeper import LibraryKeeper
from video_classifier.teach.library import OTHER, ActionLibrary
from video_classifier.teach.recent_events import EventFile, RecentEvents
from video_classifier.teach.scorer import WARM_UP

ROOM = {"drink": "ntu_S001C001P001R001A001_drink_water.avi", "hugging": "hugging_ntu_mmaction2_demo_skeleton.mp4"}
SECONDS = 60.0
LESSON_FRAMES = 25  # 5 s at 5 fps, the default lesson
LESSON_STARTS = (0, 30, 120)  # frames into a stream: a video's first seconds, or a running camera's
LONG_PART_S = 30.0


def _other(action: str) -> str:
    return next(a for a in ROOM if a != action)


def material() -> dict:
    """Own features: (action, half, variant) -> a minute from a fresh model; ("long", first,
    second) -> 30 s of drink's second half then 30 s of hugging's first half (and the reverse),
    one stream."""
    model = open_model()
    clips = {a: read_clip(MEDIA / name) for a, name in ROOM.items()}
    halves = {(a, h): (f[: len(f) // 2] if h == 0 else f[len(f) // 2 :], fps) for a, (f, fps) in clips.items() for h in (0, 1)}
    streams = {
        (a, h, kind): own_features(model, paced(*variant(*halves[a, h], kind), SECONDS)) for (a, h) in halves for kind in VARIANTS
    }
    for first, second in ((("drink", 1), ("hugging", 0)), (("hugging", 0), ("drink", 1))):
        frames = paced(*halves[first], LONG_PART_S) + paced(*halves[second], LONG_PART_S)
        streams["long", first[0], second[0]] = own_features(model, frames)
    return {"model": model, "streams": streams}


def lesson_of(own: np.ndarray, start: int = 0) -> np.ndarray:
    """An example as the Teacher records it: the mean of 5 s of frames' own features."""
    return own[start : start + LESSON_FRAMES].mean(axis=0).astype(np.float32)


class Room:
    """The room's streams (see :func:`material`), and libraries in a temporary folder kept by
    keepers that save at once (as on the command line)."""

    def __init__(self, folder: Path, model, streams: dict) -> None:
        self.folder = folder
        self.streams = streams
        self.identity = ModelIdentity.of(model.path, model.feature_size)
        self._count = itertools.count()

    def keeper(self, actions: dict[str, list[np.ndarray]]) -> LibraryKeeper:
        library = ActionLibrary(self.folder / f"actions-{next(self._count)}.json", self.identity)
        library.change(
            lambda lib: lib.actions.update({k: [Example(v, "benchmark", 5.0) for v in vs] for k, vs in actions.items()})
        )
        return LibraryKeeper(library)

    def events(self, keeper: LibraryKeeper, window: int) -> RecentEvents:
        return RecentEvents(keeper, EventFile(self.folder / f"events-{next(self._count)}.json", self.identity), window)

    def false_events(self, taught: str, taught_half: int, own: np.ndarray) -> tuple[LibraryKeeper, RecentEvents]:
        """Only ``taught`` taught (from a half of its clip); ``own`` played through the app's scorer and detector."""
        keeper = self.keeper({taught: [lesson_of(self.streams[taught, taught_half, "as is"])]})
        scorer = scorer_of(keeper)
        events = self.events(keeper, scorer.window)
        _play(scorer, own, events)
        return keeper, events


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def quantiles(values: list[float]) -> dict:
    x = np.asarray(values)
    return {
        "n": int(x.size),
        "min": round(float(x.min()), 3),
        "p5": round(float(np.percentile(x, 5)), 3),
        "p50": round(float(np.median(x)), 3),
        "p95": round(float(np.percentile(x, 95)), 3),
        "max": round(float(x.max()), 3),
        "alike": f"{int((x >= ALIKE_AT).sum())}/{x.size}",
    }


def similarities(room: Room) -> dict:
    """Cosines between lessons and corrected events of one action and of the room's two."""
    streams = room.streams
    vectors = {}
    for (a, h, kind), own in ((k, v) for k, v in streams.items() if k[0] in ROOM):
        for start in LESSON_STARTS:
            vectors["lesson", a, h, kind, start] = unit(lesson_of(own, start))
    for a, h, kind, taught_half in itertools.product(ROOM, (0, 1), VARIANTS, (0, 1)):
        _, events = room.false_events(_other(a), taught_half, streams[a, h, kind])
        for record in events.records():
            vectors["event", a, h, kind, f"{taught_half}-{record.id}"] = unit(record.vector)
    groups: dict[str, list[float]] = {}
    for (ka, u), (kb, v) in itertools.combinations(vectors.items(), 2):
        kinds = "-".join(sorted((ka[0], kb[0])))
        same = ka[1] == kb[1]
        cosine = float(u @ v)
        groups.setdefault(f"{kinds}, {'one action' if same else 'two actions'}", []).append(cosine)
        groups.setdefault("one action" if same else "two actions", []).append(cosine)
        if same and ka[2] == kb[2]:
            groups.setdefault("one action, same half of the clip", []).append(cosine)
        elif same:
            groups.setdefault("one action, other half", []).append(cosine)
    return {name: quantiles(values) for name, values in sorted(groups.items())}


def _read(scorer, own: np.ndarray, action: str) -> dict:
    """How ``own`` (a minute of ``action``) reads: shares of top-1, switches and events per minute."""
    count = Count()
    tops = _play(scorer, own, count)[scorer.window - 1 + WARM_UP.skip :]  # once the window is full
    labels = [t[0].label for t in tops]
    return {
        "share": labels.count(action) / len(labels),
        "other": labels.count(OTHER) / len(labels),
        "switches": sum(1 for x, y in zip(labels, labels[1:]) if x != y) / (len(labels) / FPS / 60.0),
        "events": count.started / (len(own) / FPS / 60.0),  # from the first frame
    }


def flicker(room: Room) -> dict:
    """Every (corrected event, lesson) of one action, before and after the move (see the module)."""
    streams = room.streams
    rows, headline = [], {}
    for action in ROOM:
        taught = _other(action)
        for event_kind, lesson_kind, start in itertools.product(VARIANTS, VARIANTS, LESSON_STARTS[:2]):
            keeper, events = room.false_events(taught, 0, streams[action, 0, event_kind])
            false = [r for r in reversed(events.records()) if r.label == taught]
            corrector = Corrector(keeper, events, FPS)
            corrector.correct(false[0].id, "wrong")  # as the user did when it fired
            lesson = lesson_of(streams[action, 0, lesson_kind], start)
            keeper.change(lambda lib, a=action, v=lesson: lib.actions.setdefault(a, []).append(Example(v, "benchmark", 5.0)))
            cosine = float(unit(lesson) @ unit(keeper.current.actions[OTHER][0].vector))
            measured = {}
            for when in ("before", "after"):
                if when == "after":
                    corrector.correct(false[0].id, action)  # the move the advice offers
                scorer = scorer_of(keeper)
                held_out = [_read(scorer, streams[action, 1, kind], action) for kind in VARIANTS]
                others = [_read(scorer, streams[taught, 1, kind], taught)["share"] for kind in VARIANTS]
                measured[when] = {
                    "share_mean": float(np.mean([r["share"] for r in held_out])),
                    "share_worst": min(r["share"] for r in held_out),
                    "other_mean": float(np.mean([r["other"] for r in held_out])),
                    "other_worst": max(r["other"] for r in held_out),
                    "switches_mean": float(np.mean([r["switches"] for r in held_out])),
                    "switches_worst": max(r["switches"] for r in held_out),
                    "events_mean": float(np.mean([r["events"] for r in held_out])),
                    "taught_worst": min(others),
                }
            row = {
                "action": action,
                "event": event_kind,
                "lesson": f"{lesson_kind} @{start / FPS:g} s",
                "cosine": cosine,
                **measured,
            }
            rows.append(row)
            if event_kind == lesson_kind == "as is" and start == 0:
                headline[action] = row
        print(f"  flicker: {action} done", file=sys.stderr)
    summary = []
    for action in ROOM:
        mine = [r for r in rows if r["action"] == action]
        for when in ("before", "after"):
            summary.append(
                {
                    "action": action,
                    "when": when,
                    "pairs": len(mine),
                    "cosine": f"{min(r['cosine'] for r in mine):.2f}-{max(r['cosine'] for r in mine):.2f}",
                    "flagged": f"{sum(r['cosine'] >= ALIKE_AT for r in mine)}/{len(mine)}",
                    "share_mean": round(float(np.mean([r[when]["share_mean"] for r in mine])), 2),
                    "share_worst": round(min(r[when]["share_worst"] for r in mine), 2),
                    "other_mean": round(float(np.mean([r[when]["other_mean"] for r in mine])), 2),
                    "other_worst": round(max(r[when]["other_worst"] for r in mine), 2),
                    "switches_mean": round(float(np.mean([r[when]["switches_mean"] for r in mine])), 1),
                    "switches_worst": round(max(r[when]["switches_worst"] for r in mine), 1),
                    "events_mean": round(float(np.mean([r[when]["events_mean"] for r in mine])), 2),
                    "taught_worst": round(min(r[when]["taught_worst"] for r in mine), 2),
                }
            )
    return {"summary": summary, "headline": headline, "rows": rows}


@contextlib.contextmanager
def alike_at(level: float):
    """Recent events that judge their windows alike from ``level`` (the app: ALIKE_AT)."""
    kept = recent_events.ALIKE_AT
    recent_events.ALIKE_AT = level
    try:
        yield
    finally:
        recent_events.ALIKE_AT = kept


def long_event(room: Room) -> list[dict]:
    """What a correction of a long event teaches, and what it does (see the module)."""
    streams = room.streams
    rows = []
    for first, second in (("drink", "hugging"), ("hugging", "drink")):
        own = streams["long", first, second]
        ways = [
            ("all of it (before)", "whole", ALIKE_AT),
            *((f"the part unlike drink, alike from {t:g}", "part", t) for t in (0.65, 0.7, ALIKE_AT, 0.78)),
        ]
        ways += [("the last window", "last", ALIKE_AT), ("the first window", "first", ALIKE_AT)]
        for label, way, level in ways:
            with alike_at(level):
                keeper, events = room.false_events("drink", 0, own)
            record = max((r for r in events.records() if r.label == "drink"), key=lambda r: r.frames)
            window = scorer_of(keeper).window
            if way == "whole":
                vector = record.vector
            elif way == "part":
                vector = record.vector if record.part is None else record.part
            elif way == "last":
                end = round(record.end_s * FPS)
                vector = own[end - window + 1 : end + 1].mean(axis=0)
            else:
                start = round(record.start_s * FPS)
                vector = own[max(0, start - window) : start].mean(axis=0)
            keeper.change(
                lambda lib, v=vector, event=record.id: lib.actions.setdefault(OTHER, []).append(
                    Example(np.asarray(v, np.float32), "correction", 5.0, event=event)
                )
            )
            scorer = scorer_of(keeper)
            hugging = [_read(scorer, streams["hugging", 1, kind], "hugging")["events"] for kind in VARIANTS]
            drink = [_read(scorer, streams["drink", h, kind], "drink") for h in (0, 1) for kind in VARIANTS]
            rows.append(
                {
                    "stream": f"{first} then {second}",
                    "taught": label,
                    "event_s": round(record.frames / FPS, 1),
                    "part_s": round(record.part_frames / FPS, 1) if way == "part" and record.part is not None else "",
                    "false_mean": round(float(np.mean(hugging)), 2),
                    "false_worst": round(max(hugging), 2),
                    "drink_mean": round(float(np.mean([d["share"] for d in drink])), 2),
                    "drink_worst": round(min(d["share"] for d in drink), 2),
                    "drink_fires": f"{sum(d['events'] > 0 for d in drink)}/{len(drink)}",
                }
            )
    # The same-room correction of benchmarks/teach.py: a minute of hugging, none of it like drink.
    keeper, events = room.false_events("drink", 0, streams["hugging", 0, "as is"])
    record = next(r for r in events.records() if r.label == "drink")
    part = "none: all of it unlike drink" if record.part is None else round(record.part_frames / FPS, 1)
    rows.append({"stream": "hugging only", "taught": "the app's", "event_s": round(record.frames / FPS, 1), "part_s": part})
    return rows


SIMILARITY_COLUMNS = [
    ("group", "pairs"),
    ("n", "n"),
    ("min", "min"),
    ("p5", "p5"),
    ("p50", "p50"),
    ("p95", "p95"),
    ("max", "max"),
    ("alike", f"alike (>= {ALIKE_AT:g})"),
]
FLICKER_COLUMNS = [
    ("action", "action"),
    ("when", "correction"),
    ("pairs", "pairs"),
    ("cosine", "cosine"),
    ("flagged", "said"),
    ("share_mean", "action top-1, mean"),
    ("share_worst", "worst"),
    ("other_mean", "'something else', mean"),
    ("other_worst", "worst"),
    ("switches_mean", "switches/min, mean"),
    ("switches_worst", "worst"),
    ("events_mean", "its events/min"),
    ("taught_worst", "the other action, worst"),
]
LONG_COLUMNS = [
    ("stream", "one event over"),
    ("taught", "taught as 'something else'"),
    ("event_s", "event s"),
    ("part_s", "part s"),
    ("false_mean", "false drink events/min on held-out hugging, mean"),
    ("false_worst", "worst"),
    ("drink_mean", "drink top-1, mean"),
    ("drink_worst", "worst"),
    ("drink_fires", "drink fires"),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    require_media()
    started = time.monotonic()
    found = material()
    with tempfile.TemporaryDirectory() as tmp:
        room = Room(Path(tmp), found["model"], found["streams"])
        result = {
            "alike_at": ALIKE_AT,
            "similarities": similarities(room),
            "flicker": flicker(room),
            "long_event": long_event(room),
        }
    print(f"cosine between examples (lessons, corrected events) in one room; alike from {ALIKE_AT:g}")
    print(markdown_table([{"group": k, **v} for k, v in result["similarities"].items()], SIMILARITY_COLUMNS))
    print("\nan event corrected as 'wrong', then its action taught: held-out minutes, before and after moving it")
    print(markdown_table(result["flicker"]["summary"], FLICKER_COLUMNS))
    for action, row in result["flicker"]["headline"].items():
        b, a = row["before"], row["after"]
        print(
            f"  {action} (event and lesson as is, cosine {row['cosine']:.2f}): top-1 {b['share_mean']:.2f} -> "
            f"{a['share_mean']:.2f}, 'something else' at worst {b['other_worst']:.2f} -> {a['other_worst']:.2f}, "
            f"switches/min {b['switches_mean']:.1f} -> {a['switches_mean']:.1f} "
            f"(worst {b['switches_worst']:.1f} -> {a['switches_worst']:.1f})"
        )
    print("\na long event corrected as 'wrong' (only drink taught)")
    print(markdown_table(result["long_event"], LONG_COLUMNS))
    print(f"({time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
