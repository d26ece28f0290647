"""The picture on the HDMI monitor: every camera frame with the latest actions drawn on it, in an
OpenCV window on the desktop or straight on the console framebuffer without one.

The viewer runs in the main thread and never waits for the model: it redraws the newest frame
with whatever prediction is newest, so the picture stays smooth however slow the model is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from utils.rates import RateMeter
from video_classifier.controls import Controls
from video_classifier.display import screen_size
from video_classifier.framebuffer import Framebuffer
from video_classifier.overlay import draw_overlay, pipeline_note, pipeline_status
from video_classifier.pipeline import Pipeline
from video_classifier.terminal import ConsoleCursor, TerminalKeys

TITLE = "MoViNet action recognition"
# Share of the screen a window may take: room is left for the title bar and a task bar.
SCREEN_SHARE = 0.9


class Screen(Protocol):
    """Where the viewer draws, and where its keys come from."""

    keys_help: str
    max_size: tuple[int, int] | None  # (width, height) a picture is scaled down to fit, or None

    def show(self, image: np.ndarray) -> None: ...

    def key(self) -> int:
        """The key pressed since the last call, or -1."""
        ...

    def closed(self) -> bool: ...

    def toggle_fullscreen(self) -> None: ...

    def close(self) -> None: ...


class CvWindow:
    """An OpenCV window on an X display (opened at the first picture, at its size)."""

    keys_help = "keys: q/Esc quit, r reset, f fullscreen, space pause"

    def __init__(self, title: str = TITLE, fullscreen: bool = False) -> None:
        self.title = title
        self.fullscreen = fullscreen
        screen = screen_size()
        self.max_size = screen and (int(screen[0] * SCREEN_SHARE), int(screen[1] * SCREEN_SHARE))
        # GUI_NORMAL: no Qt toolbar or status bar, just the picture; KEEPRATIO when resized.
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        self._apply_fullscreen()
        self._sized = False

    def show(self, image: np.ndarray) -> None:
        if not self._sized:  # start at the picture's size, 1:1 pixels
            cv2.resizeWindow(self.title, image.shape[1], image.shape[0])
            self._sized = True
        cv2.imshow(self.title, image)

    def key(self) -> int:
        key = cv2.waitKey(1)
        return -1 if key < 0 else key & 0xFF

    def closed(self) -> bool:
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1  # the window manager's close button

    def toggle_fullscreen(self) -> None:
        self.fullscreen = not self.fullscreen
        self._apply_fullscreen()

    def _apply_fullscreen(self) -> None:
        mode = cv2.WINDOW_FULLSCREEN if self.fullscreen else cv2.WINDOW_NORMAL
        cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, mode)

    def close(self) -> None:
        cv2.destroyAllWindows()
        cv2.waitKey(1)


class ConsoleScreen:
    """The console framebuffer, with keys from the terminal the app runs in and the console's
    cursor hidden meanwhile (restored by :meth:`close`, which the viewer always calls)."""

    def __init__(self, device: str | Path) -> None:
        self.framebuffer = Framebuffer(device)
        self.keys = TerminalKeys()
        self.cursor = ConsoleCursor()
        self.max_size = None  # the framebuffer fits the picture to the screen itself
        in_terminal = "keys in this terminal: q quit, r reset, space pause" if self.keys.active else "Ctrl-C quits"
        self.keys_help = f"on the console framebuffer {self.framebuffer.device}; {in_terminal}"

    def show(self, image: np.ndarray) -> None:
        self.framebuffer.show(image)

    def key(self) -> int:
        return self.keys.key()

    def closed(self) -> bool:
        return False

    def toggle_fullscreen(self) -> None:
        pass  # always the whole screen

    def close(self) -> None:
        try:
            self.framebuffer.clear()  # no stale picture under the console's text
            self.framebuffer.close()
        finally:
            self.keys.close()
            self.cursor.restore()


class Viewer:
    """Shows a running :class:`Pipeline` on ``screen`` until the stream ends or the user quits."""

    def __init__(
        self,
        pipeline: Pipeline,
        model_name: str,
        screen: Screen,
        note: Callable[[], str] | None = None,
        controls: Controls | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.controls = controls or Controls(pipeline)  # what the keys ask for
        self.model_name = model_name
        self.screen = screen
        self.note = note  # an extra line to draw, such as the teaching countdown
        self.display_rate = RateMeter()
        self.frames_shown = 0  # distinct camera frames put on screen

    def run(self) -> None:
        print(self.screen.keys_help, file=sys.stderr)
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
                    self._show(frame, prediction, note)
                    shown = (frame, prediction, note)
                if not self._handle_key(self.screen.key()):
                    return
                if self.screen.closed():
                    return
        finally:
            self.screen.close()

    def _show(self, frame, prediction, note: str) -> None:
        status = pipeline_status(self.pipeline, prediction, self.display_rate.rate(), self.model_name, note)
        self.screen.show(draw_overlay(fit_within(frame.image, self.screen.max_size), status))

    def _handle_key(self, key: int) -> bool:
        """Act on a key press; False means quit."""
        if key in (ord("q"), 27):
            return False
        if key == ord("r"):
            self.controls.reset()
        elif key == ord("f"):
            self.screen.toggle_fullscreen()
        elif key == ord(" "):
            self.controls.toggle_pause()
        return True


def fit_within(image: np.ndarray, box: tuple[int, int] | None) -> np.ndarray:
    """A copy of ``image`` to draw on, scaled down (same aspect) when it is larger than ``box``."""
    h, w = image.shape[:2]
    scale = min(box[0] / w, box[1] / h) if box else 1.0
    if scale >= 1.0:
        return image.copy()
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
