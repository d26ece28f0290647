"""How well teach mode recognises actions taught from a few seconds of the shared clips.

    python -m benchmarks.teach [--json FILE] [--same-room | --sweep | --cold-start | --cost-only]

Each clip's first half is teaching material, its second half test material: no window that is
scored overlaps what was taught. Examples are taught through the app's own Teacher (1 or 3
examples of 2, 3 or 5 s, from the first half looped as needed) and scored by the app's own
TaughtScorer as the app builds it (the window as long as the examples, the warm-up after a
start). The second halves are scored as they are, mirrored, letterboxed to 16:9 and re-timed to
10 and 60 fps, each looped to 12 s from a fresh model; frames count once the window is full.
Reported:
  accuracy per action (top-1 is the right taught action), the confusion between actions,
  how often a clip that was not taught reads "unknown" (leave one out: the others are taught)
  and whether it would start an event (from the first frame), the cold start (seconds from a
  held-out half's first frame to the first frame its action is top-1, and the frames a wrong
  taught action is top-1 before the window is full), and the reaction when one taught action
  follows another (seconds until the new one is top-1 for good, over every ordered pair).
carving_ice_rpi.mp4 is another video of carving ice: it is never taught, only tested.

``--same-room`` measures one room's life instead (the two NTU clips share a room): only "drink"
is taught, from the first half of its clip; the first half of the hugging clip, looped to a
minute, is the untaught life that fires false events; the first of them is corrected as the
app does it ("wrong": its features taught as ``other``). Before and after that one correction:
false events per minute on the hugging clip's held-out second half and the drinking second half's
accuracy and events, each as is, mirrored, letterboxed and re-timed, for each decision rule.

``--cold-start`` measures the warm-up after a start or reset (:class:`WarmUp`: the first frames
never pooled, the frames pooled before the first score) against waiting for the full window, over
a grid, by the rule stated in :func:`cold_start`: besides the figures above, cold starts from
every second of each held-out half and, in the same room, from every 0.1 s of the hugging and
drinking halves, before and after the correction.

``--sweep`` measures the short window that confirms a switch (``ShortWindow``: when it names
another taught action confidently, the window is cut to its last frames) against none, over a
grid of its parameters, on one setting, by the rule stated in :func:`sweep`; ``--no-short-window``
runs the rest without it, ``--warm-up full`` with the warm-up the app had before (no score until
the window is full).

Every stream runs through the real model once; the scorer pools each frame's own features in
float32 as the model does (checked against the model's pool), so every window, short window and
warm-up replays them at no cost of inference.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

import cv2
import numpy as np

from benchmarks.media import A0, MEDIA, require_media
from benchmarks.stats import markdown_table
from video_classifier.data import Category, Prediction
from video_classifier.events import EventDetector
from video_classifier.model.movinet import MovinetStream
from video_classifier.outputs import Output
from video_classifier.pacer import Pacer
from video_classifier.settings import TEACH_EXAMPLES, TEACH_SECONDS
from video_classifier.sources.video_file import VideoFileSource
from video_classifier.teach.examples import RESERVED, UNKNOWN, Example, ModelIdentity, add_to
from video_classifier.teach.keeper import LibraryKeeper
from video_classifier.teach.library import ActionLibrary
from video_classifier.teach.scorer import (
    FULL_WINDOW,
    SHARPNESS,
    SHORT_WINDOW,
    UNKNOWN_AT,
    WARM_UP,
    ShortWindow,
    TaughtScorer,
    WarmUp,
    mean_of,
)
from video_classifier.teach.teacher import Lesson, Teacher

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
SETTINGS = [(seconds, examples) for seconds in (2.0, 3.0, 5.0) for examples in (1, 3)]
NAMED_WITHIN_S = 2.5  # an action already going at a start is named this soon (the cold start's goal)


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


class Replayed:
    """What the scorer reads of a model, from given per-frame features: each frame's own share
    (the scorer pools its window itself), and for :func:`check_pooling` a window of them pooled as
    the scorer pools it. The model runs once per stream, and every scorer replays its features."""

    def __init__(self, window: int = 1) -> None:
        self._frames: deque[np.ndarray] = deque(maxlen=window)
        self._last = np.zeros(1, np.float32)

    def push(self, contribution: np.ndarray) -> None:
        self._last = np.asarray(contribution, np.float32)
        self._frames.append(self._last)

    def frame_features(self) -> np.ndarray:
        return self._last

    def pooled_features(self) -> np.ndarray:
        return mean_of(self._frames)


def check_pooling(own: np.ndarray, pooled: np.ndarray, window: int) -> None:
    """The scorer's pooling of a stream's own features gives the model's pool (to float32 rounding)."""
    replayed = Replayed(window)
    for contribution, features in zip(own, pooled):
        replayed.push(contribution)
        np.testing.assert_allclose(
            replayed.pooled_features(), features, rtol=1e-5, atol=1e-6, err_msg="the scorer does not pool as the model"
        )


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


def scored(scorer: TaughtScorer, own: np.ndarray) -> list[list[Category]]:
    """The scorer's labels and scores, best first, for each frame of a stream (its frames' own
    features, from a fresh start); none while it warms up."""
    scorer.reset()
    model, out = Replayed(), []
    for contribution in own:
        model.push(contribution)
        labels, scores = scorer.score(np.zeros(1), model)
        if scorer.warming_up is not None:
            out.append([])
            continue
        order = np.argsort(-scores)
        out.append([Category(labels[i], float(scores[i])) for i in order])
    return out


def full_from(scorer: TaughtScorer) -> int:
    """The first frame after a start whose window is full whatever the warm-up (the app's never
    pools its first frames): accuracy counts from there for every warm-up alike."""
    return scorer.window - 1 + WARM_UP.skip


def first_named(tops: list[list[Category]], label: str) -> float | None:
    """Seconds from the first frame to the first frame ``label`` is top-1 (None: never)."""
    return next((i / FPS for i, top in enumerate(tops) if top and top[0].label == label), None)


def describe_warm_up(warm_up: WarmUp | None) -> str:
    if warm_up is None:
        return "none"
    if warm_up == FULL_WINDOW:
        return "the full window (before)"
    return f"skip {warm_up.skip}, then {warm_up.frames} frames"


SWEEP = {"short": (6, 8, 10), "confirm": (0.5, 0.6, 0.7, 0.8, 0.9), "old": (0.05, 0.2), "hold": (1, 2, 3), "keep": (6, 10, 15)}


def describe(short_window: ShortWindow | None) -> str:
    if short_window is None:
        return "no short window (before)"
    return ", ".join(f"{k} {v:g}" for k, v in asdict(short_window).items())


class Count(Output):
    def __init__(self) -> None:
        self.started = 0
        self.starts: list[float] = []

    def on_event_start(self, event) -> None:
        self.started += 1
        self.starts.append(event.start_s)


def events_started(tops: list[list[Category]]) -> int:
    """Events the app's detector (its default hold, release and grace) would start."""
    count = Count()
    detector = EventDetector(count, 0.4, ignore=RESERVED)
    for i, top in enumerate(tops):
        detector.update(Prediction(i, i / FPS, top[:3], 0.0))
    return count.started


def for_good(tops: list[list[Category]], label: str, start: int) -> float | None:
    """Seconds after ``start`` until ``label`` is top-1 for the rest of the stream (None: never)."""
    last_wrong = max((i for i in range(start, len(tops)) if tops[i][0].label != label), default=start - 1)
    return None if last_wrong == len(tops) - 1 else (last_wrong + 1 - start) / FPS


def material() -> tuple[dict, dict, dict]:
    """The teaching halves, the test halves, and the paced test streams (every variant)."""
    clips = {action: read_clip(MEDIA / name) for action, name in ACTIONS.items()}
    other = read_clip(MEDIA / OTHER_VIDEO[1])
    teach = {a: (frames[: len(frames) // 2], fps) for a, (frames, fps) in clips.items()}
    test = {a: (frames[len(frames) // 2 :], fps) for a, (frames, fps) in clips.items()}
    tests = [*test.items(), (OTHER_VIDEO[0] + " (other video)", other)]
    test_frames = {(a, kind): paced(*variant(frames, fps, kind), TEST_SECONDS) for a, (frames, fps) in tests for kind in VARIANTS}
    return teach, test, test_frames


MODEL_WINDOW = round(TEACH_SECONDS * FPS)  # the model's own window: only its pool is checked against the scorer's


def open_model() -> MovinetStream:
    """A0 as ``--actions`` runs it: a window, no Kinetics-driven cut."""
    return MovinetStream(A0, num_threads=2, window_frames=MODEL_WINDOW, switch_keep=None)


def own_features(model: MovinetStream, frames: list[np.ndarray]) -> np.ndarray:
    """Each frame's own features, from a fresh model (the scorer's pooling checked against its pool)."""
    own, pooled = run_stream(model, frames)
    check_pooling(own, pooled, MODEL_WINDOW)
    return own


def scorer_of(
    keeper: LibraryKeeper,
    unknown_at: float = UNKNOWN_AT,
    short_window: ShortWindow | None = SHORT_WINDOW,
    warm_up: WarmUp | None = WARM_UP,
) -> TaughtScorer:
    """The scorer as the app builds it (the window follows the examples), with these rules."""
    return TaughtScorer(keeper, unknown_at=unknown_at, fps=FPS, warm_up=warm_up, short_window=short_window)


def run(
    seconds_list: list[float] | None = None,
    reaction: bool = True,
    unknown_at: float = UNKNOWN_AT,
    short_window: ShortWindow | None = SHORT_WINDOW,
    warm_up: WarmUp | None = WARM_UP,
) -> dict:
    teach, test, test_frames = material()
    model = open_model()
    streams = {key: own_features(model, frames) for key, frames in test_frames.items()}
    pairs = pair_streams(model, test) if reaction else {}
    rows, details = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seconds, examples in [s for s in SETTINGS if seconds_list is None or s[0] in seconds_list]:
            keepers = libraries(folder, model, teach, seconds, examples)
            row, detail = measure(keepers, streams, unknown_at, short_window, warm_up)
            assert row["window"] == round(seconds * FPS), row  # the window follows the examples
            row = {"setting": f"{examples} x {seconds:g} s", "unknown_at": unknown_at, **row}
            if reaction:
                row.update(reaction_stats(scorer_of(keepers[0], unknown_at, short_window, warm_up), pairs))
            rows.append(row)
            details[row["setting"]] = detail
    return {
        "rows": rows,
        "details": details,
        "sharpness": SHARPNESS,
        "short_window": describe(short_window),
        "warm_up": describe_warm_up(warm_up),
    }


def libraries(folder: Path, model: MovinetStream, teach: dict, seconds: float, examples: int) -> tuple:
    """The library with every action taught, and per action one with every action but it."""
    keeper = lambda path: LibraryKeeper(ActionLibrary(path, _identity(model)))  # noqa: E731
    untaught = {action: keeper(teach_library(folder, model, teach, seconds, examples, skip=action)) for action in ACTIONS}
    return keeper(teach_library(folder, model, teach, seconds, examples)), untaught


def measure(
    keepers: tuple[LibraryKeeper, dict[str, LibraryKeeper]],
    streams: dict,
    unknown_at: float = UNKNOWN_AT,
    short_window: ShortWindow | None = SHORT_WINDOW,
    warm_up: WarmUp | None = WARM_UP,
) -> tuple[dict, dict]:
    """Accuracy, confusion (once the window is full), the cold start (from each stream's first
    frame), and the untaught clips' answers (leave one out: the clip's action is not taught; its
    events counted from the first frame) on the test ``streams`` (own features by (action, variant))."""
    make = lambda keeper: scorer_of(keeper, unknown_at, short_window, warm_up)  # noqa: E731
    scorer = make(keepers[0])
    full = full_from(scorer)
    per_action, confusion, cold, wrong = {}, {}, [], 0
    for (action, _kind), own in streams.items():
        truth = action.replace(" (other video)", "")
        every = scored(scorer, own)
        tops = every[full:]
        per_action.setdefault(action, []).extend(t[0].label == truth for t in tops)
        row = confusion.setdefault(action, {})
        for t in tops:
            row[t[0].label] = row.get(t[0].label, 0) + 1
        if action in ACTIONS:  # a held-out half, played from its first frame
            cold.append(first_named(every, truth))
            wrong += sum(1 for t in every[:full] if t and t[0].label not in (truth, UNKNOWN))
    reads = {}
    for action, keeper in keepers[1].items():
        loo, answers, events = make(keeper), [], 0
        for kind in VARIANTS:
            every = scored(loo, streams[action, kind])
            answers += [t[0].label == UNKNOWN for t in every[full:]]
            events += events_started(every)
        reads[action] = (float(np.mean(answers)), events)
    accuracy = {a: float(np.mean(h)) for a, h in per_action.items()}
    ntu = [a for a in ACTIONS if "NTU" in a]
    named = [t for t in cold if t is not None]
    row = {
        "window": scorer.window,
        "accuracy_mean": round(float(np.mean([accuracy[a] for a in ACTIONS])), 3),
        "accuracy_worst": round(min(accuracy[a] for a in ACTIONS), 3),
        "other_video": round(accuracy[OTHER_VIDEO[0] + " (other video)"], 3),
        "ntu_apart": round(min(accuracy[a] for a in ntu), 3),
        "untaught_unknown_mean": round(float(np.mean([u for u, _ in reads.values()])), 3),
        "untaught_unknown_worst": round(min(u for u, _ in reads.values()), 3),
        "untaught_events": sum(e for _, e in reads.values()),
        "cold_start_p50_s": round(float(np.percentile(named, 50)), 1) if named else None,
        "cold_start_worst_s": round(max(named), 1) if len(named) == len(cold) else "never",
        "cold_start_wrong_frames": wrong,
    }
    return row, {"accuracy": accuracy, "confusion": confusion, "untaught": reads, "cold_start_s": cold}


def pair_streams(model: MovinetStream, test: dict) -> dict[tuple[str, str], tuple[np.ndarray, int]]:
    """Every ordered pair of taught actions, 10 s of one then 10 s of the other: own features
    (through the model once) and the frame of the switch."""
    looped = {a: paced(frames, fps, SWITCH_SECONDS) for a, (frames, fps) in test.items()}
    return {(a, b): (own_features(model, looped[a] + looped[b]), len(looped[a])) for a, b in itertools.permutations(looped, 2)}


def reaction_stats(scorer: TaughtScorer, pairs: dict, quiet: bool = False) -> dict:
    """Seconds until the new taught action is top-1 for good, over every ordered pair."""
    times, never, slow = [], [], []
    for (a, b), (own, switch) in pairs.items():
        t = for_good(scored(scorer, own), b, switch)
        if t is None:
            never.append(f"{a} -> {b}")
        else:
            times.append(t)
            slow.append((t, f"{a} -> {b}"))
    if not quiet:
        print("  slowest switches:", ", ".join(f"{name} {t:.1f} s" for t, name in sorted(slow)[-3:]), file=sys.stderr)
        if never:
            print("  never settle:", ", ".join(never), file=sys.stderr)
    return {
        "reaction_p50_s": round(float(np.percentile(times, 50)), 1),
        "reaction_p95_s": round(float(np.percentile(times, 95)), 1),
        "reaction_worst_s": round(max(times), 1),
        "never_settles": len(never),
    }


def sweep(seconds: float = TEACH_SECONDS, examples: int = TEACH_EXAMPLES, room: int = 5) -> dict:
    """No short window, and every short window of :data:`SWEEP`, on one setting. The model runs
    once per stream: with ``--actions`` a frame's own features do not depend on the window, so
    each scorer replays them.

    The rule, stated before measuring: a short window qualifies when every action's accuracy is
    within 0.02 of no short window's, no untaught clip reads ``unknown`` less often, no more
    events start on untaught clips and no more switches never settle. The qualifying one with the
    best worst reaction (then p50, then p95; ties to the one that cuts least: the larger ``keep``,
    then the higher ``confirm``) wins if its worst beats no short window's and, in the same room
    (the ``room`` best qualifying are measured there), it makes no more false events per minute
    (mean and worst variant, before and after the correction) and keeps drink's accuracy within
    0.02."""
    teach, test, test_frames = material()
    model = open_model()
    streams = {key: own_features(model, frames) for key, frames in test_frames.items()}
    pairs = pair_streams(model, test)

    with tempfile.TemporaryDirectory() as tmp:
        keepers = libraries(Path(tmp), model, teach, seconds, examples)

        def measured(short_window: ShortWindow | None) -> tuple[dict, dict]:
            row, detail = measure(keepers, streams, short_window=short_window)
            scorer = scorer_of(keepers[0], short_window=short_window)
            return {"short_window": describe(short_window), **row, **reaction_stats(scorer, pairs, quiet=True)}, detail

        before, before_detail = measured(None)
        rows = []
        for values in itertools.product(*SWEEP.values()):
            short_window = ShortWindow(**dict(zip(SWEEP, values)))
            row, detail = measured(short_window)
            row["fails"] = _fails(row, detail, before, before_detail)
            rows.append((short_window, row))
    rank = lambda item: (  # noqa: E731
        *(item[1][k] for k in ("reaction_worst_s", "reaction_p50_s", "reaction_p95_s")),
        -item[0].keep,
        -item[0].confirm,
    )
    qualifying = sorted([item for item in rows if not item[1]["fails"]], key=rank)
    candidates = [w for w, row in qualifying[:room] if row["reaction_worst_s"] < before["reaction_worst_s"]]
    room_rows = same_room([UNKNOWN_AT], seconds, (None, *candidates))
    winner = next((w for w in candidates if _room_no_worse(room_rows, w)), None)
    return {
        "setting": f"{examples} x {seconds:g} s",
        "before": before,
        "shipped": next((row for w, row in rows if w == SHORT_WINDOW), None),
        "qualifying": [row for _, row in qualifying],
        "all": [row for _, row in sorted(rows, key=rank)],
        "same_room": room_rows,
        "winner": asdict(winner) if winner else None,
        "sweep": SWEEP,
    }


def _fails(row: dict, detail: dict, before: dict, before_detail: dict) -> str:
    """What keeps a short window from qualifying (empty: nothing)."""
    accuracy, untaught = detail["accuracy"], detail["untaught"]
    fails = [f"{a} {accuracy[a]:.2f}" for a, v in before_detail["accuracy"].items() if accuracy[a] < v - 0.02]
    fails += [
        f"untaught {a} unknown {untaught[a][0]:.2f}" for a, (v, _) in before_detail["untaught"].items() if untaught[a][0] < v
    ]
    if row["untaught_events"] > before["untaught_events"]:
        fails.append(f"{row['untaught_events']} untaught events")
    if row["never_settles"] > before["never_settles"]:
        fails.append(f"{row['never_settles']} never settle")
    return "; ".join(fails)


def _room_no_worse(rows: list[dict], short_window: ShortWindow) -> bool:
    """Whether ``short_window`` makes no more same-room false events and keeps drink's accuracy."""
    before = {r["when"]: r for r in rows if r["short_window"] == describe(None)}
    for r in (r for r in rows if r["short_window"] == describe(short_window)):
        b = before[r["when"]]
        if r["false_per_min_mean"] > b["false_per_min_mean"] or r["false_per_min_worst"] > b["false_per_min_worst"]:
            return False
        if r["taught_accuracy_worst"] < b["taught_accuracy_worst"] - 0.02:
            return False
    return True


def cost(actions: int = 20, examples: int = 20, frames: int = 2000, short_window: ShortWindow | None = SHORT_WINDOW) -> dict:
    """What recognition adds per frame (with ``short_window``, pooling its window included), and
    how long the library takes to load, with ``actions`` x ``examples`` examples (random vectors
    the size of A0's features)."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        library = ActionLibrary(Path(tmp) / "actions.json", ModelIdentity("a0.tflite", "0" * 64, 480))
        for a in range(actions):
            new = [Example(rng.random(480, np.float32), "benchmark", 5.0) for _ in range(examples)]
            library.change(lambda content, a=a, new=new: add_to(content, f"action {a}", new))
        loads = []
        for _ in range(20):
            start = time.perf_counter()
            library.load()
            loads.append((time.perf_counter() - start) * 1000)
        scorer = scorer_of(LibraryKeeper(library), short_window=short_window)
        model = Replayed()
        steps = []
        for _ in range(frames):
            model.push(rng.random(480, np.float32))
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
ROOM_OFFSET_S = 0.1  # same-room cold starts: one from every 0.1 s of a held-out half
TAUGHT_OFFSET_S = 1.0  # taught cold starts: one from every second of a held-out half
COLD_SECONDS = 12.0  # each cold start is played this long


def room_material(seconds: float = TEACH_SECONDS, offsets: bool = False) -> dict:
    """The same room's streams, each frame's own features: drink's teaching half, the minute of
    untaught life seen (the first half of the hugging clip, looped), each held-out half (hugging's
    and drinking's second halves) as a minute from a fresh start in every variant, and with
    ``offsets`` cold starts from every :data:`ROOM_OFFSET_S` of each held-out half."""
    name, taught_clip = SAME_ROOM["taught"]
    drink, life = read_clip(MEDIA / taught_clip), read_clip(MEDIA / SAME_ROOM["life"])
    halves = lambda clip: ((clip[0][: len(clip[0]) // 2], clip[1]), (clip[0][len(clip[0]) // 2 :], clip[1]))  # noqa: E731
    (drink_teach, drink_test), (life_seen, life_test) = halves(drink), halves(life)
    model = open_model()
    tests = (("life", life_test), (name, drink_test))
    held_out = {
        (what, kind): own_features(model, paced(*variant(frames, fps, kind), LIFE_SECONDS))
        for what, (frames, fps) in tests
        for kind in VARIANTS
    }
    starts = {}
    if offsets:
        for what, (frames, fps) in tests:
            for kind in VARIANTS:
                changed, rate = variant(frames, fps, kind)
                for k in sorted({int(t * rate) for t in np.arange(0, len(changed) / rate, ROOM_OFFSET_S)}):
                    stream = paced(changed[k:] + changed[:k], rate, COLD_SECONDS)
                    starts[what, kind, round(k / rate, 2)] = own_features(model, stream)
    return {
        "model": model,
        "seconds": seconds,
        "drink_teach": drink_teach,
        "seen": own_features(model, paced(*life_seen, LIFE_SECONDS)),
        "held_out": held_out,
        "cold_starts": starts,
    }


def same_room(
    unknown_levels: list[float],
    seconds: float = TEACH_SECONDS,
    short_windows: tuple[ShortWindow | None, ...] = (SHORT_WINDOW,),
    warm_ups: tuple[WarmUp | None, ...] = (WARM_UP,),
    room: dict | None = None,
) -> list[dict]:
    """False events per minute of untaught same-room life, and the taught action's accuracy,
    before and after one correction, per decision rule (the fixed ``unknown`` level), short
    window and warm-up (with ``room``'s cold starts, also their false events and frames)."""
    room = room or room_material(seconds)
    rows = []
    for level, short_window, warm_up in itertools.product(unknown_levels, short_windows, warm_ups):
        for when, row in room_rows(room, level, short_window, warm_up).items():
            rule = {"decision": f"unknown at {level:g}", "short_window": describe(short_window)}
            rows.append({**rule, "warm_up": describe_warm_up(warm_up), "when": when, **row})
    return rows


def room_rows(room: dict, level: float, short_window: ShortWindow | None, warm_up: WarmUp | None) -> dict[str, dict]:
    """One decision rule in the room, before and after the one correction (see :func:`same_room`)."""
    from video_classifier.teach.corrections import Corrector
    from video_classifier.teach.recent_events import EventFile, RecentEvents

    name, model = SAME_ROOM["taught"][0], room["model"]
    with tempfile.TemporaryDirectory() as tmp:
        path = teach_library(Path(tmp), model, {name: room["drink_teach"]}, room["seconds"], 1)
        keeper = LibraryKeeper(ActionLibrary(path, _identity(model)))  # not started: changes are made at once
        scorer = scorer_of(keeper, level, short_window, warm_up)  # as the app
        events = RecentEvents(keeper, EventFile(Path(tmp) / "events.json", keeper.library.model), scorer.window)
        corrector = Corrector(keeper, events, FPS)
        measured = {"before": _room_row(scorer, room, name)}
        _play(scorer, room["seen"], events)  # the user sees a false event in the room's life ...
        false_ids = [r.id for r in reversed(events.records()) if r.label == name]
        if false_ids:
            corrector.correct(false_ids[0], "wrong")  # ... and says it was wrong
        measured["after one correction"] = _room_row(scorer, room, name)
        first = events.records()[-1].start_s if false_ids else None
        return {when: {"life_false_events": len(false_ids), "seen_first_s": first, **row} for when, row in measured.items()}


def _play(scorer: TaughtScorer, own: np.ndarray, output: Output) -> list[list[Category]]:
    """A stream through the scorer and the app's event detector, its events told to ``output``."""
    tops = scored(scorer, own)
    detector = EventDetector(output, 0.4, ignore=RESERVED)
    for i, (top, features) in enumerate(zip(tops, own)):
        prediction = Prediction(i, i / FPS, top[:3], 0.0, features=features, warming_up_s=None if top else 0.0)
        detector.update(prediction)
        output.on_prediction(prediction)
    detector.close()
    return tops


def _room_row(scorer: TaughtScorer, room: dict, name: str) -> dict:
    false_per_min, accuracy, fired = [], [], []
    full = full_from(scorer)
    for (what, _kind), own in room["held_out"].items():
        count = Count()
        tops = _play(scorer, own, count)
        if what == name:
            accuracy.append(float(np.mean([t[0].label == name for t in tops[full:]])))
            fired.append(count.started > 0)
        else:
            false_per_min.append(count.started * 60.0 / LIFE_SECONDS)
            if count.started:
                print(f"  false event(s) on {what}, {_kind}: at {count.starts} s", file=sys.stderr)
    row = {
        "false_per_min_mean": round(float(np.mean(false_per_min)), 2),
        "false_per_min_worst": round(max(false_per_min), 2),
        "taught_accuracy_mean": round(float(np.mean(accuracy)), 3),
        "taught_accuracy_worst": round(min(accuracy), 3),
        "taught_fires": f"{sum(fired)}/{len(fired)}",
    }
    if room["cold_starts"]:
        false_starts, false_frames, drink_named = 0, 0, []
        for (what, _kind, _offset), own in room["cold_starts"].items():
            count = Count()
            tops = _play(scorer, own, count)
            if what == name:
                drink_named.append(first_named(tops, name))
            else:
                false_starts += count.started > 0
                false_frames += sum(1 for t in tops[:full] if t and t[0].label == name)
        lives = sum(1 for key in room["cold_starts"] if key[0] != name)
        named = [t for t in drink_named if t is not None]
        row.update(
            {
                "cold_false": f"{false_starts}/{lives}",
                "cold_false_starts": false_starts,
                "cold_false_frames": false_frames,
                "cold_drink_named_worst_s": round(max(named), 1) if len(named) == len(drink_named) else "never",
            }
        )
    return row


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
COLD_ROOM_COLUMNS = [
    ("cold_false", "cold starts of life with a false event"),
    ("cold_false_frames", "frames life reads drink before the window is full"),
    ("cold_drink_named_worst_s", "drink named, worst s"),
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
    ("cold_start_p50_s", "cold start p50 s"),
    ("cold_start_worst_s", "worst s"),
    ("cold_start_wrong_frames", "frames a wrong action is top-1 before the window is full"),
    ("reaction_p50_s", "reaction p50 s"),
    ("reaction_p95_s", "p95 s"),
    ("reaction_worst_s", "worst s"),
    ("never_settles", "never settles"),
]


SWEEP_COLUMNS = [("short_window", "short window"), *COLUMNS[2:], ("fails", "fails the rule on")]


def print_sweep(result: dict, shown: int = 5) -> None:
    """No short window, the one the app ships, the best qualifying, and the same room."""
    print(f"taught {result['setting']}: no short window, the app's, the {shown} best that qualify")
    shipped = [result["shipped"]] if result["shipped"] else []
    rows = [result["before"], *shipped, *[row for row in result["qualifying"] if row not in shipped][:shown]]
    print(markdown_table(rows, SWEEP_COLUMNS))
    failing = [row for row in result["all"] if row["fails"]][:shown]
    print(
        f"\n{len(result['qualifying'])} of {len(result['all'])} short windows qualify"
        + ("; the fastest that do not:" if failing else "")
    )
    if failing:
        print(markdown_table(failing, SWEEP_COLUMNS))
    print("\nsame room:")
    print(markdown_table(result["same_room"], [("short_window", "short window"), *ROOM_COLUMNS[1:]]))
    winner = describe(ShortWindow(**result["winner"])) if result["winner"] else "none: no short window"
    print(f"\nwinner: {winner}; the app's: {describe(SHORT_WINDOW)}")


WARM_UP_SWEEP = {"skip": (0, 2, 3, 4, 5, 6), "frames": (4, 5, 6, 7, 8, 10)}
MAX_WARM_UP = 12  # frames: skip + frames at most this (2.4 s at 5 fps), or nothing could be named within 2.5 s


def taught_cold_starts(model: MovinetStream, test: dict) -> dict:
    """Cold starts of the taught actions: from every :data:`TAUGHT_OFFSET_S` of each held-out
    half, in every variant, each from a fresh model."""
    starts = {}
    for action, (frames, fps) in test.items():
        for kind in VARIANTS:
            changed, rate = variant(frames, fps, kind)
            for k in sorted({int(t * rate) for t in np.arange(0, len(changed) / rate, TAUGHT_OFFSET_S)}):
                stream = paced(changed[k:] + changed[:k], rate, COLD_SECONDS)
                starts[action, kind, round(k / rate, 2)] = own_features(model, stream)
    return starts


def cold_start(seconds: float = TEACH_SECONDS, examples: int = TEACH_EXAMPLES) -> dict:
    """Waiting for the full window (before), and every warm-up of :data:`WARM_UP_SWEEP` (at
    most :data:`MAX_WARM_UP` frames), on one setting.

    The rule, stated before measuring: a warm-up qualifies when every held-out half, in every
    variant, played from its first frame, is named (top-1) within :data:`NAMED_WITHIN_S`; when
    it makes no more false events than the full window: from untaught clips, and in the same
    room, on the minute-long held-out variants (per minute, mean and worst) and on the cold
    starts from every 0.1 s of the hugging half, before and after the correction; and when it
    keeps drink's accuracy within 0.02 and every action's within 0.02. Of those, the one on whose
    same-room cold starts untaught life reads the taught action on the fewest frames before the
    window is full (after the correction, then before it) wins; then the fastest at worst from
    the first frame, then the one that names the most taught cold starts from every second of
    the held-out halves within the goal, then the one that skips least."""
    teach, test, test_frames = material()
    model = open_model()
    streams = {key: own_features(model, frames) for key, frames in test_frames.items()}
    taught_starts = taught_cold_starts(model, test)
    room = room_material(seconds, offsets=True)
    candidates = [FULL_WINDOW] + [
        WarmUp(skip, frames)
        for skip, frames in itertools.product(*WARM_UP_SWEEP.values())
        if skip + frames <= MAX_WARM_UP and frames < round(seconds * FPS)
    ]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        keepers = libraries(Path(tmp), model, teach, seconds, examples)
        for warm_up in candidates:
            row, detail = measure(keepers, streams, warm_up=warm_up)
            scorer = scorer_of(keepers[0], warm_up=warm_up)
            named = [first_named(scored(scorer, own), action) for (action, _k, _o), own in taught_starts.items()]
            within = sum(1 for t in named if t is not None and t <= NAMED_WITHIN_S + 1e-6)
            rooms = room_rows(room, UNKNOWN_AT, SHORT_WINDOW, warm_up)
            row = {
                "warm_up": describe_warm_up(warm_up),
                **row,
                "offsets_within": f"{within}/{len(named)}",
                "offsets_within_n": within,
                "offsets_p50_s": round(float(np.median([t for t in named if t is not None])), 1),
                "offsets_worst_s": round(max(t for t in named if t is not None), 1) if None not in named else "never",
                **{f"room_{k}_{when[:5]}": v for when, r in rooms.items() for k, v in r.items()},
            }
            print(f"  {row['warm_up']}: cold start worst {row['cold_start_worst_s']}", file=sys.stderr)
            results.append((warm_up, row, detail))
    before, before_row, before_detail = results[0]
    for _, row, detail in results[1:]:
        row["fails"] = _cold_fails(row, detail, before_row, before_detail)
    qualifying = sorted(
        [item for item in results[1:] if not item[1]["fails"]],
        key=lambda item: (
            item[1]["room_cold_false_frames_after"],
            item[1]["room_cold_false_frames_befor"],
            item[1]["cold_start_worst_s"],
            -item[1]["offsets_within_n"],
            item[0].skip,
        ),
    )
    winner = qualifying[0][0] if qualifying else None
    return {
        "setting": f"{examples} x {seconds:g} s",
        "before": before_row,
        "shipped": next((row for w, row, _ in results if w == WARM_UP), None),
        "qualifying": [row for _, row, _ in qualifying],
        "all": [row for _, row, _ in results[1:]],
        "winner": asdict(winner) if winner else None,
        "sweep": WARM_UP_SWEEP,
    }


def _cold_fails(row: dict, detail: dict, before: dict, before_detail: dict) -> str:
    """What keeps a warm-up from qualifying (empty: nothing)."""
    fails = []
    if row["cold_start_worst_s"] == "never" or row["cold_start_worst_s"] > NAMED_WITHIN_S + 1e-6:
        fails.append(f"cold start worst {row['cold_start_worst_s']} s")
    accuracy = detail["accuracy"]
    fails += [f"{a} {accuracy[a]:.2f}" for a, v in before_detail["accuracy"].items() if accuracy[a] < v - 0.02]
    if row["untaught_events"] > before["untaught_events"]:
        fails.append(f"{row['untaught_events']} untaught events")
    for when, said in (("befor", "before the correction"), ("after", "after it")):
        for key in ("false_per_min_mean", "false_per_min_worst", "cold_false_starts"):
            if row[f"room_{key}_{when}"] > before[f"room_{key}_{when}"]:
                fails.append(f"same room {key} {row[f'room_{key}_{when}']} ({said})")
        if row[f"room_taught_accuracy_worst_{when}"] < before[f"room_taught_accuracy_worst_{when}"] - 0.02:
            fails.append(f"drink {row[f'room_taught_accuracy_worst_{when}']} ({said})")
    return "; ".join(fails)


COLD_COLUMNS = [
    ("warm_up", "warm-up"),
    ("cold_start_p50_s", "named from the first frame: p50 s"),
    ("cold_start_worst_s", "worst s"),
    ("offsets_within", f"cold starts from every second named within {NAMED_WITHIN_S:g} s"),
    ("offsets_worst_s", "their worst s"),
    ("cold_start_wrong_frames", "frames a wrong action is top-1 before the window is full"),
    ("untaught_events", "events from untaught"),
    ("accuracy_worst", "accuracy, worst action"),
    ("room_false_per_min_worst_befor", "same room false/min worst: before"),
    ("room_false_per_min_worst_after", "after correction"),
    ("room_cold_false_befor", "same-room cold starts with a false event: before"),
    ("room_cold_false_after", "after"),
    ("room_cold_false_frames_befor", "frames life reads drink before the window is full: before"),
    ("room_cold_false_frames_after", "after"),
    ("room_seen_first_s_befor", "first false event in the minute seen, s"),
]


def print_cold_start(result: dict, shown: int = 8) -> None:
    """The full window, the app's warm-up, the best that qualify and the fastest that do not."""
    print(f"taught {result['setting']}: the full window (before), the app's warm-up, the {shown} best that qualify")
    shipped = [result["shipped"]] if result["shipped"] else []
    rows = [result["before"], *shipped, *[row for row in result["qualifying"] if row not in shipped][:shown]]
    print(markdown_table(rows, COLD_COLUMNS))
    failing = sorted((row for row in result["all"] if row["fails"]), key=lambda r: str(r["cold_start_worst_s"]))[:shown]
    print(f"\n{len(result['qualifying'])} of {len(result['all'])} warm-ups qualify" + ("; some that do not:" if failing else ""))
    if failing:
        print(markdown_table(failing, [*COLD_COLUMNS, ("fails", "fails the rule on")]))
    winner = describe_warm_up(WarmUp(**result["winner"])) if result["winner"] else "none: the full window"
    print(f"\nwinner: {winner}; the app's: {describe_warm_up(WARM_UP)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--seconds", type=float, action="append", help="only this example length (repeatable)")
    p.add_argument("--no-reaction", action="store_true", help="skip the pairs (the slowest part)")
    p.add_argument("--unknown-at", type=float, action="append", help="also score with this unknown level (repeatable)")
    p.add_argument("--no-short-window", action="store_true", help="score without the short window that confirms a switch")
    p.add_argument("--warm-up", choices=("app", "full"), default="app", help="full: no score until the window is full (before)")
    p.add_argument("--cost-only", action="store_true", help="only the cost of recognition and of loading")
    p.add_argument("--same-room", action="store_true", help="only the same-room protocol, before and after a correction")
    p.add_argument("--sweep", action="store_true", help="only the short windows swept (one setting: the first --seconds)")
    p.add_argument("--cold-start", action="store_true", help="only the warm-ups swept (one setting: the first --seconds)")
    args = p.parse_args(argv)
    require_media()
    started = time.monotonic()
    short_window = None if args.no_short_window else SHORT_WINDOW
    warm_up = FULL_WINDOW if args.warm_up == "full" else WARM_UP
    if args.sweep or args.cold_start:
        result = (sweep if args.sweep else cold_start)(*(args.seconds or [TEACH_SECONDS])[:1])
        (print_sweep if args.sweep else print_cold_start)(result)
        print(f"({time.monotonic() - started:.0f} s)")
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    if args.same_room:
        room = room_material(*(args.seconds or [TEACH_SECONDS])[:1], offsets=True)
        rows = same_room([UNKNOWN_AT, *(args.unknown_at or [])], short_windows=(short_window,), warm_ups=(warm_up,), room=room)
        print(markdown_table(rows, [*ROOM_COLUMNS, *COLD_ROOM_COLUMNS]))
        print(f"({time.monotonic() - started:.0f} s; warm-up: {describe_warm_up(warm_up)})")
        if args.json:
            args.json.write_text(json.dumps({"same_room": rows}, indent=1))
        return 0
    costs = cost(short_window=short_window)
    print(markdown_table([costs], [(k, k) for k in costs]) + "\n")
    if args.cost_only:
        return 0
    result = run(args.seconds, reaction=not args.no_reaction, short_window=short_window, warm_up=warm_up)
    for level in args.unknown_at or []:
        extra = run(args.seconds, reaction=False, unknown_at=level, short_window=short_window, warm_up=warm_up)
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
    print(
        f"({time.monotonic() - started:.0f} s; sharpness {SHARPNESS}; short window: {describe(short_window)}; "
        f"warm-up: {describe_warm_up(warm_up)})"
    )
    if args.json:
        args.json.write_text(json.dumps({**result, "cost": costs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
