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
    return OverlayStatus(
        top=prediction.top if prediction else [],
        warming_up=prediction.warming_up_line() if prediction and prediction.warming_up else "",
        display_fps=display_fps,
        model_fps=pipeline.model_rate.rate(),
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


def draw_overlay(frame: np.ndarray, status: OverlayStatus) -> np.ndarray:
    """Draw ``status`` onto ``frame`` (BGR, modified in place and returned).

    Sizes follow the frame height, so text is as legible on 640x480 as on 1920x1080, and never
    smaller than ``MIN_FONT`` on small frames; a label too long for its panel ends in "...".
    """
    h, w = frame.shape[:2]
    scale = max(h / 480.0, MIN_FONT / 0.6)
    font = 0.6 * scale
    thick = max(1, round(1.4 * scale))
    line = int(30 * scale)
    pad = int(10 * scale)
    bar_h = max(3, int(6 * scale))

    if status.region:  # first: the text panels stay readable over it
        x0, y0, x1, y1 = status.region
        corner0, corner1 = (round(x0 * w), round(y0 * h)), (round(x1 * w) - 1, round(y1 * h) - 1)
        cv2.rectangle(frame, corner0, corner1, BAR if status.region_auto else NOTE, thick + 1, cv2.LINE_AA)
        label = "auto" if status.region_auto else "region"
        place = (corner0[0] + pad // 2, corner1[1] - pad // 2)
        cv2.putText(frame, label, place, FONT, max(font * 0.7, MIN_FONT), BAR if status.region_auto else NOTE, thick)

    if status.top:
        panel_w = min(w, int(360 * scale))
        panel_h = pad + len(status.top) * (line + bar_h) + pad
        _shade(frame, 0, 0, panel_w, panel_h)
        y = pad
        for category in status.top:
            y += line - bar_h
            score = f"  {category.score * 100:.0f}%"
            room = panel_w - 2 * pad - cv2.getTextSize(score, FONT, font, thick)[0][0]
            text = _ellipsised(shown(category.label), room, font, thick) + score
            cv2.putText(frame, text, (pad, y), FONT, font, WHITE, thick, cv2.LINE_AA)
            y += bar_h
            bar_w = panel_w - 2 * pad
            cv2.rectangle(frame, (pad, y), (pad + bar_w, y + bar_h), BAR_TRACK, -1)
            cv2.rectangle(frame, (pad, y), (pad + int(bar_w * min(max(category.score, 0.0), 1.0)), y + bar_h), BAR, -1)
            y += bar_h
    elif status.warming_up:  # one line where the actions will be, no bars: nothing is scored yet
        panel_w = min(w, int(360 * scale))
        _shade(frame, 0, 0, panel_w, pad + line + pad)
        text = _ellipsised(status.warming_up, panel_w - 2 * pad, font, thick)
        cv2.putText(frame, text, (pad, pad + line - bar_h), FONT, font, WHITE, thick, cv2.LINE_AA)

    parts = [f"display {status.display_fps:.1f} fps", f"model {status.model_fps:.1f} fps", f"{status.inference_ms:.1f} ms"]
    if status.skipped:
        parts.append(f"skipped {status.skipped}")
    if status.model_name:
        parts.append(status.model_name)
    small = max(font * 0.8, MIN_FONT)
    lines = _wrapped(parts, w - 2 * pad, small, thick)  # on narrow frames: two lines, not smaller text
    (_, text_h), base = cv2.getTextSize("Ag", FONT, small, thick)
    step = text_h + base + pad // 2
    _shade(frame, 0, h - len(lines) * step - pad, w, h)
    for i, text in enumerate(reversed(lines)):
        cv2.putText(frame, text, (pad, h - pad - base - i * step), FONT, small, WHITE, thick, cv2.LINE_AA)

    if status.note:
        (text_w, text_h), base = cv2.getTextSize(status.note, FONT, font * 1.3, thick + 1)
        x, y = max(0, (w - text_w) // 2), h // 2
        _shade(frame, x - pad, y - text_h - pad, x + text_w + pad, y + base + pad)
        cv2.putText(frame, status.note, (x, y), FONT, font * 1.3, NOTE, thick + 1, cv2.LINE_AA)
    return frame


@functools.lru_cache(maxsize=256)
def _ellipsised(text: str, width: int, font: float, thick: int) -> str:
    """``text`` cut to end in "..." when it is wider than ``width`` pixels (cached: labels repeat)."""
    if cv2.getTextSize(text, FONT, font, thick)[0][0] <= width:
        return text
    while text and cv2.getTextSize(text.rstrip() + "...", FONT, font, thick)[0][0] > width:
        text = text[:-1]
    return text.rstrip() + "..."


def _wrapped(parts: list[str], width: int, font: float, thick: int) -> list[str]:
    """``parts`` joined by " | " into as few lines of at most ``width`` pixels as they fit in."""
    lines: list[str] = []
    for part in parts:
        joined = f"{lines[-1]}  |  {part}" if lines else part
        if lines and cv2.getTextSize(joined, FONT, font, thick)[0][0] <= width:
            lines[-1] = joined
        else:
            lines.append(part)
    return lines
