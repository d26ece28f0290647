"""The overlay is legible at any frame size: it scales with the frame and darkens behind text."""

import numpy as np
import pytest

from video_classifier.data import Category
from video_classifier.display.overlay import BAR, OverlayStatus, draw_overlay

STATUS = OverlayStatus(
    top=[Category("carving ice", 0.9), Category("sawing wood", 0.05)],
    display_fps=30,
    model_fps=5,
    inference_ms=4.2,
    skipped=3,
    model_name="movinet_a0_stream_int8",
)


def bar_rows(image):
    green = np.all(np.abs(image.astype(int) - BAR) < 10, axis=2)
    return np.flatnonzero(green.any(axis=1)), green.sum(axis=1).max()


@pytest.mark.parametrize("height, width", [(480, 640), (1080, 1920)])
def test_probability_bar_length_follows_the_score(height, width):
    image = draw_overlay(np.full((height, width, 3), 128, np.uint8), STATUS)
    rows, longest = bar_rows(image)
    scale = height / 480
    track = int(360 * scale) - 2 * int(10 * scale)
    assert longest == pytest.approx(0.9 * track, abs=2)


def test_text_scales_with_the_frame():
    small = draw_overlay(np.full((480, 640, 3), 128, np.uint8), STATUS)
    large = draw_overlay(np.full((1080, 1920, 3), 128, np.uint8), STATUS)
    bar_small, bar_large = bar_rows(small)[0], bar_rows(large)[0]
    assert len(bar_large) == pytest.approx(len(bar_small) * 1080 / 480, rel=0.25)


def test_panel_is_translucent_so_white_scenes_stay_readable():
    image = draw_overlay(np.full((480, 640, 3), 255, np.uint8), STATUS)
    panel, outside = image[5:60, 200:340], image[200:300, 400:600]
    assert panel.mean() < 160 and outside.min() == 255  # darkened behind text, untouched elsewhere
    assert 60 < image[5:60, 300:340].mean() < 255  # translucent: not a black box


def test_a_note_is_drawn_in_the_middle():
    image = draw_overlay(np.zeros((480, 640, 3), np.uint8), OverlayStatus(note="camera lost, retrying"))
    middle = image[200:260, 100:540]
    assert np.any(np.all(np.abs(middle.astype(int) - (0, 200, 255)) < 40, axis=2))


def white_rows(image):
    """Rows with text on a black picture (anti-aliased edges included)."""
    return np.flatnonzero(np.all(image > 100, axis=2).any(axis=1))


def bands(rows):
    """Runs of consecutive row numbers: one per line of text."""
    return [run for run in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1) if len(run)]


def test_text_on_a_small_picture_stays_readable():
    image = draw_overlay(np.zeros((256, 340, 3), np.uint8), STATUS)
    label = bands(white_rows(image[:40]))[0]  # "carving ice  90%": capitals and the % sign
    assert len(label) >= 13  # 10 rows before the minimum size
    footer = bands(white_rows(image[-80:]))
    assert len(footer) >= 2 and all(len(band) >= 11 for band in footer)  # more lines rather than tiny text (was 9 rows)


def test_a_long_label_ends_in_an_ellipsis_inside_its_panel():
    status = OverlayStatus(top=[Category("throwing ball (not baseball or American football)", 0.6)])
    image = draw_overlay(np.zeros((480, 640, 3), np.uint8), status)
    white = np.all(image[:40] > 235, axis=2)
    columns = np.flatnonzero(white.any(axis=0))
    assert columns.max() < 360 - 10  # inside the panel and its margin
    assert columns.max() > 300  # cut to fit, not dropped: the score is at the panel's edge
