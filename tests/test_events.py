"""Action events with hysteresis in seconds: one continuous activity makes one event, a real
switch two with the right names, an action still starts within --hold + 0.5 s, and a dip
shorter than --grace changes nothing. The rules on made-up predictions; the promises on real
clips through the app as classify.py assembles it (played faster than real time)."""

import json
from dataclasses import replace

import cv2
import pytest
from conftest import A0, KINETICS_LABELS, media_path, model_path, read_frames

from video_classifier.app import App
from video_classifier.data import Category, Prediction
from video_classifier.errors import FlagError
from video_classifier.events import EventDetector, Settling
from video_classifier.options import parse_settings
from video_classifier.outputs import Output
from video_classifier.settings import GRACE_S, HOLD_S, RELEASE, Settings

EYELINER = "apply_eye_makeup_mmaction2_test.avi"
PANCAKE = "flipping_a_pancake.mkv"
CRICKET = "v_CricketShot_g04_c01_rgb.gif"


class Told(Output):
    """What a detector tells, in order, with the stream time each start and end was told at."""

    def __init__(self):
        self.calls = []  # ("start" | "end", event, told at)
        self.now = None  # the prediction being handled (set by feed, or by the app's pipeline after it)
        self.predictions = []  # those the app's pipeline told

    def on_event_start(self, event):
        self.calls.append(("start", event, event.end_s))  # the prediction that started it

    def on_event_end(self, event):
        self.calls.append(("end", event, self.now))

    def on_prediction(self, prediction):
        self.now = prediction.time_s
        self.predictions.append(prediction)

    @property
    def ended(self):
        return [event for kind, event, _ in self.calls if kind == "end"]

    @property
    def started(self):
        return [event for kind, event, _ in self.calls if kind == "start"]


def predictions(series, fps=5.0, start_s=0.0):
    """One prediction per ``1/fps`` s from ``start_s``: (label, score), and a label of no
    interest that never qualifies, best first."""
    return [Prediction(i, start_s + i / fps, top_of(label, score), 1.0) for i, (label, score) in enumerate(series)]


def top_of(label, score):
    return sorted([Category(label, score), Category("filler", (1 - score) / 10)], key=lambda c: -c.score)


def seconds(label, score, duration_s, fps=5.0):
    return [(label, score)] * round(duration_s * fps)


def feed(stream, close=True, **options):
    told = Told()
    detector = EventDetector(told, **options)
    for prediction in stream:
        told.now = prediction.time_s
        detector.update(prediction)
    if close:
        detector.close()
    return told, detector


# -- the rules, on made-up predictions ------------------------------------------------------------
@pytest.mark.parametrize("fps", [5.0, 2.5, 1.0])
def test_an_action_starts_within_hold_plus_half_a_second_whatever_the_rate(fps):
    series = seconds("nothing", 0.9, 2, fps) + seconds("a", 0.8, 10, fps)
    told, _ = feed(predictions(series, fps), ignore=frozenset({"nothing"}))
    (event,) = told.started
    first_qualifying = 2.0
    assert event.start_s == pytest.approx(first_qualifying)
    told_at = told.calls[0][2]
    assert HOLD_S <= told_at - first_qualifying <= HOLD_S + 0.5


def test_the_same_seconds_at_another_rate_give_the_same_events():
    """Hold and grace are seconds of capture time: a board at half the rate sees the same events."""

    def events(fps):
        series = seconds("a", 0.9, 10, fps) + seconds("a", 0.05, 2.8, fps) + seconds("a", 0.9, 10, fps)
        series += seconds("a", 0.05, 8, fps) + seconds("b", 0.9, 10, fps)
        told, _ = feed(predictions(series, fps), threshold=0.4, hold_s=1.0, grace_s=4.0)
        return [(e.label, e.start_s, e.end_s) for e in told.ended]

    fast, slow = events(5.0), events(2.5)
    assert [label for label, *_ in fast] == [label for label, *_ in slow] == ["a", "b"]
    for (_, start5, end5), (_, start25, end25) in zip(fast, slow):
        assert start5 == pytest.approx(start25, abs=0.4) and end5 == pytest.approx(end25, abs=0.4)


def test_the_grace_keeps_an_event_through_a_dip_shorter_than_it():
    series = seconds("a", 0.9, 10) + seconds("a", 0.1, 4) + seconds("a", 0.9, 10)
    told, _ = feed(predictions(series), threshold=0.4, hold_s=1.0, release=0.5, grace_s=5.0)
    (event,) = told.ended
    assert event.start_s == 0 and event.end_s == pytest.approx(23.8)
    assert len(event.scores) == 100  # the dip is not part of the event's scores


def test_a_dip_longer_than_the_grace_ends_the_event_where_it_was_last_seen():
    series = seconds("a", 0.9, 10) + seconds("a", 0.1, 6) + seconds("a", 0.9, 10)
    told, _ = feed(predictions(series), threshold=0.4, hold_s=1.0, release=0.5, grace_s=5.0)
    first, second = told.ended
    assert first.end_s == pytest.approx(9.8)  # the last prediction that still supported it
    assert told.calls[1] == ("end", first, pytest.approx(9.8 + 5.0))  # told once the grace was over
    assert second.start_s == pytest.approx(16.0)


def test_a_score_above_the_release_level_keeps_the_event_below_it_does_not():
    """The release level is a fraction of the threshold: 0.5 x 0.4 = 0.2."""
    hovering = seconds("a", 0.9, 5) + seconds("a", 0.25, 20)
    told, _ = feed(predictions(hovering), threshold=0.4, release=0.5, grace_s=2.0)
    assert [e.end_s for e in told.ended] == [pytest.approx(24.8)]
    fading = seconds("a", 0.9, 5) + seconds("a", 0.15, 20)
    told, _ = feed(predictions(fading), threshold=0.4, release=0.5, grace_s=2.0)
    assert [e.end_s for e in told.ended] == [pytest.approx(4.8)]


def test_another_action_taking_turns_for_less_than_the_grace_neither_ends_nor_starts_an_event():
    """The eyeliner clip's pattern: a similar action is top-1 and confident now and then."""
    turn = seconds("eyeliner", 0.6, 4) + seconds("contact lenses", 0.8, 3.4) + seconds("eyeliner", 0.35, 3)
    told, _ = feed(predictions(turn * 6), threshold=0.4, hold_s=1.0, release=0.5, grace_s=5.0)
    assert [e.label for e in told.started] == ["eyeliner"]
    assert len(told.ended) == 1


def test_another_action_qualifying_for_the_grace_takes_over_the_old_end_told_first():
    series = seconds("a", 0.9, 10) + seconds("b", 0.9, 10)
    told, _ = feed(predictions(series), threshold=0.4, hold_s=1.0, release=0.5, grace_s=5.0)
    kinds = [(kind, event.label) for kind, event, _ in told.calls]
    assert kinds == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b")]
    a, b = told.ended
    assert a.end_s == pytest.approx(9.8) and b.start_s == pytest.approx(10.0)  # no overlap, no gap
    assert told.calls[1][2] == told.calls[2][2] == pytest.approx(9.8 + 5.0)  # a unsupported for the grace


def test_a_short_blip_of_another_action_starts_no_event():
    series = seconds("a", 0.9, 2) + seconds("b", 0.9, 0.6) + seconds("a", 0.9, 2)
    told, _ = feed(predictions(series), threshold=0.5, hold_s=1.0)
    assert [e.label for e in told.started] == ["a"]


def test_ignored_labels_never_start_an_event_nor_count_as_another_action():
    reserved = frozenset({"other", "unknown"})
    told, _ = feed(predictions(seconds("other", 0.95, 10)), ignore=reserved)
    assert told.calls == []
    series = seconds("a", 0.9, 5) + seconds("unknown", 0.95, 10)  # a gone
    told, _ = feed(predictions(series), ignore=reserved, grace_s=3.0)
    assert [(e.label, e.end_s) for e in told.ended] == [("a", pytest.approx(4.8))]
    assert told.calls[1][2] == pytest.approx(7.8)  # the grace, then it ends; unknown starts nothing
    under_unknown = [Prediction(i, 5 + i / 5, [Category("unknown", 0.6), Category("a", 0.3)], 1.0) for i in range(50)]
    told, _ = feed(predictions(seconds("a", 0.9, 5)) + under_unknown, ignore=reserved, grace_s=3.0)
    assert [(e.label, e.end_s) for e in told.ended] == [("a", pytest.approx(14.8))]  # a still scored 0.3


def test_a_fresh_stream_s_settling_answers_neither_start_an_event_nor_beat_one():
    """The model's first frames after a start or reset are shown but start nothing: an action
    they name holds from the first settled answer, and starts where they began to name it."""
    fresh = [replace(p, settling=p.time_s < 1.2) for p in predictions(seconds("b", 0.9, 5))]
    told, _ = feed(fresh, hold_s=1.0)
    (event,) = told.started
    assert event.start_s == 0.0 and told.calls[0][2] == pytest.approx(2.2)  # going from the first frame, told as before
    assert len(event.scores) == 25  # its frames are those of its span, 0.0 to 4.8 s
    # A first guess that changes, or a doubt among the settling answers: b starts where the
    # answers named it without a break; a stream that ends before b held 1 s after settling is no event.
    guessed = seconds("a", 0.9, 0.4) + seconds("b", 0.3, 0.2) + seconds("b", 0.9, 4.4)
    told, _ = feed([replace(p, settling=p.time_s < 1.2) for p in predictions(guessed)], hold_s=1.0)
    assert [(e.label, e.start_s, e.end_s) for e in told.ended] == [("b", pytest.approx(0.6), pytest.approx(4.8))]
    told, _ = feed([replace(p, settling=p.time_s < 1.2) for p in predictions(seconds("b", 0.9, 2))], hold_s=1.0)
    assert told.calls == []  # 1.2 to 1.8 s: held 0.6 s, not 1
    # A cut stream (its clock started over) does not join the settling answers on either side of it.
    cut = [replace(p, settling=True) for p in predictions(seconds("b", 0.9, 0.6), start_s=5.0)]
    told, _ = feed(cut + fresh, hold_s=1.0)
    assert [e.start_s for e in told.started] == [0.0]
    # After a reset while "a" runs: "b" in the settling answers does not take over; a's grace
    # runs as it would, and b holds again from its first settled answer.
    reset = [replace(p, settling=p.time_s < 11.2) for p in predictions(seconds("b", 0.9, 10), start_s=10.0)]
    told, _ = feed(predictions(seconds("a", 0.9, 10)) + reset, hold_s=1.0, grace_s=5.0)
    assert [(e.label, e.start_s) for e in told.started] == [("a", 0.0), ("b", pytest.approx(11.2))]
    assert told.calls[1][2] == pytest.approx(9.8 + 5.0)  # a ended after its grace, as without the reset


@pytest.mark.parametrize("fps", [5.0, 2.5, 0.5])
def test_a_fresh_stream_settles_for_6_frames_within_1_2_to_2_4_s_of_capture_time(fps):
    """6 frames at 5 fps (1.2 s) and at 2.5 fps (2.4 s: the model's context is frames, and 3 let
    A0's first guess at cricket start an event); at 0.5 fps the first two (2.4 s, not 12 s)."""
    settling = Settling()
    flags = [settling.at(10.0 + i / fps) for i in range(10)]
    assert flags.count(True) == {5.0: 6, 2.5: 6, 0.5: 2}[fps] and not any(flags[flags.count(True) :])
    faster = Settling()
    assert [faster.at(i / 10) for i in range(14)].count(True) == 12  # at 10 fps, 1.2 s
    settling.restart()  # a reset, or a camera that came back
    assert [settling.at(20.0 + i / 5) for i in range(8)] == [True] * 6 + [False] * 2
    assert settling.at(0.0)  # a clock that started over: a fresh stream, never a settling one forever


def test_weak_scores_make_no_events():
    told, _ = feed(predictions(seconds("a", 0.3, 10)), threshold=0.4)
    assert told.calls == []


def test_a_lost_camera_ends_the_event_at_once_and_a_starting_action_must_hold_again():
    told, detector = feed(predictions(seconds("a", 0.9, 5)), close=False)
    for prediction in predictions(seconds("b", 0.9, 0.6), start_s=5.0):
        detector.update(prediction)
    detector.interrupt()
    assert [(e.label, e.end_s) for e in told.ended] == [("a", pytest.approx(4.8))]
    detector.update(Prediction(0, 9.0, [Category("b", 0.9)], 1.0))
    assert detector.active is None  # b's earlier qualifying predictions no longer count
    detector.close()
    assert len(told.ended) == 1


def test_a_clock_that_starts_over_is_taken_as_a_cut():
    stream = predictions(seconds("a", 0.9, 5), start_s=100.0) + predictions(seconds("a", 0.9, 3))
    told, _ = feed(stream)
    assert [(e.start_s, e.end_s) for e in told.ended] == [(100.0, pytest.approx(104.8)), (0.0, pytest.approx(2.8))]


def test_close_ends_the_event_at_its_last_supporting_prediction():
    series = seconds("a", 0.9, 5) + seconds("a", 0.05, 2)
    told, _ = feed(predictions(series), grace_s=5.0)
    assert [e.end_s for e in told.ended] == [pytest.approx(4.8)]


@pytest.mark.parametrize("lost", [False, True])
def test_an_action_that_waited_for_the_old_event_s_grace_is_an_event_at_the_end_or_a_cut(lost):
    """A switch in a clip's last seconds (or just before a stop or a lost camera): the new action
    qualified for longer than the hold, but the old event's grace had not run out yet."""
    series = seconds("a", 0.9, 5) + seconds("b", 0.9, 4)
    told, detector = feed(predictions(series), close=False, grace_s=5.0)
    assert [e.label for e in told.started] == ["a"]
    detector.interrupt() if lost else detector.close()
    assert [(kind, event.label) for kind, event, _ in told.calls] == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b")]
    assert [(e.start_s, e.end_s) for e in told.ended] == [(0.0, pytest.approx(4.8)), (pytest.approx(5.0), pytest.approx(8.8))]
    told, _ = feed(predictions(seconds("a", 0.9, 5) + seconds("b", 0.9, 0.8)), grace_s=5.0)  # b not held for 1 s
    assert [e.label for e in told.ended] == ["a"]


@pytest.mark.parametrize("options", [{"release": 0.0}, {"release": 1.5}, {"threshold": 0.0}, {"grace_s": -1.0}])
def test_nonsense_settings_are_refused(options):
    with pytest.raises(ValueError):
        EventDetector(Told(), **options)


def test_the_flags_reach_the_settings_and_are_checked():
    settings = parse_settings(["--release", "0.6", "--grace", "2.5", "--hold", "2"])
    assert (settings.release, settings.grace, settings.hold) == (0.6, 2.5, 2.0)
    assert (Settings().release, Settings().grace) == (RELEASE, GRACE_S)
    refused = []
    for bad in (["--release", "0"], ["--release", "1.2"], ["--grace", "-1"]):
        with pytest.raises(FlagError) as exc:
            parse_settings(bad)
        refused.append(str(exc.value))
    assert "--release: expected a number above 0 and at most 1" in refused[0] and "--grace" in refused[2]


# -- the promises, on real clips through the app ---------------------------------------------------
def run_app(clip, loop=True, max_frames=300, **settings):
    """The app on ``clip`` (60 s at 5 fps by default), no window, faster than real time."""
    told = Told()
    app = App(
        Settings(
            camera=str(clip),
            loop=loop,
            model=str(model_path(A0)),
            labels=str(model_path(KINETICS_LABELS)),
            num_threads=1,
            no_display=True,
            realtime=False,
            max_frames=max_frames,
            **settings,
        ),
        extra_outputs=[told],
    )
    app.run()
    return told, app


def write_switch(path, first, second, seconds_each):
    """``first`` then ``second`` (each looped for ``seconds_each``) in one 5 fps file, each frame
    the centre square the model crops."""
    frames = []
    for clip in (first, second):
        paced = read_frames(media_path(clip))
        frames += [paced[i % len(paced)] for i in range(round(seconds_each * 5))]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (256, 256))
    for frame in frames:
        h, w = frame.shape[:2]
        side = min(h, w)
        square = frame[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
        writer.write(cv2.resize(square, (256, 256), interpolation=cv2.INTER_AREA))
    writer.release()
    return path


@pytest.mark.slow  # 300 model frames each
@pytest.mark.parametrize(
    "clip, label",
    [(EYELINER, "putting on eyeliner"), (CRICKET, "playing cricket"), (PANCAKE, "flipping pancake")],
)
def test_a_minute_of_one_looped_action_is_one_event_with_its_name(clip, label):
    """Before: eyeliner made 14 events (contact lenses taking turns), cricket 4."""
    told, app = run_app(media_path(clip))
    assert app.pipeline.predictions == 300
    assert [e.label for e in told.ended] == [label]
    assert [kind for kind, *_ in told.calls] == ["start", "end"]
    event = told.ended[0]
    assert event.end_s - event.start_s >= 50


@pytest.mark.slow  # 400 model frames
def test_a_real_switch_is_two_events_with_the_right_names_in_order(tmp_path):
    """Before: pancake then eyeliner made 18 events (contact lenses, eyeliner, contact lenses...)."""
    clip = write_switch(tmp_path / "switch.avi", PANCAKE, EYELINER, 40)
    told, app = run_app(clip, loop=False, max_frames=400)
    assert app.pipeline.predictions == 400
    assert [e.label for e in told.ended] == ["flipping pancake", "putting on eyeliner"]
    pancake, eyeliner = told.ended
    assert 40 - 5 < pancake.end_s < eyeliner.start_s < 40 + 12  # measured: eyeliner from 50.2 s (A0 names eyeliner late)


def test_a_start_into_a_running_action_makes_no_event_of_the_model_s_first_guess(tmp_path):
    """Carving ice joined 1.6 s into the clip: A0's first frames read it as chiseling stone
    (0.94), an event before, whose grace then held the right one back to 6.6 s."""
    paced = read_frames(media_path("carving_ice.mp4"))
    clip = tmp_path / "joined.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, paced[0].shape[1::-1])
    for frame in paced[8:] + paced[:8]:
        writer.write(frame)
    writer.release()
    log = tmp_path / "log.jsonl"
    told, _ = run_app(clip, max_frames=50, log=str(log))
    records = [json.loads(line) for line in log.read_text().splitlines() if '"type"' not in line]
    assert [r["top"][0]["label"] for r in records[:3]] == ["chiseling stone"] * 3  # the first guess, shown
    assert [r.get("settling", False) for r in records[:8]] == [True] * 6 + [False] * 2
    assert [e.label for e in told.started] == ["carving ice"]
    assert told.calls[0][2] <= 3.0


def test_the_app_starts_an_action_within_hold_plus_half_a_second_of_it_qualifying():
    """Carving ice at a low frame rate (2.5 fps: a slower camera): the hold is seconds, not frames."""
    told, app = run_app(media_path("carving_ice.mp4"), max_frames=100, fps=2.5, hold=1.0)
    assert isinstance(app.pipeline.events, EventDetector) and app.pipeline.events.hold_s == 1.0
    (kind, event, told_at), *_ = told.calls
    assert kind == "start" and event.label == "carving ice"
    qualified = [p.time_s for p in told.predictions if not p.settling and p.top[0].label == event.label and p.top[0].score >= 0.4]
    assert told_at - qualified[0] <= 1.0 + 0.5
    assert event.start_s <= qualified[0]  # or earlier: settling answers that named it just before


def test_an_action_going_from_the_first_frame_starts_there_and_is_told_after_settling_and_hold():
    told, _ = run_app(media_path("arm_wrestling_mmaction2_demo.mp4"), loop=False, max_frames=50)
    assert [(e.label, e.start_s) for e in told.started] == [("arm wrestling", 0.0)]
    assert told.calls[0][2] == pytest.approx(1.2 + 1.0, abs=0.2)  # the settling answers, then the hold (a frame)
