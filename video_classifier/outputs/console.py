"""The app on a terminal without a window: the current actions once a second, and each action
event as it starts and ends, on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from utils.std_streams import print_line
from video_classifier.data import ActionEvent, shown
from video_classifier.outputs import Output
from video_classifier.pipeline import Pipeline


class EventAnnouncer(Output):
    """Prints a line when an action starts and when it ends."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream

    def on_event_start(self, event: ActionEvent) -> None:
        print_line(f"action started: {event.label} at {event.start_s:.1f} s (event {event.id})", self.stream)

    def on_event_end(self, event: ActionEvent) -> None:
        span = f"{event.start_s:.1f}-{event.end_s:.1f} s, peak {max(event.scores):.2f}"
        print_line(f"action ended: {event.label}, {span} (event {event.id})", self.stream)


def report_headless(
    pipeline: Pipeline, interval_s: float = 1.0, stream=sys.stderr, note: Callable[[], str] | None = None
) -> None:
    """Print the current top actions once per ``interval_s`` until the stream ends; while
    ``note`` says something (a teaching countdown), print that instead, twice as often. A video
    that ends by itself (where it is damaged too, or at ``--max-frames``) gets its last answer
    printed too (a clip read in less than a second would otherwise print none)."""
    last = None
    while not pipeline.wait(interval_s / 2 if note and note() else interval_s):
        line = note() if note else ""
        if line:
            print_line(f"[{time.strftime('%H:%M:%S')}] {line}", stream)
            continue
        _, prediction = pipeline.latest()
        if prediction is None or prediction is last:
            continue
        last = prediction
        print_line(_status_line(pipeline, prediction), stream)
    _, prediction = pipeline.latest()
    if prediction is not None and prediction is not last and pipeline.ended_by_itself:
        print_line(_status_line(pipeline, prediction), stream)


def _status_line(pipeline: Pipeline, prediction) -> str:
    top = ", ".join(f"{shown(c.label)} {c.score:.2f}" for c in prediction.top)
    if prediction.warming_up:
        top = prediction.warming_up_line()
    rate = f"{pipeline.model_rate.rate():.1f} fps, {prediction.inference_ms:.1f} ms, skipped {pipeline.skipped}"
    return f"[{time.strftime('%H:%M:%S')}] {top}  ({rate})"


def attach(app) -> EventAnnouncer:
    """Without a window: each event's start and end, told on stderr."""
    return EventAnnouncer()
