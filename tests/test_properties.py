"""Property tests: the label parser, the flags and the preprocessing take whatever comes."""

import numpy as np
import pytest
from conftest import to_model_input
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from video_classifier.errors import FlagError, LabelsError
from video_classifier.model.preprocess import resize_rgb
from video_classifier.options import parse_settings

label_text = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30).map(str.strip).filter(bool)
)


@given(st.lists(label_text, min_size=1, max_size=50), st.sampled_from(["\n", "\r\n"]), st.booleans(), st.booleans())
def test_labels_survive_any_line_ending_bom_and_final_newline(labels, newline, bom, final_newline):
    text = newline.join(labels) + (newline if final_newline else "")
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    from video_classifier.model.labels import parse_labels

    assert parse_labels(data, "x") == labels


@given(st.binary(max_size=300))
def test_any_bytes_either_parse_or_raise_a_labels_error(data):
    from video_classifier.model.labels import parse_labels

    try:
        labels = parse_labels(data, "x")
    except LabelsError:
        return
    assert labels and all(label == label.strip() and label for label in labels)


flag_values = st.one_of(st.integers(-5, 1000).map(str), st.floats(allow_nan=True).map(str), st.text(max_size=8))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        [
            "--fps",
            "--top-k",
            "--num-threads",
            "--width",
            "--height",
            "--window",
            "--threshold",
            "--hold",
            "--smooth",
            "--camera-timeout",
            "--max-frames",
        ]
    ),
    flag_values,
)
def test_numeric_flags_are_valid_or_exit_2_with_one_line(flag, value):
    try:
        args = parse_settings([flag, value])
    except FlagError as exc:  # the CLI's one error line (and exit status 2)
        assert "\n" not in str(exc) and flag in str(exc)
        return
    parsed = getattr(args, flag[2:].replace("-", "_"))
    assert parsed == parsed and parsed >= 0  # not NaN, not negative


frames = st.one_of(
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=64)),
    hnp.arrays(
        st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int32, np.bool_]),
        st.tuples(st.integers(1, 64), st.integers(1, 64), st.sampled_from([1, 3, 4])),
    ),
)


@settings(max_examples=150, deadline=None)
@given(frames, st.sampled_from([(172, 172), (224, 224)]), st.sampled_from(["center", "none"]))
def test_any_frame_layout_becomes_a_valid_model_input(frame, size, crop):
    out = to_model_input(frame, size, crop)
    assert out.shape == (1, 1, size[1], size[0], 3) and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and out.min() >= 0.0 and out.max() <= 1.0


def test_huge_frames_are_fine():
    out = to_model_input(np.full((2160, 3840, 3), 255, np.uint8), (172, 172))
    assert np.allclose(out, 1.0)


def test_grey_and_bgra_match_their_bgr_equivalent():
    grey = np.random.default_rng(0).integers(0, 256, (120, 160), np.uint8)
    bgr = np.repeat(grey[:, :, None], 3, axis=2)
    bgra = np.dstack([bgr, np.full_like(grey, 7)])
    np.testing.assert_array_equal(resize_rgb(grey, (172, 172)), resize_rgb(bgr, (172, 172)))
    np.testing.assert_array_equal(resize_rgb(bgra, (172, 172)), resize_rgb(bgr, (172, 172)))


def test_colour_order_is_rgb():
    bgr = np.zeros((50, 50, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in OpenCV's order
    rgb = resize_rgb(bgr, (10, 10))
    assert rgb[0, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize("shape", [(0, 10, 3), (10, 10, 2), (10, 10, 5), (4, 4, 4, 3)])
def test_impossible_frames_are_refused(shape):
    with pytest.raises(ValueError):
        resize_rgb(np.zeros(shape, np.uint8), (172, 172))
