"""The OpenCV window: every camera frame with the latest actions drawn on it.

Runs in the main thread and never waits for the model: it redraws the newest frame with
whatever prediction is newest, so the picture stays smooth however slow the model is.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable

import cv2

from utils.rates import RateMeter
from video_classifier.overlay import draw_overlay, pipeline_note, pipeline_status
from video_classifier.pipeline import Pipeline

KEYS_HELP = "keys: q/Esc quit, r reset, f fullscreen, space pause"


class Viewer:
    """Shows a running :class:`Pipeline` until the stream ends or the user quits."""

    def __init__(
        self,
        pipeline: Pipeline,
        model_name: str,
        title: str = "MoViNet action recognition",
        fullscreen: bool = False,
        note: Callable[[], str] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.note = note  # an extra line to draw, such as the teaching countdown
        self.model_name = model_name
        self.title = title
        self.fullscreen = fullscreen
        self.display_rate = RateMeter()
        self.frames_shown = 0  # distinct camera frames put on screen
        # Seconds from a frame leaving the camera to its prediction being on screen.
        self.latencies: deque[float] = deque(maxlen=10_000)

    def run(self) -> None:
        # GUI_NORMAL: no Qt toolbar or status bar, just the picture; KEEPRATIO when resized.
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        self._apply_fullscreen()
        print(KEYS_HELP, file=sys.stderr)
        version = 0
        shown = (None, None, "")
        try:
            while not self.pipeline.finished:
                version = self.pipeline.wait_for_update(version, timeout=0.05)
                frame, prediction = self.pipeline.latest()
                note = pipeline_note(self.pipeline, self.note)
                if frame is not None and (frame is not shown[0] or prediction is not shown[1] or note != shown[2]):
                    if frame is not shown[0]:
                        self.display_rate.tick()
                        self.frames_shown += 1
                        if shown[0] is None:  # start at the camera's own size, 1:1 pixels
                            cv2.resizeWindow(self.title, frame.image.shape[1], frame.image.shape[0])
                    if prediction is not None and prediction is not shown[1]:
                        self.latencies.append(time.monotonic() - prediction.received_at)
                    self._show(frame, prediction, note)
                    shown = (frame, prediction, note)
                if not self._handle_key(cv2.waitKey(1) & 0xFF):
                    return
                if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                    return  # closed with the window manager's button
        finally:
            cv2.destroyAllWindows()
            cv2.waitKey(1)

    def _show(self, frame, prediction, note: str) -> None:
        status = pipeline_status(self.pipeline, prediction, self.display_rate.rate(), self.model_name, note)
        cv2.imshow(self.title, draw_overlay(frame.image.copy(), status))

    def _handle_key(self, key: int) -> bool:
        """Act on a key press; False means quit."""
        if key in (ord("q"), 27):
            return False
        if key == ord("r"):
            self.pipeline.request_reset()
        elif key == ord("f"):
            self.fullscreen = not self.fullscreen
            self._apply_fullscreen()
        elif key == ord(" "):
            self.pipeline.set_paused(not self.pipeline.paused)
        return True

    def _apply_fullscreen(self) -> None:
        mode = cv2.WINDOW_FULLSCREEN if self.fullscreen else cv2.WINDOW_NORMAL
        cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, mode)
