"""Action events per clip: how many events one continuous activity makes, and whether a real
switch makes two with the right names, for the old and the new event detector.

    python -m benchmarks.events [--seconds 60] [--case NAME] [--release R] [--grace S] [--json FILE]
    python -m benchmarks.events --replay [--release R] [--grace S] [--json FILE]   (no model: the last run's logs)
    python -m benchmarks.events --sweep [--json FILE]                               (no model: every R x S)

Each case is the app as ``classify.py`` assembles it (video_classifier/app.py, from Settings)
with ``--log FILE --no-display``, the file played faster than real time (nothing skipped): a
clip looped for ``--seconds`` (``--loop``), copies of two at 2.5 frames a second (the model
then gets half its 5, as on a slower board or camera), and real switches (``--seconds`` of one
clip, then of another, each frame the centre square the model crops, at 5 fps, in one MJPG
file). The app's own events (the new detector) are recorded as it runs; then the log's
predictions (one JSON line per model frame, with the top-k the detector sees) are replayed
through the detector as it was before (hold and end counted in model frames:
``FrameCountDetector`` below, kept here for the comparison) and through today's
:class:`EventDetector`. The replay of today's detector must give exactly the app's own events
(checked on every run, which stops otherwise), so ``--replay`` and ``--sweep`` can try other
``--release``/``--grace`` values on the logs without the model.

The model's window policy is still changing: rerun this (without ``--replay``) after such a
change; the logs and written clips in ``--work`` (default artifacts/events) are then rewritten.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/x.py): import as python -m benchmarks.x would
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    import benchmarks  # noqa: F401  (first, as with -m: it keeps the environment and sets the threads)

import cv2
import numpy as np

from benchmarks.media import A0, KINETICS_LABELS, MEDIA, ROOT, require_media
from benchmarks.stats import markdown_table
from video_classifier.data import ActionEvent, Category, Prediction
from video_classifier.events import EventDetector
from video_classifier.outputs import Output
from video_classifier.pacer import Pacer
from video_classifier.settings import GRACE_S, RELEASE, Settings

FPS = 5.0  # the model's rate (Settings.fps)
THRESHOLD, HOLD_S = Settings.threshold, Settings.hold
OLD_HOLD = round(HOLD_S * FPS)  # the old detector's hold and end, in predictions
SWITCH_SIZE = 256  # the written switches: each frame's centre square (what the model crops) at this size


@dataclass(frozen=True)
class Case:
    """One stream: ``clips`` played one after another, ``seconds`` each (looped as needed);
    ``expected`` the action of each part, in order."""

    name: str
    clips: tuple[str, ...]
    expected: tuple[str, ...]
    fps: float | None = None  # a copy at this frame rate (None: the clip as it is, looped by the app)

    @property
    def switch(self) -> bool:
        return len(self.clips) > 1


EYELINER = "apply_eye_makeup_mmaction2_test.avi"
PANCAKE = "flipping_a_pancake.mkv"
CRICKET = "v_CricketShot_g04_c01_rgb.gif"
CARVING = "carving_ice.mp4"
ARM = "arm_wrestling_mmaction2_demo.mp4"
POOL = "cleaning_pool_mmaction2_test.mp4"
JACKS = "jumping_jacks.mp4"

CASES = [
    Case("eyeliner", (EYELINER,), ("putting on eyeliner",)),
    Case("pancake", (PANCAKE,), ("flipping pancake",)),
    Case("cricket", (CRICKET,), ("playing cricket",)),
    Case("carving ice", (CARVING,), ("carving ice",)),
    Case("arm wrestling", (ARM,), ("arm wrestling",)),
    Case("cleaning pool", (POOL,), ("cleaning pool",)),
    Case("jumping jacks", (JACKS,), ("jumping jacks",)),
    Case("pancake at 2.5 fps", (PANCAKE,), ("flipping pancake",), fps=2.5),
    Case("cricket at 2.5 fps", (CRICKET,), ("playing cricket",), fps=2.5),
    Case("arm wrestling -> cleaning pool", (ARM, POOL), ("arm wrestling", "cleaning pool")),
    Case("pancake -> eyeliner", (PANCAKE, EYELINER), ("flipping pancake", "putting on eyeliner")),
    Case("carving ice -> cricket", (CARVING, CRICKET), ("carving ice", "playing cricket")),
    Case("eyeliner -> arm wrestling", (EYELINER, ARM), ("putting on eyeliner", "arm wrestling")),
    Case("jumping jacks -> pancake", (JACKS, PANCAKE), ("jumping jacks", "flipping pancake")),
    Case("cleaning pool -> jumping jacks", (POOL, JACKS), ("cleaning pool", "jumping jacks")),
]


# -- the detector before: hold and release counted in model frames --------------------------------
class FrameCountDetector:
    """The event detector as it was before hysteresis in seconds (kept for the comparison): an
    action starts once it has been top-1 at ``threshold`` for ``hold`` predictions in a row; it
    ends once, for ``hold`` predictions in a row, its score has fallen below ``threshold *
    release`` or another action has qualified. The app built it with ``hold = round(--hold *
    --fps)`` = 5 predictions, whatever rate the model really ran at."""

    def __init__(self, output, threshold=THRESHOLD, hold=OLD_HOLD, release=0.75, ignore=frozenset()):
        self.output, self.threshold, self.hold, self.release, self.ignore = output, threshold, hold, release, ignore
        self.active = self._candidate = None
        self._misses = 0

    def update(self, prediction: Prediction) -> None:
        top = prediction.top[0] if prediction.top else None
        qualified = top if top is not None and top.score >= self.threshold and top.label not in self.ignore else None
        t = prediction.time_s
        if self.active is not None:
            score = next((c.score for c in prediction.top if c.label == self.active.label), 0.0)
            other = qualified is not None and qualified.label != self.active.label
            if score >= self.threshold * self.release and not other:
                self.active.scores.append(score)
                self.active.end_s = t
                self._misses = 0
            else:
                self._misses += 1
                if self._misses >= self.hold:
                    self._finish()
        if qualified is None or (self.active is not None and qualified.label == self.active.label):
            self._candidate = None
            return
        if self._candidate is None or self._candidate.label != qualified.label:
            self._candidate = ActionEvent(qualified.label, t, t)
        self._candidate.scores.append(qualified.score)
        self._candidate.end_s = t
        if len(self._candidate.scores) >= self.hold and self.active is None:
            self.active, self._candidate, self._misses = self._candidate, None, 0
            self.output.on_event_start(self.active)

    def _finish(self) -> None:
        event, self.active, self._misses = self.active, None, 0
        self.output.on_event_end(event)

    def close(self) -> None:
        if self.active is not None:
            self._finish()

    def interrupt(self) -> None:
        self.close()
        self._candidate = None


# -- what the detectors tell ----------------------------------------------------------------------
class Recorded(Output):
    """Events as told, each with the stream times at which its start and end were told, and
    whether it took over from another event (its start told as that one's end was)."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self._open: dict[int, dict] = {}
        self._ended: list[dict] = []  # ended while the current prediction was handled
        self._settled_s: float | None = None  # the stream's first prediction after its settling ones

    def on_event_start(self, event: ActionEvent) -> None:
        # Told while the prediction that started it is handled: the event's end_s is its time. Its
        # hold began at its start, or where the settling ended for a start dated back into them.
        held_s = max(event.start_s, event.end_s if self._settled_s is None else self._settled_s)
        record = {"label": event.label, "start_s": event.start_s, "held_s": held_s, "told_start_s": event.end_s}
        record["takeover"] = bool(self._ended)
        self._open[id(event)] = record
        self.events.append(record)

    def on_event_end(self, event: ActionEvent) -> None:
        record = self._open.pop(id(event))
        record.update(end_s=event.end_s, duration_s=event.end_s - event.start_s)
        self._ended.append(record)

    def on_prediction(self, prediction: Prediction) -> None:
        # The pipeline tells the events of a prediction before the prediction itself.
        for record in self._ended:
            record["told_end_s"] = prediction.time_s
        self._ended = []
        if prediction.settling:
            self._settled_s = None
        elif self._settled_s is None:
            self._settled_s = prediction.time_s


def replay(records: list[dict], make_detector) -> list[dict]:
    """The events ``make_detector(output)`` finds in a log's records (predictions and camera
    losses), fed as the app's pipeline feeds them."""
    told = Recorded()
    detector = make_detector(told)
    last = None
    for record in records:
        if record.get("type") == "camera" and record["state"] == "lost":
            detector.interrupt()
        elif "type" not in record:
            top = [Category(c["label"], c["score"]) for c in record["top"]]
            settling = record.get("settling", False)
            last = Prediction(record["frame"], record["time_s"], top, record["inference_ms"], settling=settling)
            detector.update(last)
            told.on_prediction(last)
    detector.close()
    if last is not None:
        told.on_prediction(last)  # closed at the end of the stream
    return told.events


def old_detector(output) -> FrameCountDetector:
    return FrameCountDetector(output)


def new_detector(release: float = RELEASE, grace_s: float = GRACE_S):
    return lambda output: EventDetector(output, THRESHOLD, HOLD_S, release=release, grace_s=grace_s)


# -- the streams --------------------------------------------------------------------------------
def _paced(path: Path, fps: float) -> tuple[list[np.ndarray], float]:
    """The frames of ``path`` the app's pacer would take at ``fps``, and the rate they come at."""
    from tests.support.video_frames import paced_frames

    capture = cv2.VideoCapture(str(path))
    source_fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return paced_frames(path, fps), min(fps, source_fps)


def _write(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    if not writer.isOpened():
        raise SystemExit(f"cannot write {path} (OpenCV has no MJPG writer here)")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def _square(frame: np.ndarray) -> np.ndarray:
    """The frame's centre square (what the model sees with --crop center), at SWITCH_SIZE."""
    h, w = frame.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return cv2.resize(frame[y : y + side, x : x + side], (SWITCH_SIZE, SWITCH_SIZE), interpolation=cv2.INTER_AREA)


def stream_file(case: Case, seconds: float, folder: Path) -> tuple[Path, bool]:
    """The file the app plays for ``case``, and whether it loops it: the clip itself, a copy at a
    low frame rate, or a switch (``seconds`` of each clip, as the pacer would give them, in one file)."""
    if not case.switch and case.fps is None:
        return MEDIA / case.clips[0], True
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_stem(case)}.avi"
    if case.fps is not None:
        frames, _ = _paced(MEDIA / case.clips[0], case.fps)
        return _write(path, frames, case.fps), True
    parts = []
    for clip in case.clips:
        frames, _ = _paced(MEDIA / clip, FPS)
        parts += [_square(frames[i % len(frames)]) for i in range(round(seconds * FPS))]
    return _write(path, parts, FPS), False


def _stem(case: Case) -> str:
    """The case's name as a file name."""
    return case.name.replace(" -> ", "_to_").replace(" ", "_").replace(".", "_")


def _predictions_in(path: Path, seconds: float) -> int:
    """How many frames of the first ``seconds`` of ``path`` (looped) the app's pacer takes."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    pacer = Pacer(FPS)
    return sum(pacer.take(i / fps) for i in range(math.ceil(seconds * fps)))


def run_app(case: Case, seconds: float, work: Path, release: float, grace_s: float) -> tuple[list[dict], list[dict], float]:
    """Play ``case`` through the app (its log in ``work``); the log's records, the app's own
    events and the seconds the run took."""
    from video_classifier.app import App

    path, loop = stream_file(case, seconds, work / "clips")
    log = work / f"{_stem(case)}.jsonl"
    log.unlink(missing_ok=True)
    told = Recorded()
    settings = Settings(
        camera=str(path),
        loop=loop,
        model=str(A0),
        labels=str(KINETICS_LABELS),
        num_threads=1,
        no_display=True,
        realtime=False,  # faster than real time; nothing is skipped
        log=str(log),
        release=release,
        grace=grace_s,
        max_frames=_predictions_in(path, seconds * len(case.clips)),
    )
    started = time.monotonic()
    App(settings, extra_outputs=[told]).run()
    took = time.monotonic() - started
    return _read_log(log), told.events, took


def _read_log(path: Path) -> list[dict]:
    if not path.exists():
        raise SystemExit(f"{path} not found: run the cases first (without --replay)")
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- the report ---------------------------------------------------------------------------------
def _names(labels: list[str]) -> str:
    """The events' names in order (repeats counted), or, for many events, how many of each."""
    parts: list[list] = []
    for label in labels:
        if parts and parts[-1][0] == label:
            parts[-1][1] += 1
        else:
            parts.append([label, 1])
    if len(parts) > 4:
        counts = {label: labels.count(label) for label in dict.fromkeys(labels)}
        return "taking turns: " + ", ".join(f"{label} x{n}" if n > 1 else label for label, n in counts.items())
    return ", ".join(f"{label} x{n}" if n > 1 else label for label, n in parts) or "-"


def judge(case: Case, events: list[dict], seconds: float) -> dict:
    """What a case's events say: count, names, durations, whether they are right, and the delays."""
    labels = [e["label"] for e in events]
    right = labels == list(case.expected) if case.switch else bool(labels) and set(labels) == {case.expected[0]}
    durations = [e["duration_s"] for e in events]
    fresh = [e["told_start_s"] - e["held_s"] for e in events if not e["takeover"]]
    takeovers = [e["told_start_s"] - e["held_s"] for e in events if e["takeover"]]
    row = {
        "events": len(events),
        "per_min": round(len(events) * 60 / (seconds * len(case.clips)), 1),
        "names": _names(labels),
        "durations": ", ".join(f"{d:.1f}" for d in durations)
        if len(durations) <= 4
        else f"{min(durations):.1f} .. {max(durations):.1f} (median {np.median(durations):.1f})",
        "right": right,
        # from an action's first qualifying prediction to its start being told: with no event
        # running (the promise: within --hold + 0.5 s), and taking over from another event
        "start_told_s": round(max(fresh), 2) if fresh else "",
        "takeover_told_s": round(max(takeovers), 2) if takeovers else "",
    }
    if case.switch and right:
        row["switch_told_s"] = round(events[1]["told_start_s"] - seconds, 2)  # after the switch in the file
    return row


def longest_dip(records: list[dict], events: list[dict], release: float) -> float:
    """The longest time an event's action went without support and the event still went on
    (its closest call: the grace must be longer), over ``events``."""
    longest = 0.0
    for event in events:
        supported = []
        for r in records:
            if "type" in r or not event["start_s"] <= r["time_s"] <= event["end_s"]:
                continue
            top = r["top"][0]
            score = next((c["score"] for c in r["top"] if c["label"] == event["label"]), 0.0)
            beaten = top["label"] != event["label"] and top["score"] >= THRESHOLD
            if score >= THRESHOLD * release and not beaten:
                supported.append(r["time_s"])
        longest = max([longest, *(b - a for a, b in zip(supported, supported[1:]))])
    return round(longest, 1)


def measure(cases: list[Case], seconds: float, work: Path, release: float, grace_s: float, use_logs: bool = False) -> dict:
    """Each case through the app (or its saved log), its events for the old detector and the new one."""
    result = {
        "seconds": seconds,
        "threshold": THRESHOLD,
        "hold_s": HOLD_S,
        "release": release,
        "grace_s": grace_s,
        "old": f"hold {OLD_HOLD} predictions, release 0.75",
        "cases": [],
    }
    for case in cases:
        log = work / f"{_stem(case)}.jsonl"
        if use_logs:
            records, live, took = _read_log(log), None, 0.0
        else:
            records, live, took = run_app(case, seconds, work, release, grace_s)
        old, new = replay(records, old_detector), replay(records, new_detector(release, grace_s))
        if live is not None and _key(live) != _key(new):
            raise SystemExit(f"{case.name}: the replay of the log does not give the app's own events:\n{live}\n{new}")
        dip = longest_dip(records, new, release)
        result["cases"].append(
            {
                "case": case.name,
                "clips": list(case.clips),
                "expected": list(case.expected),
                "predictions": sum("type" not in r for r in records),
                "run_s": round(took, 1),
                "replay": "not checked" if live is None else "same as the app",
                "old": {**judge(case, old, seconds), "list": _rounded(old)},
                "new": {**judge(case, new, seconds), "longest_dip_s": dip, "list": _rounded(new)},
                "log": str(log),
            }
        )
        print(f"{case.name}: old {len(old)}, new {len(new)} event(s) ({took:.0f} s)", file=sys.stderr)
    return result


def _key(events: list[dict]) -> list[tuple]:
    return [(e["label"], round(e["start_s"], 3), round(e["end_s"], 3), e["takeover"]) for e in events]


def _rounded(events: list[dict]) -> list[dict]:
    return [{k: round(v, 3) if isinstance(v, float) else v for k, v in e.items()} for e in events]


COLUMNS = [
    ("case", "case"),
    ("old_events", "old: events"),
    ("old_names", "old: names"),
    ("old_durations", "old: durations (s)"),
    ("new_events", "new: events"),
    ("new_names", "new: names"),
    ("new_durations", "new: durations (s)"),
    ("new_start_told_s", "new: start told after (s)"),
    ("new_longest_dip_s", "new: longest dip kept (s)"),
    ("new_switch_told_s", "new: 2nd told after the switch (s)"),
]


def table(result: dict) -> str:
    rows = []
    for c in result["cases"]:
        row = {"case": c["case"]}
        for side in ("old", "new"):
            for key in ("events", "names", "durations", "start_told_s", "longest_dip_s", "switch_told_s"):
                row[f"{side}_{key}"] = c[side].get(key, "")
            row[f"{side}_events"] = f"{c[side]['events']}" + ("" if c[side]["right"] else " (wrong)")
        rows.append(row)
    return markdown_table(rows, COLUMNS)


# -- the sweep ----------------------------------------------------------------------------------
RELEASES = (0.25, 0.5, 0.75)
GRACES = (1.0, 2.0, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0)


def sweep(cases: list[Case], seconds: float, work: Path) -> list[dict]:
    """Every ``--release`` x ``--grace`` on the saved logs: how many single actions make one
    event (and with the right name), the worst count per minute, the switches told right, how
    late their second event is told, and the slowest start told with no event running."""
    logs = {case: _read_log(work / f"{_stem(case)}.jsonl") for case in cases}
    rows = []
    for release in RELEASES:
        for grace in GRACES:
            judged = {case: judge(case, replay(records, new_detector(release, grace)), seconds) for case, records in logs.items()}
            singles = [j for case, j in judged.items() if not case.switch]
            switches = [j for case, j in judged.items() if case.switch]
            rows.append(
                {
                    "release": release,
                    "grace_s": grace,
                    "singles_one_event": f"{sum(j['events'] == 1 and j['right'] for j in singles)}/{len(singles)}",
                    "singles_right": f"{sum(j['right'] for j in singles)}/{len(singles)}",
                    "worst_per_min": max((j["per_min"] for j in singles), default=""),
                    "events_singles": sum(j["events"] for j in singles),
                    "switches_right": f"{sum(j['right'] for j in switches)}/{len(switches)}",
                    "switch_told_max_s": max((j["switch_told_s"] for j in switches if j["right"]), default=""),
                    "start_told_max_s": max((j["start_told_s"] for j in judged.values() if j["start_told_s"] != ""), default=""),
                }
            )
    return rows


SWEEP_COLUMNS = [
    ("release", "release (x threshold)"),
    ("grace_s", "grace (s)"),
    ("singles_one_event", "single actions: one event"),
    ("singles_right", "right names only"),
    ("worst_per_min", "worst events/min"),
    ("events_singles", "events, all singles"),
    ("switches_right", "switches: 2 right events"),
    ("switch_told_max_s", "2nd told after the switch, worst of the right (s)"),
    ("start_told_max_s", "start told, worst (s)"),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="seconds of each clip (default 60)")
    p.add_argument("--work", type=Path, default=ROOT / "artifacts" / "events", help="the logs and the written clips")
    p.add_argument("--case", action="append", help="only this case (repeatable)")
    p.add_argument("--release", type=float, default=RELEASE, help=f"the new detector's release (default {RELEASE:g})")
    p.add_argument("--grace", type=float, default=GRACE_S, help=f"the new detector's grace, seconds (default {GRACE_S:g})")
    p.add_argument("--replay", action="store_true", help="no model: replay the logs of the last run")
    p.add_argument("--sweep", action="store_true", help="no model: every --release x --grace on the logs of the last run")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    require_media()
    cases = [c for c in CASES if not args.case or c.name in args.case]
    if not cases:
        p.error(f"no such case; the cases: {', '.join(c.name for c in CASES)}")
    if args.sweep:
        rows = sweep(cases, args.seconds, args.work)
        print(markdown_table(rows, SWEEP_COLUMNS))
        if args.json:
            args.json.write_text(json.dumps({"sweep": rows}, indent=1))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    result = measure(cases, args.seconds, args.work, args.release, args.grace, use_logs=args.replay)
    print(table(result))
    print(
        f"\nthreshold {THRESHOLD:g}; old: {result['old']} x threshold, ended after as many predictions without support; "
        f"new: hold {HOLD_S:g} s, release {args.release:g} x threshold, grace {args.grace:g} s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
