"""No blind start: taught actions after a start or reset. An action already going is named within
2.5 s (the real model, actions taught through the CLI from the first halves of real clips, the
second halves played from their first frame, faster than real time); until then every output
says the app is warming up, never "unknown" at 1.0; the window follows the examples' length."""

from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
import pytest
from conftest import app_env, classify_command, media_path, open_classifier, read_frames, write_half

from video_classifier.data import Category, Prediction
from video_classifier.teach.examples import Example, Library, ModelIdentity, add_to
from video_classifier.teach.library import OTHER
from video_classifier.teach.scorer import WARM_UP, taught_window

FPS = 5
NAMED_WITHIN_S = 2.5
TAUGHT = {
    "wrestling at the table": "arm_wrestling_mmaction2_demo.mp4",
    "pool cleaning": "cleaning_pool_mmaction2_test.mp4",
    "pancake": "flipping_a_pancake.mkv",
}


def run_app(*args) -> subprocess.CompletedProcess:
    return subprocess.run(classify_command(*args), capture_output=True, text=True, env=app_env(), timeout=120)


@pytest.fixture(scope="module")
def library_3s(tmp_path_factory):
    """Three actions taught through the CLI from 3 s of the first halves of their clips."""
    folder = tmp_path_factory.mktemp("warm_up")
    path = folder / "actions.json"
    for name, clip in TAUGHT.items():
        first = write_half(folder / f"{name}-first.mp4", clip, 0, 4.0)
        done = run_app("--actions", path, "--learn", name, "--camera", first, "--seconds", "3")
        assert done.returncode == 0, done.stderr
    assert {e["seconds"] for a in json.loads(path.read_text())["actions"].values() for e in a["examples"]} == {3.0}
    return path


def second_half(clip: str, seconds: float) -> list[np.ndarray]:
    """The model's frames of the clip's second half, looped to ``seconds``."""
    frames = read_frames(media_path(clip))
    frames = frames[len(frames) // 2 :]
    return [frames[i % len(frames)] for i in range(round(seconds * FPS))]


def play(classifier, frames: list[np.ndarray]) -> list[tuple[list[Category], float | None]]:
    """Each frame's top actions and the seconds of warm-up left, as the pipeline reads them."""
    out = []
    for frame in frames:
        top = classifier.top(classifier.scores(frame)[0])
        out.append((top, classifier.warming_up))
    return out


def named_after(played, name: str) -> float:
    """Seconds from the first frame to the first one whose top-1 is ``name``."""
    first = next(i for i, (top, _) in enumerate(played) if top and top[0].label == name)
    return first / FPS


@pytest.mark.slow  # needs `library_3s`: three lessons through the app
def test_the_window_follows_the_examples_length_unless_window_is_given(library_3s):
    classifier = open_classifier(labels=None, actions=str(library_3s))
    assert classifier.scorer.window == 3 * FPS
    assert open_classifier(labels=None, actions=str(library_3s), window=5.0).scorer.window == 5 * FPS
    done = run_app("--actions", library_3s, "--camera", media_path("carving_ice.mp4"), "--no-display", "--max-frames", "3")
    assert done.returncode == 0, done.stderr
    assert "compares the last 3 s with the examples (as long as the taught examples)" in done.stderr


def test_the_window_is_the_median_taught_example_not_corrections_nor_other():
    def library(*examples: tuple[str, float, str | None]) -> Library:
        actions: dict = {}
        for name, seconds, event in examples:
            actions.setdefault(name, []).append(Example(np.ones(3, np.float32), "t", seconds, event=event))
        return Library(ModelIdentity("m.tflite", "0" * 64, 3), actions)

    assert taught_window(library(), FPS, 25) == 25  # nothing taught: --seconds
    assert taught_window(library(("a", 3, None), ("b", 3, None), ("c", 5, None)), FPS, 25) == 15
    assert taught_window(library(("a", 3, None), ("a", 40, "3f9a1c2e"), (OTHER, 30, "77aa00bb")), FPS, 25) == 15
    assert taught_window(library(("a", 0.5, None)), FPS, 25) == 10  # within a lesson's lengths: 2 s at least


@pytest.mark.slow  # needs `library_3s`: three lessons through the app
def test_an_action_already_going_is_named_within_2_5_s_of_a_start_and_of_a_reset(library_3s):
    classifier = open_classifier(labels=None, actions=str(library_3s))
    assert classifier.scorer.warm_up == WARM_UP  # the app's
    for name, clip in TAUGHT.items():
        frames = second_half(clip, 8.0)
        classifier.reset()
        played = play(classifier, frames)
        named = named_after(played, name)
        assert named <= NAMED_WITHIN_S, (name, named)
        # Until then: warming up (no scores, the seconds left counting down), never "unknown".
        warming = [left for top, left in played[: round(named * FPS)] if left is not None]
        assert warming and warming == sorted(warming, reverse=True) and warming[-1] == pytest.approx(1 / FPS)
        assert all(not top for top, left in played if left is not None)
        assert not [top for top, left in played[: round(named * FPS)] if top and top[0].label == "unknown"]
        assert [top[0].label for top, _ in played[-FPS:]] == [name] * FPS
        # "r" in the window: warmed up afresh, the action is named as soon as after the start.
        classifier.reset()
        again = play(classifier, frames)
        assert [left for _, left in again] == [left for _, left in played] and named_after(again, name) == named


@pytest.mark.slow  # needs `library_3s`: three lessons through the app
def test_the_log_says_warming_up_then_names_the_action_and_its_event_starts(library_3s, tmp_path):
    name, clip = "pool cleaning", TAUGHT["pool cleaning"]
    second = write_half(tmp_path / "second.mp4", clip, 1, 8.0)
    done = run_app("--actions", library_3s, "--camera", second, "--no-display", "--log", "-")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    frames = [r for r in records if "frame" in r]
    warming = [r for r in frames if "warming_up_s" in r]
    scored = [r for r in frames if "top" in r]
    assert warming and all("top" not in r for r in warming)
    assert [r["warming_up_s"] for r in warming] == sorted((r["warming_up_s"] for r in warming), reverse=True)
    assert frames.index(scored[0]) == len(warming)  # every warm-up record comes first
    assert scored[0]["time_s"] <= NAMED_WITHIN_S and scored[0]["top"][0]["label"] == name
    events = [r for r in records if r.get("type") == "event"]
    assert [e["label"] for e in events] == [name] and events[0]["start_s"] <= NAMED_WITHIN_S


def test_the_overlay_the_terminal_and_home_assistant_say_warming_up_not_unknown():
    from video_classifier.display.overlay import OverlayStatus, draw_overlay, pipeline_status
    from video_classifier.home_assistant.mqtt import MqttSettings
    from video_classifier.home_assistant.publisher import MqttPublisher

    warming = Prediction(7, 1.4, [], 9.0, warming_up_s=0.4)
    assert warming.to_json() == {"frame": 7, "time_s": 1.4, "warming_up_s": 0.4, "inference_ms": 9.0}
    assert warming.warming_up_line() == "warming up, 0.4 s"

    class Pipeline:
        skipped = 0

        class model_rate:  # noqa: N801
            rate = staticmethod(lambda: 5.0)

    status = pipeline_status(Pipeline(), warming, 30.0, "a0", "")
    assert status.warming_up == "warming up, 0.4 s" and status.top == []
    blank = np.full((480, 640, 3), 200, np.uint8)
    drawn = draw_overlay(blank.copy(), status)
    bare = draw_overlay(blank.copy(), OverlayStatus(display_fps=30.0, model_fps=5.0, inference_ms=9.0, model_name="a0"))
    corner = (slice(0, 60), slice(0, 300))
    assert (drawn[corner] != bare[corner]).any()  # the line where the actions will be
    text = cv2.cvtColor(drawn[corner], cv2.COLOR_BGR2GRAY)
    assert (text > 200).sum() > 100  # white letters on the shaded panel

    publisher = MqttPublisher(MqttSettings("127.0.0.1", 1, topic="test/warm"))
    state = publisher.state(warming)
    assert state["top"] == [] and state["warming_up_s"] == 0.4 and state["action"] == "none"
    assert publisher.attributes(warming) == {"top": [], "event_id": None, "region": "whole"}


def test_the_first_frames_are_never_pooled_and_a_short_window_is_waited_for_whole(tmp_path):
    from video_classifier.teach.keeper import LibraryKeeper
    from video_classifier.teach.library import ActionLibrary
    from video_classifier.teach.scorer import TaughtScorer

    identity = ModelIdentity("m.tflite", "0" * 64, 3)

    class Model:  # a fresh stream: large frames of the room, then the action
        frame = 0

        def frame_features(self):
            return np.array([0, 0, 5], np.float32) if self.frame <= WARM_UP.skip else np.array([1, 0, 0], np.float32)

    def first_scores(seconds: float) -> tuple[int, np.ndarray]:
        library = ActionLibrary(tmp_path / f"{seconds}.json", identity)
        library.change(lambda content: add_to(content, "wave", [Example(np.array([1, 0, 0], np.float32), "t", seconds)]))
        scorer, model = TaughtScorer(LibraryKeeper(library)), Model()
        for frame in range(1, 30):
            model.frame = frame
            _, scores = scorer.score(np.zeros(1), model)
            if scorer.warming_up is None:
                return frame, scores
            assert not scores.any() and scorer.warming_up > 0
        raise AssertionError("never scored")

    frame, scores = first_scores(5.0)  # a 25-frame window: scored after the skipped frames and 6 more
    assert frame == WARM_UP.skip + WARM_UP.frames and scores[0] > 0.99  # none of the room's frames
    frame, scores = first_scores(2.0)  # a 10-frame window fills sooner: waited for, whole, as before
    assert frame == 10 and scores[0] < 0.5  # the room's frames are in it
