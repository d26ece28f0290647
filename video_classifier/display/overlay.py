"""Draw the current actions and the app's vital signs on a frame (the window and the browser
picture draw the same)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from video_classifier.data import Category, Prediction, shown

if TYPE_CHECKING:
    from video_classifier.pipeline import Pipeline

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (255, 255, 255)
BAR = (80, 200, 120)  # BGR green
BAR_TRACK = (70, 70, 70)
NOTE = (0, 200, 255)  # BGR amber
# Smallest text scale drawn: capitals about 10 px high, readable on a 340x256 picture.
MIN_FONT = 0.45


@dataclass
class OverlayStatus:
    """Everything the overlay shows besides the picture itself."""

    top: list[Category] = field(default_factory=list)
    warming_up: str = ""  # instead of the top actions while the taught actions warm up
    display_fps: float = 0.0
    model_fps: float = 0.0
    inference_ms: float = 0.0
    skipped: int = 0
    model_name: str = ""
    note: str = ""  # e.g. "paused"; drawn prominently
    region: tuple[float, float, float, float] | None = None  # what the model sees: x0, y0, x1, y1 as fractions
    region_auto: bool = False  # found by --region auto (drawn in another colour)


def pipeline_status(
    pipeline: Pipeline, prediction: Prediction | None, display_fps: float, model_name: str, note: str
) -> OverlayStatus:
    """What the overlay shows of ``prediction`` and of the pipeline's vital signs."""
    framing = getattr(pipeline, "framing", None)  # a stand-in pipeline may have none
    region = framing.shown() if framing else None
    paused = getattr(pipeline, "paused", False)  # nothing moves: the picture kept its last rates
    return OverlayStatus(
        top=prediction.top if prediction else [],
        warming_up=prediction.warming_up_line() if prediction and prediction.warming_up else "",
        display_fps=0.0 if paused else display_fps,
        model_fps=0.0 if paused else pipeline.model_rate.rate(),
        inference_ms=prediction.inference_ms if prediction else 0.0,
        skipped=pipeline.skipped,
        model_name=model_name,
        note=note,
        region=region[0] if region else None,
        region_auto=bool(region and region[1]),
    )


def pipeline_note(pipeline: Pipeline, extra: Callable[[], str] | None = None) -> str:
    """The one line drawn prominently: paused, then ``extra`` (teaching), then the camera's state."""
    if pipeline.paused:
        return "paused"
    return (extra() if extra is not None else "") or pipeline.source.status


def _shade(frame: np.ndarray, x0: int, y0: int, x1: int, y1: int, alpha: float = 0.55) -> None:
    """Darken a rectangle in place so that white text stays readable on any scene."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 > x0 and y1 > y0:
        region = frame[y0:y1, x0:x1]
        np.multiply(region, 1.0 - alpha, out=region, casting="unsafe")


@dataclass(frozen=True)
class _Sizes:
    """Text and panel sizes for a frame ``h`` pixels high (never smaller than ``MIN_FONT``)."""

    scale: float
    font: float
    thick: int
    line: int
    pad: int
    bar_h: int

    @classmethod
    def for_height(cls, h: int) -> _Sizes:
        scale = max(h / 480.0, MIN_FONT / 0.6)
        return cls(scale, 0.6 * scale, max(1, round(1.4 * scale)), int(30 * scale), int(10 * scale), max(3, int(6 * scale)))


def draw_overlay(frame: np.ndarray, status: OverlayStatus) -> np.ndarray:
    """Draw ``status`` onto ``frame`` (BGR, modified in place and returned).

    Sizes follow the frame height, so text is as legible on 640x480 as on 1920x1080, and never
    smaller than ``MIN_FONT`` on small frames; a label too long for its panel ends in "...".
    """
    sizes = _Sizes.for_height(frame.shape[0])
    if status.region:  # first: the text panels stay readable over it
        _draw_region(frame, status.region, status.region_auto, sizes)
    status_top = _draw_status_line(frame, status, sizes)
    if status.top:
        _draw_top(frame, status.top, sizes, status_top)
    elif status.warming_up:  # one line where the actions will be, no bars: nothing is scored yet
        _draw_warming_up(frame, status.warming_up, sizes)
    if status.note:
        _draw_note(frame, status.note, sizes)
    return frame


def _draw_region(frame: np.ndarray, region: tuple[float, float, float, float], auto: bool, s: _Sizes) -> None:
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = region
    corner0, corner1 = (round(x0 * w), round(y0 * h)), (round(x1 * w) - 1, round(y1 * h) - 1)
    colour = BAR if auto else NOTE
    cv2.rectangle(frame, corner0, corner1, colour, s.thick + 1, cv2.LINE_AA)
    place = (corner0[0] + s.pad // 2, corner1[1] - s.pad // 2)
    cv2.putText(frame, "auto" if auto else "region", place, FONT, max(s.font * 0.7, MIN_FONT), colour, s.thick)


def _draw_top(frame: np.ndarray, top, s: _Sizes, bottom: int) -> None:
    """The top-k actions, each a line of text over a bar of its score: the best ones, as many as
    fit above ``bottom`` (the status line's top) on a small picture."""
    room = max(1, (bottom - 2 * s.pad) // (s.line + s.bar_h))
    top = top[:room]
    panel_w = min(frame.shape[1], int(360 * s.scale))
    _shade(frame, 0, 0, panel_w, s.pad + len(top) * (s.line + s.bar_h) + s.pad)
    y = s.pad
    for category in top:
        y += s.line - s.bar_h
        score = f"  {category.score * 100:.0f}%"
        room = panel_w - 2 * s.pad - cv2.getTextSize(score, FONT, s.font, s.thick)[0][0]
        text = _ellipsised(shown(category.label), room, s.font, s.thick) + score
        cv2.putText(frame, text, (s.pad, y), FONT, s.font, WHITE, s.thick, cv2.LINE_AA)
        y += s.bar_h
        bar_w = panel_w - 2 * s.pad
        cv2.rectangle(frame, (s.pad, y), (s.pad + bar_w, y + s.bar_h), BAR_TRACK, -1)
        filled = int(bar_w * min(max(category.score, 0.0), 1.0))
        cv2.rectangle(frame, (s.pad, y), (s.pad + filled, y + s.bar_h), BAR, -1)
        y += s.bar_h


def _draw_warming_up(frame: np.ndarray, text: str, s: _Sizes) -> None:
    panel_w = min(frame.shape[1], int(360 * s.scale))
    _shade(frame, 0, 0, panel_w, s.pad + s.line + s.pad)
    text = _ellipsised(text, panel_w - 2 * s.pad, s.font, s.thick)
    cv2.putText(frame, text, (s.pad, s.pad + s.line - s.bar_h), FONT, s.font, WHITE, s.thick, cv2.LINE_AA)


def _draw_status_line(frame: np.ndarray, status: OverlayStatus, s: _Sizes) -> int:
    """FPS, inference time, frames skipped and the model, at the bottom; returns the row where
    its panel starts."""
    h, w = frame.shape[:2]
    parts = [f"display {status.display_fps:.1f} fps", f"model {status.model_fps:.1f} fps", f"{status.inference_ms:.1f} ms"]
    if status.skipped:
        parts.append(f"skipped {status.skipped}")
    if status.model_name:
        parts.append(status.model_name)
    small = max(s.font * 0.8, MIN_FONT)
    lines = _wrapped(parts, w - 2 * s.pad, small, s.thick)  # on narrow frames: two lines, not smaller text
    (_, text_h), base = cv2.getTextSize("Ag", FONT, small, s.thick)
    step = text_h + base + s.pad // 2
    panel_top = h - len(lines) * step - s.pad
    _shade(frame, 0, panel_top, w, h)
    for i, text in enumerate(reversed(lines)):
        cv2.putText(frame, text, (s.pad, h - s.pad - base - i * step), FONT, small, WHITE, s.thick, cv2.LINE_AA)
    return panel_top


def _draw_note(frame: np.ndarray, note: str, s: _Sizes) -> None:
    """A line in the middle, such as the teaching countdown."""
    h, w = frame.shape[:2]
    (text_w, text_h), base = cv2.getTextSize(note, FONT, s.font * 1.3, s.thick + 1)
    x, y = max(0, (w - text_w) // 2), h // 2
    _shade(frame, x - s.pad, y - text_h - s.pad, x + text_w + s.pad, y + base + s.pad)
    cv2.putText(frame, note, (x, y), FONT, s.font * 1.3, NOTE, s.thick + 1, cv2.LINE_AA)


@functools.lru_cache(maxsize=256)
def _ellipsised(text: str, width: int, font: float, thick: int) -> str:
    """``text`` cut to end in "..." when it is wider than ``width`` pixels (cached: labels repeat)."""
    if cv2.getTextSize(text, FONT, font, thick)[0][0] <= width:
        return text
    while text and cv2.getTextSize(text.rstrip() + "...", FONT, font, thick)[0][0] > width:
        text = text[:-1]
    return text.rstrip() + "..."


def _wrapped(parts: list[str], width: int, font: float, thick: int) -> list[str]:
    """``parts`` joined by " | " into as few lines of at most ``width`` pixels as they fit in (a
    part wider than a line on its own ends in "...")."""
    lines: list[str] = []
    for part in parts:
        joined = f"{lines[-1]}  |  {part}" if lines else part
        if lines and cv2.getTextSize(joined, FONT, font, thick)[0][0] <= width:
            lines[-1] = joined
        else:
            lines.append(_ellipsised(part, width, font, thick))
    return lines
