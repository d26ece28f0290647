"""Capture and inference in their own threads, so that neither waits for the other or the display.

    source --capture thread--> pacer --Handoff--> inference thread --> events --> output
       |                                               \\--> latest prediction (for the window)
       \\--> latest frame (for the window), output.on_frame

The window (or the headless reporter) runs in the main thread and only reads the latest
frame and prediction; OpenCV's GUI must live in the main thread anyway.
"""

from __future__ import annotations

import threading
import time

from utils.rates import RateMeter
from utils.signals import wait_event
from video_classifier.data import Frame, Prediction
from video_classifier.errors import SourceError
from video_classifier.events import EventDetector, Settling
from video_classifier.handoff import Closed, Handoff
from video_classifier.model.classifier import ActionClassifier
from video_classifier.outputs import Output
from video_classifier.pacer import Pacer
from video_classifier.region import Framing
from video_classifier.sources.base import FrameSource


class Pipeline:
    """Runs a source through the pacer into the classifier, and its results (and the action
    events that ``events`` finds in them) to ``output``.

    ``realtime`` plays video files at their own pace (for watching); without it a file is
    read as fast as the model goes and no paced frame is skipped. Live cameras are always
    real-time and drop paced frames the model has no time for (counted in :attr:`skipped`).
    Without ``frames_watched`` (no window, live view or clips) the frames of a file that the
    model does not get are passed over without building their pictures.
    """

    def __init__(
        self,
        source: FrameSource,
        classifier: ActionClassifier,
        fps: float = 5.0,
        output: Output | None = None,
        events: EventDetector | None = None,
        realtime: bool = True,
        model_delay_s: float = 0.0,
        max_predictions: int | None = None,
        frames_watched: bool = True,
        framing: Framing | None = None,
    ) -> None:
        self.source = source
        self.classifier = classifier
        self.pacer = Pacer(fps)
        self.output = output or Output()
        self.events = events
        self.realtime = realtime
        self.model_delay_s = model_delay_s  # test hook: simulates a slower board
        self.max_predictions = max_predictions
        self.limit_reached = False  # stopped after max_predictions
        self.frames_watched = frames_watched
        self.framing = framing  # the part of the picture the model sees (None: the whole)
        # A file read as fast as the model goes is timed by its frames: its clips' overlay and the
        # status line give the model's 5 frames a second of video, not how fast the file was read.
        self.video_time = not (source.live or realtime)
        self._video_now = 0.0  # the newest frame's time
        self.model_rate = RateMeter(clock=self.clock)
        self.error: BaseException | None = None
        self.frames_captured = 0
        self.predictions = 0
        self._handoff: Handoff[tuple[Frame, float]] = Handoff(lossless=not (source.live or realtime))
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._unpaused = threading.Event()
        self._unpaused.set()
        self._reset_requested = threading.Event()
        self._lost = False  # the camera was lost: the next frame starts a fresh stream
        self.settling = Settling()  # a fresh stream's first answers start no event
        self._lock = threading.Condition()
        self._latest_frame: Frame | None = None
        self._version = 0  # bumped by every new frame or prediction
        self._latest_prediction: Prediction | None = None
        self._threads = [
            threading.Thread(target=self._guard, args=(self._capture_loop,), name="capture", daemon=True),
            threading.Thread(target=self._guard, args=(self._inference_loop,), name="inference", daemon=True),
        ]

    # -- control, from the main thread ---------------------------------------------------
    def start(self) -> Pipeline:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Ask both threads to end and wait for them (bounded: a blocked camera read is left)."""
        self._stop.set()
        self._unpaused.set()
        self._handoff.close()
        self.source.interrupt()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def request_stop(self) -> None:
        """End the stream soon, from any thread (the model's current frame is finished first)."""
        self._stop.set()
        self._handoff.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the stream has ended (or failed); True if it has. A stop signal is handled
        meanwhile (:func:`~utils.signals.wait_event`)."""
        return wait_event(self._finished, timeout)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def ended_by_itself(self) -> bool:
        """The stream has ended without a stop: at the end of its video or where the video is
        damaged, or after ``max_predictions``; not by a stop or any other failure."""
        if not self._finished.is_set():
            return False
        if self.error is not None:
            return isinstance(self.error, SourceError) and not self.source.live
        return self.limit_reached or not self._stop.is_set()

    @property
    def skipped(self) -> int:
        """Paced frames the model had no time for."""
        return self._handoff.dropped

    def request_reset(self) -> None:
        """Reset the model's state before its next frame (done in the inference thread)."""
        self._reset_requested.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def set_paused(self, paused: bool) -> None:
        """Freeze the picture and the model (a video file also stops advancing), from any thread."""
        if paused == self.paused:
            return
        if paused:
            self._unpaused.clear()
        else:
            self._unpaused.set()
        self.output.on_pause(paused)

    def latest(self) -> tuple[Frame | None, Prediction | None]:
        with self._lock:
            return self._latest_frame, self._latest_prediction

    def wait_for_update(self, seen_version: int, timeout: float) -> int:
        """Wait until a frame or prediction newer than ``seen_version`` is there, the stream
        ends, or ``timeout`` passes; returns the current version."""
        with self._lock:
            self._lock.wait_for(lambda: self._version != seen_version or self.finished, timeout)
            return self._version

    def clock(self) -> float:
        """Now, for rates: the newest frame's time in a file read as fast as the model goes,
        else the monotonic clock."""
        return self._video_now if self.video_time else time.monotonic()

    def time_of(self, frame: Frame) -> float | None:
        """The time a rate counts ``frame`` at: its own in a file read as fast as the model goes,
        else now (None)."""
        return frame.timestamp if self.video_time else None

    # -- threads -------------------------------------------------------------------------
    def _guard(self, loop) -> None:
        try:
            loop()
        except BaseException as exc:  # reported by the main thread, which owns the exit path
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        """Stop the stream because of ``exc`` (from any thread); the main thread raises it."""
        if self.error is None:
            self.error = exc
        self._stop.set()
        self._handoff.close()
        self._finish()

    def _finish(self) -> None:
        self._finished.set()
        with self._lock:
            self._lock.notify_all()

    def _capture_loop(self) -> None:
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                if not self._unpaused.is_set():
                    paused_at = time.monotonic()
                    self._unpaused.wait()
                    started += time.monotonic() - paused_at
                if not self.frames_watched and self._skip_unwanted():
                    self.frames_captured += 1
                    continue
                frame = self.source.read()
                if frame is None:
                    break
                if self.realtime and not self.source.live:
                    delay = started + frame.timestamp - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                received_at = time.monotonic()
                self.frames_captured += 1
                self._video_now = frame.timestamp
                with self._lock:
                    self._latest_frame = frame
                    self._version += 1
                    self._lock.notify_all()
                self.output.on_frame(frame)
                if self.pacer.take(frame.timestamp):
                    while not self._handoff.put((frame, received_at), timeout=0.2):
                        if self._stop.is_set():
                            return
        finally:
            self._handoff.close()

    def _skip_unwanted(self) -> bool:
        """Pass over the next frame if neither the model nor anyone else wants it."""
        timestamp = getattr(self.source, "next_timestamp", None)
        return timestamp is not None and not self.pacer.wanted(timestamp) and self.source.skip()

    def _inference_loop(self) -> None:
        while True:
            try:
                item = self._handoff.get(timeout=0.5)
            except Closed:
                break
            if item is None:
                if self.source.status:  # the camera is lost, being reconnected
                    self._lost = True  # what comes back is a fresh stream: the model forgets the old one
                    if self.events is not None:
                        self.events.interrupt()
                continue
            frame, received_at = item
            fresh, self._lost = self._lost, False
            if self._reset_requested.is_set():
                self._reset_requested.clear()
                self.output.on_reset(frame.timestamp)
                fresh = True
            if fresh:
                self.classifier.reset()
                self.settling.restart()
            image, region = self.framing.crop(frame) if self.framing else (frame.model_image, None)
            probabilities, ms = self.classifier.scores(image)
            if self.model_delay_s:
                time.sleep(self.model_delay_s)
            top = self.classifier.top(probabilities)
            features, warming_up = self.classifier.features, self.classifier.warming_up
            settling = self.settling.at(frame.timestamp)
            prediction = Prediction(frame.index, frame.timestamp, top, ms, received_at, features, warming_up, region, settling)
            self.predictions += 1
            self.model_rate.tick(self.time_of(frame))
            with self._lock:
                self._latest_prediction = prediction
                self._version += 1
                self._lock.notify_all()  # the window shows a new result at once, not at the next frame
            if self.events is not None:
                self.events.update(prediction)  # first: a prediction's outputs know its event
            self.output.on_prediction(prediction)
            if self.max_predictions and self.predictions >= self.max_predictions:
                self.limit_reached = True
                self.request_stop()
                break
        self._finish()
