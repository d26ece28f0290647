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


def test_actions_that_do_not_fit_above_the_status_line_are_left_out_on_a_small_picture():
    """--top-k 10 on a 320x240 picture: the best ones that fit are shown, and the status line
    stays as it is with 3 (the last rows were drawn over it, and off the picture)."""
    many = OverlayStatus(**{**vars(STATUS), "top": [Category(f"action {i}", 0.5 / (i + 1)) for i in range(10)]})
    few = OverlayStatus(**{**vars(STATUS), "top": many.top[:3]})
    crowded, plain = (draw_overlay(np.zeros((240, 320, 3), np.uint8), status) for status in (many, few))
    footer = bands(white_rows(plain))[-1][0] - 4  # above the status line's first text row
    np.testing.assert_array_equal(crowded[footer:], plain[footer:])
    shown = bar_rows(crowded)[0]
    assert len(bands(shown)) >= 3  # as many as fit, the best first


def test_a_status_part_too_wide_for_a_line_ends_in_an_ellipsis():
    status = OverlayStatus(**{**vars(STATUS), "model_name": "movinet_a0_stream_int8_fine_tuned_on_my_own_clips"})
    image = draw_overlay(np.zeros((172, 172, 3), np.uint8), status)
    columns = np.flatnonzero(np.all(image[-30:] > 100, axis=2).any(axis=0))
    assert columns.max() < 172 - 3  # inside the picture, with its margin


def test_a_paused_pipeline_shows_no_rates():
    """Paused, the window kept the rates of its last picture ("display 30.0 fps | model 5.0 fps")
    while nothing moved."""
    from types import SimpleNamespace

    from video_classifier.display.overlay import pipeline_status

    def pipeline(paused):
        return SimpleNamespace(paused=paused, skipped=0, model_rate=SimpleNamespace(rate=lambda: 5.0))

    moving, still = (pipeline_status(pipeline(p), None, 30.0, "a0", "") for p in (False, True))
    assert (moving.display_fps, moving.model_fps) == (30.0, 5.0)
    assert (still.display_fps, still.model_fps) == (0.0, 0.0)
