"""How well teach mode recognises actions taught from a few seconds of the shared clips.

    python -m benchmarks.teach [--json FILE]

Each clip's first half is teaching material, its second half test material: no window that is
scored overlaps what was taught. Examples are taught through the app's own Teacher (1 or 3
examples of 2 s or 5 s, from the first half looped as needed) and scored by the app's own
TaughtScorer, the window as long as an example. The second halves are scored as they are,
mirrored, letterboxed to 16:9 and re-timed to 10 and 60 fps, each looped to 12 s from a fresh
model; frames count once the window is full. Reported:
  accuracy per action (top-1 is the right taught action), the confusion between actions,
  how often a clip that was not taught reads "unknown" (leave one out: the others are taught)
  and whether it would start an event, and the reaction when one taught action follows another
  (seconds until the new one is top-1 for good, over every ordered pair).
carving_ice_rpi.mp4 is another video of carving ice: it is never taught, only tested.

``--same-room`` measures one room's life instead (the two NTU clips share a room): only "drink"
is taught, from the first half of its clip; the first half of the hugging clip, looped to a
minute, is the untaught life that fires false events; the first of them is corrected as the
app does it ("wrong": its features taught as ``other``). Before and after that one correction:
false events per minute on the hugging clip's held-out second half and the drinking second half's
accuracy and events, each as is, mirrored, letterboxed and re-timed, for each decision rule.
Every stream runs through the real model with the window in question (the int8 head pool is
quantised, so the features depend a little on the window).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.media import A0, MEDIA
from benchmarks.stats import markdown_table
from video_classifier.action_library import RESERVED, UNKNOWN, ActionLibrary, Example, ModelIdentity
from video_classifier.data import Category, Prediction
from video_classifier.events import EventDetector
from video_classifier.library_keeper import LibraryKeeper
from video_classifier.movinet import MovinetStream
from video_classifier.outputs import Output
from video_classifier.pacer import Pacer
from video_classifier.settings import TEACH_EXAMPLES, TEACH_SECONDS
from video_classifier.sources import VideoFileSource
from video_classifier.taught import SHARPNESS, UNKNOWN_AT, TaughtScorer
from video_classifier.teacher import Lesson, Teacher

FPS = 5.0
TEST_SECONDS = 12.0
SWITCH_SECONDS = 10.0  # each side of a reaction pair
ACTIONS = {
    "putting on eyeliner": "apply_eye_makeup_mmaction2_test.avi",
    "arm wrestling": "arm_wrestling_mmaction2_demo.mp4",
    "carving ice": "carving_ice.mp4",
    "cleaning pool": "cleaning_pool_mmaction2_test.mp4",
    "flipping pancake": "flipping_a_pancake.mkv",
    "hugging (NTU room)": "hugging_ntu_mmaction2_demo_skeleton.mp4",
    "jumping jacks": "jumping_jacks.mp4",
    "drinking water (NTU room)": "ntu_S001C001P001R001A001_drink_water.avi",
    "playing cricket": "v_CricketShot_g04_c01_rgb.gif",
}
OTHER_VIDEO = ("carving ice", "carving_ice_rpi.mp4")
VARIANTS = ("as is", "mirrored", "letterboxed", "10 fps", "60 fps")
SETTINGS = [(seconds, examples) for seconds in (2.0, 5.0) for examples in (1, 3)]


def read_clip(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame of a clip and its frame rate."""
    with VideoFileSource(path) as video:
        frames = []
        while (frame := video.read()) is not None:
            frames.append(frame.image)
        return frames, video.fps or 25.0


def paced(frames: list[np.ndarray], fps: float, seconds: float | None = None) -> list[np.ndarray]:
    """The frames the app's pacer gives the model from a clip at ``fps``, looped to ``seconds``."""
    count = len(frames) if seconds is None else round(seconds * fps)
    pacer = Pacer(FPS)
    return [frames[i % len(frames)] for i in range(count) if pacer.take(i / fps)]


def variant(frames: list[np.ndarray], fps: float, kind: str) -> tuple[list[np.ndarray], float]:
    """The test half changed as a user's camera might change it."""
    if kind == "mirrored":
        return [cv2.flip(f, 1) for f in frames], fps
    if kind == "letterboxed":  # a 16:9 frame with the picture in the middle, black bars beside it
        h, w = frames[0].shape[:2]
        width = max(w, round(h * 16 / 9))
        pad = (width - w) // 2
        return [cv2.copyMakeBorder(f, 0, 0, pad, width - w - pad, cv2.BORDER_CONSTANT) for f in frames], fps
    if kind.endswith(" fps"):  # the same motion sampled at another rate (frames repeated or dropped)
        rate = float(kind.split()[0])
        n = int(len(frames) / fps * rate)
        return [frames[min(len(frames) - 1, int(i / rate * fps))] for i in range(n)], rate
    return frames, fps


def run_stream(model: MovinetStream, frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``frames`` as one stream from a fresh model: each frame's own features and the windowed pool."""
    model.reset()
    own, pooled = [], []
    for frame in frames:
        model.step(frame)
        own.append(model.frame_features())
        pooled.append(model.pooled_features())
    return np.asarray(own), np.asarray(pooled)


class Pooled:
    """What the scorer reads of a model: a given pooled feature vector."""

    def __init__(self) -> None:
        self.features = np.zeros(1)

    def pooled_features(self) -> np.ndarray:
        return self.features


def teach_library(folder: Path, model: MovinetStream, teach_frames: dict, seconds: float, examples: int, skip: str = "") -> Path:
    """A library taught through the app's Teacher with every action but ``skip``."""
    path = folder / f"actions-{seconds:g}s-{examples}x-{abs(hash(skip))}.json"
    library = ActionLibrary(path, ModelIdentity.of(model.path, model.feature_size))
    teacher = Teacher(LibraryKeeper(library), FPS)  # a keeper not started saves at once, in this thread
    for action, (frames, fps) in teach_frames.items():
        if action == skip:
            continue
        stream = paced(frames, fps, seconds * examples + 1.0)
        teacher.teach(Lesson(action, seconds, examples, countdown_s=0, pause_s=0, source="benchmark"))
        for i, features in enumerate(run_stream(model, stream)[0]):
            teacher.on_prediction(Prediction(i, i / FPS, [], 0.0, features=features))
        assert teacher.lesson.done and teacher.lesson.saved == examples, teacher.lesson
    return path


def scored(scorer: TaughtScorer, means: np.ndarray) -> list[list[Category]]:
    """The scorer's labels and scores, best first, for each window."""
    model, out = Pooled(), []
    for vector in means:
        model.features = vector
        labels, scores = scorer.score(np.zeros(1), model)
        order = np.argsort(-scores)
        out.append([Category(labels[i], float(scores[i])) for i in order])
    return out


class Count(Output):
    def __init__(self) -> None:
        self.started = 0
        self.starts: list[float] = []

    def on_event_start(self, event) -> None:
        self.started += 1
        self.starts.append(event.start_s)


def events_started(tops: list[list[Category]]) -> int:
    """Events the app's detector (default threshold and hold) would start."""
    count = Count()
    detector = EventDetector(count, 0.4, hold=5, ignore=RESERVED)
    for i, top in enumerate(tops):
        detector.update(Prediction(i, i / FPS, top[:3], 0.0))
    return count.started


def for_good(tops: list[list[Category]], label: str, start: int) -> float | None:
    """Seconds after ``start`` until ``label`` is top-1 for the rest of the stream (None: never)."""
    last_wrong = max((i for i in range(start, len(tops)) if tops[i][0].label != label), default=start - 1)
    return None if last_wrong == len(tops) - 1 else (last_wrong + 1 - start) / FPS


def run(seconds_list: list[float] | None = None, reaction: bool = True, unknown_at: float = UNKNOWN_AT) -> dict:
    clips = {action: read_clip(MEDIA / name) for action, name in ACTIONS.items()}
    other = read_clip(MEDIA / OTHER_VIDEO[1])
    teach = {a: (frames[: len(frames) // 2], fps) for a, (frames, fps) in clips.items()}
    test = {a: (frames[len(frames) // 2 :], fps) for a, (frames, fps) in clips.items()}
    tests = [*test.items(), (OTHER_VIDEO[0] + " (other video)", other)]
    test_frames = {(a, kind): paced(*variant(frames, fps, kind), TEST_SECONDS) for a, (frames, fps) in tests for kind in VARIANTS}
    models, pooled = {}, {}
    rows, details = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seconds, examples in [s for s in SETTINGS if seconds_list is None or s[0] in seconds_list]:
            window = round(seconds * FPS)
            if window not in models:  # the window is as long as an example
                models[window] = MovinetStream(A0, num_threads=2, window_frames=window, switch_keep=None)  # as --actions
                pooled[window] = {key: run_stream(models[window], frames)[1] for key, frames in test_frames.items()}
            model, test_streams = models[window], pooled[window]
            library = ActionLibrary(teach_library(folder, model, teach, seconds, examples), _identity(model))
            scorer = TaughtScorer(LibraryKeeper(library), unknown_at=unknown_at)
            per_action, confusion = {}, {}
            for (action, _kind), features in test_streams.items():
                truth = action.replace(" (other video)", "")
                tops = scored(scorer, features)[window - 1 :]
                hits = [t[0].label == truth for t in tops]
                per_action.setdefault(action, []).extend(hits)
                row = confusion.setdefault(action, {})
                for t in tops:
                    row[t[0].label] = row.get(t[0].label, 0) + 1
            # Leave one out: the clip's action is not taught.
            untaught = {}
            for action in ACTIONS:
                path = teach_library(folder, model, teach, seconds, examples, skip=action)
                loo = TaughtScorer(LibraryKeeper(ActionLibrary(path, _identity(model))), unknown_at=unknown_at)
                reads, events = [], 0
                for kind in VARIANTS:
                    tops = scored(loo, test_streams[action, kind])[window - 1 :]
                    reads += [t[0].label == UNKNOWN for t in tops]
                    events += events_started(tops)
                untaught[action] = (float(np.mean(reads)), events)
            accuracy = {a: float(np.mean(h)) for a, h in per_action.items()}
            ntu = [a for a in ACTIONS if "NTU" in a]
            row = {
                "setting": f"{examples} x {seconds:g} s",
                "unknown_at": unknown_at,
                "accuracy_mean": round(float(np.mean([accuracy[a] for a in ACTIONS])), 3),
                "accuracy_worst": round(min(accuracy[a] for a in ACTIONS), 3),
                "other_video": round(accuracy[OTHER_VIDEO[0] + " (other video)"], 3),
                "ntu_apart": round(min(accuracy[a] for a in ntu), 3),
                "untaught_unknown_mean": round(float(np.mean([u for u, _ in untaught.values()])), 3),
                "untaught_unknown_worst": round(min(u for u, _ in untaught.values()), 3),
                "untaught_events": sum(e for _, e in untaught.values()),
            }
            if reaction:
                row.update(reaction_row(model, scorer, test, window))
            rows.append(row)
            details[row["setting"]] = {"accuracy": accuracy, "confusion": confusion, "untaught": untaught}
    return {"rows": rows, "details": details, "sharpness": SHARPNESS}


def reaction_row(model: MovinetStream, scorer: TaughtScorer, test: dict, window: int) -> dict:
    """Seconds until the new taught action is top-1 for good, over every ordered pair."""
    looped = {a: paced(frames, fps, SWITCH_SECONDS) for a, (frames, fps) in test.items()}
    times, never, slow = [], [], []
    for a, b in itertools.permutations(looped, 2):
        switch = len(looped[a])
        tops = scored(scorer, run_stream(model, looped[a] + looped[b])[1])
        t = for_good(tops, b, switch)
        if t is None:
            never.append(f"{a} -> {b}")
        else:
            times.append(t)
            slow.append((t, f"{a} -> {b}"))
    print("  slowest switches:", ", ".join(f"{name} {t:.1f} s" for t, name in sorted(slow)[-3:]), file=sys.stderr)
    if never:
        print("  never settle:", ", ".join(never), file=sys.stderr)
    return {
        "reaction_p50_s": round(float(np.percentile(times, 50)), 1),
        "reaction_p95_s": round(float(np.percentile(times, 95)), 1),
        "reaction_worst_s": round(max(times), 1),
        "never_settles": len(never),
    }


def cost(actions: int = 20, examples: int = 20, frames: int = 2000) -> dict:
    """What recognition adds per frame, and how long the library takes to load, with
    ``actions`` x ``examples`` examples (random vectors the size of A0's features)."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        library = ActionLibrary(Path(tmp) / "actions.json", ModelIdentity("a0.tflite", "0" * 64, 480))
        for a in range(actions):
            library.add_examples(f"action {a}", [Example(rng.random(480, np.float32), "benchmark", 5.0) for _ in range(examples)])
        loads = []
        for _ in range(20):
            start = time.perf_counter()
            library.load()
            loads.append((time.perf_counter() - start) * 1000)
        scorer, model = TaughtScorer(LibraryKeeper(library)), Pooled()
        steps = []
        for _ in range(frames):
            model.features = rng.random(480, np.float32)
            start = time.perf_counter()
            scorer.score(np.zeros(1), model)
            steps.append((time.perf_counter() - start) * 1000)
        size = (Path(tmp) / "actions.json").stat().st_size
    return {
        "library": f"{actions} x {examples}",
        "file_mb": round(size / 1e6, 2),
        "load_ms_p50": round(float(np.percentile(loads, 50)), 1),
        "load_ms_max": round(max(loads), 1),
        "score_ms_p50": round(float(np.percentile(steps, 50)), 3),
        "score_ms_p95": round(float(np.percentile(steps, 95)), 3),
    }


SAME_ROOM = {"taught": ("drink", "ntu_S001C001P001R001A001_drink_water.avi"), "life": "hugging_ntu_mmaction2_demo_skeleton.mp4"}
LIFE_SECONDS = 60.0


def same_room(unknown_levels: list[float], seconds: float = TEACH_SECONDS) -> list[dict]:
    """False events per minute of untaught same-room life, and the taught action's accuracy,
    before and after one correction, per decision rule (the fixed ``unknown`` level)."""
    from video_classifier.corrections import Corrector
    from video_classifier.recent_events import EventFile, RecentEvents

    name, taught_clip = SAME_ROOM["taught"]
    drink, life = read_clip(MEDIA / taught_clip), read_clip(MEDIA / SAME_ROOM["life"])
    halves = lambda clip: ((clip[0][: len(clip[0]) // 2], clip[1]), (clip[0][len(clip[0]) // 2 :], clip[1]))  # noqa: E731
    (drink_teach, drink_test), (life_seen, life_test) = halves(drink), halves(life)
    window = round(seconds * FPS)
    model = MovinetStream(A0, num_threads=2, window_frames=window, switch_keep=None)  # as --actions
    seen = run_stream(model, paced(*life_seen, LIFE_SECONDS))
    held_out = {
        (what, kind): run_stream(model, paced(*variant(frames, fps, kind), LIFE_SECONDS))
        for what, (frames, fps) in (("life", life_test), (name, drink_test))
        for kind in VARIANTS
    }
    rows = []
    for level in unknown_levels:
        with tempfile.TemporaryDirectory() as tmp:
            path = teach_library(Path(tmp), model, {name: drink_teach}, seconds, 1)
            keeper = LibraryKeeper(ActionLibrary(path, _identity(model)))  # not started: changes are made at once
            scorer = TaughtScorer(keeper, unknown_at=level, warm_up=window)  # as the app
            events = RecentEvents(keeper, EventFile(Path(tmp) / "events.json", keeper.library.model), window)
            corrector = Corrector(keeper, events, FPS)
            measured = {"before": _room_row(scorer, held_out, name)}
            _play(scorer, seen, events)  # the user sees a false event in the room's life ...
            false_ids = [r.id for r in reversed(events.records()) if r.label == name]
            if false_ids:
                corrector.correct(false_ids[0], "wrong")  # ... and says it was wrong
            measured["after one correction"] = _room_row(scorer, held_out, name)
            for when, row in measured.items():
                rows.append({"decision": f"unknown at {level:g}", "when": when, "life_false_events": len(false_ids), **row})
    return rows


def _play(scorer: TaughtScorer, stream: tuple[np.ndarray, np.ndarray], output: Output) -> list[list[Category]]:
    """A stream through the scorer and the app's event detector, its events told to ``output``."""
    scorer.reset()
    tops = scored(scorer, stream[1])
    detector = EventDetector(output, 0.4, hold=5, ignore=RESERVED)
    for i, (top, features) in enumerate(zip(tops, stream[0])):
        prediction = Prediction(i, i / FPS, top[:3], 0.0, features=features)
        detector.update(prediction)
        output.on_prediction(prediction)
    detector.close()
    return tops


def _room_row(scorer: TaughtScorer, held_out: dict, name: str) -> dict:
    false_per_min, accuracy, fired = [], [], []
    for (what, _kind), stream in held_out.items():
        count = Count()
        tops = _play(scorer, stream, count)
        if what == name:
            accuracy.append(float(np.mean([t[0].label == name for t in tops[round(TEACH_SECONDS * FPS) - 1 :]])))
            fired.append(count.started > 0)
        else:
            false_per_min.append(count.started * 60.0 / LIFE_SECONDS)
            if count.started:
                print(f"  false event(s) on {what}, {_kind}: at {count.starts} s", file=sys.stderr)
    return {
        "false_per_min_mean": round(float(np.mean(false_per_min)), 2),
        "false_per_min_worst": round(max(false_per_min), 2),
        "taught_accuracy_mean": round(float(np.mean(accuracy)), 3),
        "taught_accuracy_worst": round(min(accuracy), 3),
        "taught_fires": f"{sum(fired)}/{len(fired)}",
    }


ROOM_COLUMNS = [
    ("decision", "decision"),
    ("when", "when"),
    ("life_false_events", "false events in the minute seen"),
    ("false_per_min_mean", "held-out false events/min, mean"),
    ("false_per_min_worst", "worst variant"),
    ("taught_accuracy_mean", "drink accuracy, mean"),
    ("taught_accuracy_worst", "worst variant"),
    ("taught_fires", "drink event fires"),
]


def _identity(model: MovinetStream) -> ModelIdentity:
    return ModelIdentity.of(model.path, model.feature_size)


COLUMNS = [
    ("setting", "taught"),
    ("unknown_at", "unknown at"),
    ("accuracy_mean", "accuracy mean"),
    ("accuracy_worst", "worst action"),
    ("other_video", "carving ice, other video"),
    ("ntu_apart", "NTU pair told apart (worse of two)"),
    ("untaught_unknown_mean", "untaught reads unknown, mean"),
    ("untaught_unknown_worst", "worst untaught"),
    ("untaught_events", "events from untaught"),
    ("reaction_p50_s", "reaction p50 s"),
    ("reaction_p95_s", "p95 s"),
    ("reaction_worst_s", "worst s"),
    ("never_settles", "never settles"),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--seconds", type=float, action="append", help="only this example length (repeatable)")
    p.add_argument("--no-reaction", action="store_true", help="skip the pairs (the slowest part)")
    p.add_argument("--unknown-at", type=float, action="append", help="also score with this unknown level (repeatable)")
    p.add_argument("--cost-only", action="store_true", help="only the cost of recognition and of loading")
    p.add_argument("--same-room", action="store_true", help="only the same-room protocol, before and after a correction")
    args = p.parse_args(argv)
    started = time.monotonic()
    if args.same_room:
        rows = same_room([UNKNOWN_AT, *(args.unknown_at or [])])
        print(markdown_table(rows, ROOM_COLUMNS))
        print(f"({time.monotonic() - started:.0f} s)")
        if args.json:
            args.json.write_text(json.dumps({"same_room": rows}, indent=1))
        return 0
    costs = cost()
    print(markdown_table([costs], [(k, k) for k in costs]) + "\n")
    if args.cost_only:
        return 0
    result = run(args.seconds, reaction=not args.no_reaction)
    for level in args.unknown_at or []:
        extra = run(args.seconds, reaction=False, unknown_at=level)
        result["rows"] += extra["rows"]
        result["details"].update({f"{k}, unknown at {level}": v for k, v in extra["details"].items()})
    print(markdown_table(result["rows"], COLUMNS))
    chosen = f"{TEACH_EXAMPLES} x {TEACH_SECONDS:g} s"
    best = result["details"].get(chosen) or next(iter(result["details"].values()))
    print(f"\nper action, the defaults ({chosen}):")
    for action, accuracy in best["accuracy"].items():
        untaught = best["untaught"].get(action)
        extra = f", untaught: unknown {untaught[0]:.2f}, {untaught[1]} event(s)" if untaught else ""
        print(f"  {action}: {accuracy:.2f}{extra}")
    print(f"({time.monotonic() - started:.0f} s; sharpness {SHARPNESS})")
    if args.json:
        args.json.write_text(json.dumps({**result, "cost": costs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
