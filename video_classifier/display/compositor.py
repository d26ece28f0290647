"""The overlaid picture as JPEG, for the browser live view and the event recorder.

    capture thread --on_frame--> Compositor thread: overlay + JPEG encode --> output.on_picture
                                                                          \\--> latest JPEG

It draws and encodes each frame once, in its own thread, so neither the camera nor the model
waits for it. On a live camera a frame the compositor has no time for is replaced by the next
one; on a video file processed as fast as possible, every frame (up to ``max_fps``) is drawn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import cv2

from utils.priority import lower_this_thread
from utils.rates import RateMeter
from video_classifier.data import Frame, Picture
from video_classifier.display.overlay import draw_overlay, pipeline_note, pipeline_status
from video_classifier.handoff import Closed, Handoff
from video_classifier.outputs import Output
from video_classifier.pacer import Pacer
from video_classifier.pipeline import Pipeline

JPEG_QUALITY = 80


class Compositor(Output):
    """Draws the overlay on the pipeline's frames, at most ``max_fps`` of them per second of
    capture time, and hands each picture to ``output`` and to :meth:`wait_picture`."""

    def __init__(
        self,
        pipeline: Pipeline,
        model_name: str,
        output: Output | None = None,
        max_fps: float = 15.0,
        note: Callable[[], str] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.note = note  # an extra line to draw, such as the teaching countdown
        self.model_name = model_name
        self.output = output or Output()
        self._pacer = Pacer(max_fps)  # by capture time, like the model's frames
        self.rate = RateMeter(clock=pipeline.clock)  # pictures a second, of video time in a file read fast
        self._handoff: Handoff[Frame] = Handoff(lossless=not (pipeline.source.live or pipeline.realtime))
        self._picture: Picture | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="compositor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def on_frame(self, frame: Frame) -> None:
        """Called by the capture thread with every frame."""
        if not self._pacer.take(frame.timestamp):
            return
        while not self._handoff.put(frame, timeout=0.2):
            if not self._thread.is_alive():
                return

    def wait_picture(self, seen: Picture | None, timeout: float) -> Picture | None:
        """The newest picture once it differs from ``seen`` (or ``seen`` after ``timeout``)."""
        with self._cond:
            self._cond.wait_for(lambda: self._picture is not seen, timeout)
            return self._picture

    def _run(self) -> None:
        lower_this_thread()
        try:
            self._draw_loop()
        except BaseException as exc:  # a frozen live view or a silent recorder must not pass unnoticed
            self.pipeline.fail(exc)

    def _draw_loop(self) -> None:
        while True:
            try:
                frame = self._handoff.get(timeout=0.5)
            except Closed:
                return
            if frame is None:
                continue
            picture = self.render(frame)
            with self._cond:
                self._picture = picture
                self._cond.notify_all()
            self.output.on_picture(picture)

    def render(self, frame: Frame) -> Picture:
        """Overlay the latest prediction on ``frame`` and encode it."""
        self.rate.tick(self.pipeline.time_of(frame))
        _, prediction = self.pipeline.latest()
        note = pipeline_note(self.pipeline, self.note)
        status = pipeline_status(self.pipeline, prediction, self.rate.rate(), self.model_name, note)
        image = draw_overlay(frame.image.copy(), status)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        return Picture(jpeg.tobytes(), frame.timestamp, (image.shape[1], image.shape[0]))

    def close(self) -> None:
        """Draw what is handed over, then stop (called after the pipeline stopped; again is a no-op)."""
        self._handoff.close()
        if self._thread.is_alive():
            self._thread.join(5.0)


def attach(app) -> Compositor:
    """The overlaid pictures for the live view and the clips, made once for both."""
    return Compositor(app.pipeline, app.name, output=app.outputs, note=app.note)
