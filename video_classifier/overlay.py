"""Draw the current actions and the app's vital signs on a frame (the window and the browser
picture draw the same)."""

from __future__ import annotations

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


@dataclass
class OverlayStatus:
    """Everything the overlay shows besides the picture itself."""

    top: list[Category] = field(default_factory=list)
    display_fps: float = 0.0
    model_fps: float = 0.0
    inference_ms: float = 0.0
    skipped: int = 0
    model_name: str = ""
    note: str = ""  # e.g. "paused"; drawn prominently


def pipeline_status(
    pipeline: Pipeline, prediction: Prediction | None, display_fps: float, model_name: str, note: str
) -> OverlayStatus:
    """What the overlay shows of ``prediction`` and of the pipeline's vital signs."""
    return OverlayStatus(
        top=prediction.top if prediction else [],
        display_fps=display_fps,
        model_fps=pipeline.model_rate.rate(),
        inference_ms=prediction.inference_ms if prediction else 0.0,
        skipped=pipeline.skipped,
        model_name=model_name,
        note=note,
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

    Sizes follow the frame height, so text is as legible on 640x480 as on 1920x1080.
    """
    h, w = frame.shape[:2]
    scale = max(h, 240) / 480.0
    font = 0.6 * scale
    thick = max(1, round(1.4 * scale))
    line = int(30 * scale)
    pad = int(10 * scale)
    bar_h = max(3, int(6 * scale))

    if status.top:
        panel_w = min(w, int(360 * scale))
        panel_h = pad + len(status.top) * (line + bar_h) + pad
        _shade(frame, 0, 0, panel_w, panel_h)
        y = pad
        for category in status.top:
            y += line - bar_h
            text = f"{shown(category.label)}  {category.score * 100:.0f}%"
            cv2.putText(frame, text, (pad, y), FONT, font, WHITE, thick, cv2.LINE_AA)
            y += bar_h
            bar_w = panel_w - 2 * pad
            cv2.rectangle(frame, (pad, y), (pad + bar_w, y + bar_h), BAR_TRACK, -1)
            cv2.rectangle(frame, (pad, y), (pad + int(bar_w * min(max(category.score, 0.0), 1.0)), y + bar_h), BAR, -1)
            y += bar_h

    parts = [f"display {status.display_fps:.1f} fps", f"model {status.model_fps:.1f} fps", f"{status.inference_ms:.1f} ms"]
    if status.skipped:
        parts.append(f"skipped {status.skipped}")
    if status.model_name:
        parts.append(status.model_name)
    footer = "  |  ".join(parts)
    small = font * 0.8
    (text_w, text_h), base = cv2.getTextSize(footer, FONT, small, thick)
    if text_w > w - 2 * pad:  # shrink to fit narrow frames rather than cut the end off
        small *= (w - 2 * pad) / text_w
        (text_w, text_h), base = cv2.getTextSize(footer, FONT, small, thick)
    _shade(frame, 0, h - text_h - base - 2 * pad, w, h)
    cv2.putText(frame, footer, (pad, h - pad - base), FONT, small, WHITE, thick, cv2.LINE_AA)

    if status.note:
        (text_w, text_h), base = cv2.getTextSize(status.note, FONT, font * 1.3, thick + 1)
        x, y = (w - text_w) // 2, h // 2
        _shade(frame, x - pad, y - text_h - pad, x + text_w + pad, y + base + pad)
        cv2.putText(frame, status.note, (x, y), FONT, font * 1.3, NOTE, thick + 1, cv2.LINE_AA)
    return frame
