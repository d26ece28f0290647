"""The picture on the HDMI monitor: every camera frame with the latest actions drawn on it, in an
OpenCV window on the desktop or straight on the console framebuffer without one.

The viewer runs in the main thread and never waits for the model: it redraws the newest frame
with whatever prediction is newest, so the picture stays smooth however slow the model is.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from utils.rates import RateMeter
from video_classifier.controls import Command, Controls, commands
from video_classifier.display.framebuffer import Framebuffer
from video_classifier.display.overlay import draw_overlay, pipeline_note, pipeline_status
from video_classifier.display.screen import screen_size
from video_classifier.display.terminal import ConsoleCursor, TerminalKeys
from video_classifier.pipeline import Pipeline

TITLE = "MoViNet action recognition"
# Share of the screen a window may take: room is left for the title bar and a task bar.
SCREEN_SHARE = 0.9
# A smaller picture (a 426x240 clip, a camera's 352x288 substream) is shown enlarged to this height
# in a window: at its own size the overlay's text covered half of it and cut the actions' names short.
MIN_WINDOW_HEIGHT = 360
# Seconds a window manager gets to make the window full screen (or give it its size) before it
# is sized by hand (with no window manager nobody else does it), then before the check gives up.
SETTLE_S = 1.0


class Screen(Protocol):
    """Where the viewer draws, and where its keys come from."""

    keys_help: str
    max_size: tuple[int, int] | None  # (width, height) a picture is scaled down to fit, or None

    @property
    def fill(self) -> tuple[int, int] | None:
        """The (width, height) every picture is scaled and letterboxed to (full screen), or None."""
        ...

    def show(self, image: np.ndarray) -> None: ...

    def key(self) -> int:
        """The key pressed since the last call, or -1."""
        ...

    def closed(self) -> bool: ...

    def toggle_fullscreen(self) -> None: ...

    def close(self) -> None: ...


class CvWindow:
    """An OpenCV window on an X display (opened at the first picture, at its size), or the whole
    screen when full screen.

    Full screen is asked of the window manager (the EWMH state that OpenCV's Qt sets), and then
    checked: OpenCV's Qt shows a picture at its own size in the middle of a full-screen window,
    on grey, so full-screen pictures are composed at the screen's size; and with no window
    manager nobody acts on the request, so the window is then moved and sized to the screen.
    Back in a window, its size is checked the same way (on a bare X server it once stayed the
    screen's, 1 in about 40 returns; cause not found).
    """

    @property
    def keys_help(self) -> str:
        return f"keys: q/Esc quit, {commands_keys_help()}, f fullscreen"

    def __init__(self, title: str = TITLE, fullscreen: bool = False) -> None:
        self.title = title
        self.fullscreen = fullscreen
        self.screen = screen_size()
        self.max_size = self.screen and (int(self.screen[0] * SCREEN_SHARE), int(self.screen[1] * SCREEN_SHARE))
        # GUI_NORMAL: no Qt toolbar or status bar, just the picture; KEEPRATIO when resized.
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        self._size: tuple[int, int] | None = None  # the window's picture size, once set (not full screen)
        self._check_until = 0.0  # until when show() checks that the window took its size
        self._forced = False  # the size was set again by hand since the last change
        if fullscreen:  # asked before the window is mapped: the window manager maps it full screen
            self._ask_fullscreen()

    @property
    def fill(self) -> tuple[int, int] | None:
        return self.screen if self.fullscreen else None

    def show(self, image: np.ndarray) -> None:
        # Not resizeWindow when full screen: in OpenCV's Qt it also leaves full screen (showNormal).
        if not self.fullscreen and self._size is None:  # start at the picture's size, 1:1 pixels
            self._size = (image.shape[1], image.shape[0])
            cv2.resizeWindow(self.title, *self._size)
            self._start_check()
        cv2.imshow(self.title, image)
        if self._check_until:
            self._check_size()

    def key(self) -> int:
        key = cv2.waitKey(1)
        return -1 if key < 0 else key & 0xFF

    def closed(self) -> bool:
        return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1  # the window manager's close button

    def toggle_fullscreen(self) -> None:
        self.fullscreen = not self.fullscreen
        if self.fullscreen:
            self._ask_fullscreen()
        else:
            cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_NORMAL)
            self._size = None  # back to the picture's size at the next picture
            self._check_until = 0.0

    def _ask_fullscreen(self) -> None:
        cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        self._start_check()

    def _start_check(self) -> None:
        self._forced = False
        self._check_until = time.monotonic() + SETTLE_S

    def _check_size(self) -> None:
        """Once the picture has its size (full screen: the screen's), stop checking; if it has not
        in time, set the size by hand and check again, once."""
        x, y, w, h = cv2.getWindowImageRect(self.title)
        full = self.screen is None or (x, y, w, h) == (0, 0, *self.screen)
        done = full if self.fullscreen else (w, h) == self._size
        if done or (time.monotonic() > self._check_until and self._forced):
            self._check_until = 0.0  # done, or as good as it gets (a window manager that refuses)
        elif time.monotonic() > self._check_until:
            if self.fullscreen:
                cv2.resizeWindow(self.title, *self.screen)  # leaves Qt's full-screen state: asked again below
                cv2.moveWindow(self.title, 0, 0)
                self._ask_fullscreen()
            else:
                cv2.resizeWindow(self.title, *self._size)
                self._start_check()
            self._forced = True

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
        self.fill = None  # nor is it ever a window
        in_terminal = f"keys in this terminal: q quit, {commands_keys_help()}" if self.keys.active else "Ctrl-C quits"
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
        self._redraw = False  # the screen changed size: draw the current picture again

    def run(self) -> None:
        print(self.screen.keys_help, file=sys.stderr)
        version = 0
        shown = (None, None, "")
        try:
            while not self.pipeline.finished:
                version = self.pipeline.wait_for_update(version, timeout=0.05)
                frame, prediction = self.pipeline.latest()
                note = pipeline_note(self.pipeline, self.note)
                changed = frame is not shown[0] or prediction is not shown[1] or note != shown[2]
                if frame is not None and (changed or self._redraw):
                    if frame is not shown[0]:
                        self.display_rate.tick()
                        self.frames_shown += 1
                    self._show(frame, prediction, note)
                    shown = (frame, prediction, note)
                    self._redraw = False
                if not self._handle_key(self.screen.key()):
                    return
                if self.screen.closed():
                    return
        finally:
            self.screen.close()

    def _show(self, frame, prediction, note: str) -> None:
        status = pipeline_status(self.pipeline, prediction, self.display_rate.rate(), self.model_name, note)
        fill = self.screen.fill
        if fill is None:
            picture, rows = window_picture(frame.image, self.screen.max_size)
        else:  # the overlay is drawn at the screen's scale, on the picture rather than the black bars
            picture, rows = with_room(fit_within(frame.image, fill, enlarge=True), fill[1])
        if status.region and rows != slice(0, picture.shape[0]):  # the region is on the picture, not its bars
            status = replace(status, region=region_within(status.region, rows, picture.shape[0]))
        drawn = draw_overlay(picture, status)
        self.screen.show(drawn if fill is None else letterboxed(drawn, fill))

    def _handle_key(self, key: int) -> bool:
        """Act on a key press: the window's own (quit, full screen) or a command's; False means quit."""
        if key in (ord("q"), 27):
            return False
        if key == ord("f"):
            self.screen.toggle_fullscreen()
            self._redraw = True  # also when paused
        elif (command := commands_keys().get(key)) is not None:
            self.controls.run(command)
        return True


def commands_keys() -> dict[int, Command]:
    """The commands' keys (controls.py's table), by key code."""
    return {ord(c.key[0]): c for c in commands() if c.key}


def commands_keys_help() -> str:
    """The commands' keys as the keys' help names them: "r reset, space pause"."""
    return ", ".join(f"{'space' if c.key[0] == ' ' else c.key[0]} {c.key[1]}" for c in commands_keys().values())


def fit_within(image: np.ndarray, box: tuple[int, int] | None, enlarge: bool = False) -> np.ndarray:
    """A copy of ``image`` to draw on, scaled down (same aspect) when it is larger than ``box``,
    or, with ``enlarge``, also up to the largest size that fits."""
    h, w = image.shape[:2]
    scale = min(box[0] / w, box[1] / h) if box else 1.0
    if scale == 1.0 or (scale > 1.0 and not enlarge):
        return image.copy()
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR)


def window_picture(image: np.ndarray, max_size: tuple[int, int] | None) -> tuple[np.ndarray, slice]:
    """A copy of ``image`` to draw on in a window, and the rows the picture takes in it: scaled
    down to ``max_size``, or up to :data:`MIN_WINDOW_HEIGHT` when it is lower (within
    ``max_size``, or a 1920x1080 screen when the screen's size is not known). A picture the width
    still keeps lower (a panorama) gets black bars above and below, up to that height: the
    overlay's lines need it."""
    h, w = image.shape[:2]
    limit = max_size or (1920, 1080)
    if h >= MIN_WINDOW_HEIGHT:
        return with_room(fit_within(image, max_size), limit[1])
    height = min(MIN_WINDOW_HEIGHT, limit[1])
    return with_room(fit_within(image, (min(round(w * height / h), limit[0]), height), enlarge=True), limit[1])


def with_room(picture: np.ndarray, max_height: int) -> tuple[np.ndarray, slice]:
    """``picture`` with black bars above and below up to :data:`MIN_WINDOW_HEIGHT` (at most
    ``max_height``) when it is lower, for the overlay's lines; and the rows the picture takes."""
    height = min(MIN_WINDOW_HEIGHT, max_height)
    if picture.shape[0] >= height:
        return picture, slice(0, picture.shape[0])
    top = (height - picture.shape[0]) // 2  # as letterboxed() places it
    return letterboxed(picture, (picture.shape[1], height)), slice(top, top + picture.shape[0])


def region_within(region: tuple[float, float, float, float], rows: slice, height: int) -> tuple[float, float, float, float]:
    """``region`` (fractions of a picture) as fractions of a canvas ``height`` rows high in which
    the picture takes ``rows``."""
    x0, y0, x1, y1 = region
    span = rows.stop - rows.start
    return x0, (rows.start + y0 * span) / height, x1, (rows.start + y1 * span) / height


def letterboxed(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` in the middle of a black picture of ``size`` (width, height), which it fits in."""
    h, w = image.shape[:2]
    left, top = (size[0] - w) // 2, (size[1] - h) // 2
    black = (0, 0, 0)
    return cv2.copyMakeBorder(image, top, size[1] - h - top, left, size[0] - w - left, cv2.BORDER_CONSTANT, value=black)
