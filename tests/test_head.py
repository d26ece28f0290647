"""The classifier head cut into a model of its own: the model's own logits on real frames, for
every stream model we have; the model's own head for a model whose head cannot be cut."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, app_env, media_path, model_path, read_frames, require_module

from video_classifier.model import windows as windows_module
from video_classifier.model.head import KEPT_ENTRIES, Head, HeadMismatch, digest
from video_classifier.model.movinet import MovinetStream
from video_classifier.model.runtime import load_runtime
from video_classifier.model.windows import FloatWindows, WindowPolicy

# (model, the head it should find)
MODELS = [
    ("movinet_a0_stream_int8.tflite", "QUANTIZE -> RESHAPE -> CONV_2D -> CONV_2D -> RESHAPE -> DEQUANTIZE"),
    ("standin/movinet_a0_stream_int8_standin.tflite", "QUANTIZE -> RESHAPE -> CONV_2D -> CONV_2D -> RESHAPE -> DEQUANTIZE"),
    ("standin/movinet_a1_stream_int8_standin.tflite", "QUANTIZE -> RESHAPE -> CONV_2D -> CONV_2D -> RESHAPE -> DEQUANTIZE"),
    ("standin/movinet_a2_stream_int8_standin.tflite", "QUANTIZE -> RESHAPE -> CONV_2D -> CONV_2D -> RESHAPE -> DEQUANTIZE"),
    ("custom-cattle-a0/a0_int8.tflite", "QUANTIZE -> RESHAPE -> CONV_2D -> LOGISTIC -> MUL -> CONV_2D -> RESHAPE -> DEQUANTIZE"),
    ("custom-cattle-a0/a0_dynamic.tflite", "RESHAPE -> CONV_2D -> LOGISTIC -> MUL -> CONV_2D -> RESHAPE"),
]


@pytest.fixture(scope="module")
def pancake():
    return read_frames(media_path("flipping_a_pancake.mkv"))[:25]


@pytest.mark.parametrize("name, ops", MODELS)
def test_the_cut_head_gives_the_models_own_logits_on_real_frames(name, ops, runtime, pancake):
    """With a window the model's own pool sees one frame at a time, so its logits are the head
    of that frame's contribution alone: the cut head must give the same, bit for bit, frame after
    frame (the same ops and weights in the same runtime)."""
    model = MovinetStream(model_path(name), num_threads=1, runtime=runtime, window_frames=30)
    head = model.head
    assert head is not None and head.description == ops
    for frame_no, frame in enumerate(pancake):
        model.step(frame)
        np.testing.assert_array_equal(head.logits(model.frame_features()), model.read_logits(), err_msg=f"frame {frame_no}")


def test_the_cut_head_keeps_the_weights_int8(a0_path, runtime):
    """The cut is a model of the head's own ops: A0's 2048x480 and 600x2048 int8 weights, 2.2 MB
    (a float copy of them was 8.8 MB)."""
    from video_classifier.model.head import _cut

    content, _ = _cut(Path(a0_path).read_bytes(), "serving_default", "state_head_pool_buffer", "logits")
    assert 2_170_000 < len(content) < 2_400_000


def test_the_head_classifies_a_batch_like_one_at_a_time(a0_path):
    head = Head.cut(a0_path, "serving_default", "state_head_pool_buffer", "logits", load_runtime().interpreter_class)
    rng = np.random.default_rng(1)
    pooled = (rng.random((5, head.size)) < 0.1).astype(np.float32) * rng.integers(1, 30, (5, head.size)) * np.float32(0.587)
    batch = head.logits(pooled)
    for row, logits in zip(pooled, batch):
        np.testing.assert_array_equal(head.logits(row), logits)


def test_a_long_pool_does_not_saturate_in_float(a0_path, runtime, pancake):
    """The model's int8 pool sum stops at 149.7; the float windows' mean of the same frames is
    the plain mean of their contributions."""
    model = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    contributions = []
    for frame in pancake:
        model.step(frame)
        contributions.append(model.frame_features().copy())
    np.testing.assert_allclose(model.pooled_features(), np.mean(contributions[-25:], axis=0), rtol=1e-6)


@pytest.mark.parametrize("head", ["auto", "model"])
def test_a_cut_window_pools_its_last_frames_then_grows_back(a0_path, runtime, pancake, head):
    """What a confirmed switch of taught action asks of the model (``cut_window``), with the float
    windows and with the model's own head: the pool holds the last 10 frames, then 11."""
    model = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=25, switch_keep=None, head=head)
    assert (model.head is None) == (head == "model")
    contributions = []
    for frame in pancake[:20]:
        model.step(frame)
        contributions.append(model.frame_features().copy())
    model.cut_window(10)
    np.testing.assert_allclose(model.pooled_features(), np.mean(contributions[-10:], axis=0), rtol=1e-5, atol=1e-6)
    model.step(pancake[20])
    contributions.append(model.frame_features().copy())
    np.testing.assert_allclose(model.pooled_features(), np.mean(contributions[-11:], axis=0), rtol=1e-5, atol=1e-6)


def test_an_image_classifier_has_no_head_to_cut():
    with pytest.raises(HeadMismatch):
        path = model_path("other/image_classifier_not_movinet.tflite")
        Head.cut(path, "serving_default", "state_head_pool_buffer", "logits", load_runtime().interpreter_class)


def fallback_logits(model, frames):
    return [model.step(f).copy() for f in frames]


def test_a_model_whose_head_cannot_be_cut_keeps_todays_window(a0_path, runtime, pancake, monkeypatch):
    def uncuttable(*args, **kwargs):
        raise HeadMismatch("SOFTMAX in the head reads tensor 7 from outside it")

    monkeypatch.setattr(Head, "cut", uncuttable)
    model = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    assert model.head is None
    today = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30, head="model")
    for a, b in zip(fallback_logits(model, pancake), fallback_logits(today, pancake)):
        np.testing.assert_array_equal(a, b)
    assert model.pooled_features().shape == (480,) and model.frame_features().shape == (480,)


def test_a_head_that_does_not_match_the_model_is_not_used(a0_path, runtime, pancake, monkeypatch):
    """The parity check at load: a head that is off by one quantisation step is refused, and the
    model's own head classifies."""
    real_logits = Head.logits
    monkeypatch.setattr(Head, "logits", lambda self, pooled: real_logits(self, pooled) + np.float32(0.19))
    model = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    assert model.head is None
    assert all(np.isfinite(logits).all() for logits in fallback_logits(model, pancake[:5]))


def test_without_a_window_the_model_keeps_its_own_head(a0_path, runtime):
    assert MovinetStream(a0_path, num_threads=1, runtime=runtime).head is None


def test_the_short_window_cuts_the_long_one_only_when_it_is_sure(a0_path):
    """FloatWindows on made-up logits: a confident new top-1 in the short window that holds for
    ``hold`` frames cuts the long window to ``keep`` frames; a doubtful one does not."""

    class ToyHead:
        size = 2

        def logits(self, pooled):
            return np.asarray(pooled, np.float32) * np.float32(10)  # class = the larger feature

    policy = WindowPolicy(long=30, short=5, hold=3, keep=4, confirm=0.9, old=0.05)
    windows = FloatWindows(ToyHead(), policy)
    for _ in range(30):
        windows.push(np.array([1.0, 0.0]))
    for _ in range(6):
        logits = windows.push(np.array([0.0, 1.0]))
        if np.argmax(logits) == 1:
            break
    assert len(windows) <= 4 + 3 and np.argmax(logits) == 1
    doubtful = FloatWindows(ToyHead(), WindowPolicy(long=30, short=5, hold=3, keep=4, confirm=0.999999, old=0.05))
    for _ in range(30):
        doubtful.push(np.array([1.0, 0.0]))
    for _ in range(6):
        doubtful.push(np.array([0.3, 0.6]))  # the short window's new top-1 is never 0.999999 sure
    assert len(doubtful) == 30


def test_the_kept_frames_cut_when_they_have_let_go_of_the_old_action():
    """A new action the short window is never sure of (a weak class): the cut still comes once
    the frames it would keep name it and give the old action at most ``kept_old`` (not while one
    frame of the old action is among them), and not with the check off or a bar it never reaches."""

    def frames_until_cut(policy, new_frame):
        windows = FloatWindows(ToyHead(), policy)
        for _ in range(30):
            windows.push(np.array([1.0, 0.0, 0.0]))
        for i in range(1, 30):
            windows.push(new_frame)
            if len(windows) < 30:
                return i
        return None

    unsure = dict(long=30, short=5, keep=8, confirm=0.999999, roll=None)  # the short window never confirms
    weak = np.array([0.0, 0.6, 0.45])  # top-1 0.82 sure in any window of it alone
    assert frames_until_cut(WindowPolicy(**unsure, kept_confirm=0.5, kept_old=0.0075), weak) == 8
    assert frames_until_cut(WindowPolicy(**unsure, kept_confirm=None), weak) is None
    assert frames_until_cut(WindowPolicy(**unsure, kept_confirm=0.9, kept_old=0.0075), weak) is None
    # One frame of the old action among the eight kept leaves it 1.4%: let go of at 0.02 only
    assert frames_until_cut(WindowPolicy(**unsure, kept_confirm=0.5, kept_old=0.02), weak) == 7


class ToyHead:
    """A head whose class is the largest feature (logits: the features times 10)."""

    size = 3

    def logits(self, pooled):
        return np.asarray(pooled, np.float32) * np.float32(10)


def test_a_familiar_challenger_confirms_no_change():
    """Eyeliner's clip has stretches A0 reads as putting in contact lenses: a challenger the long
    window already gives a share is part of what goes on, however sure the short window is."""

    def cut_by_a_sure_stretch(familiar):
        windows = FloatWindows(ToyHead(), WindowPolicy(long=30, short=5, hold=2, keep=8, familiar=familiar, roll=None))
        for i in range(30):  # one action, with the other in it now and then
            windows.push(np.array([1.0, 0.0, 0.0]) if i % 4 else np.array([0.0, 0.9, 0.0]))
        for _ in range(6):  # the other, surely, for 1.2 s
            windows.push(np.array([0.0, 1.2, 0.0]))
        return len(windows) < 30

    assert cut_by_a_sure_stretch(familiar=None)
    assert not cut_by_a_sure_stretch(familiar=0.03)


def test_a_change_nothing_confirms_rolls_the_window_over():
    """A new action too weak for the short window and the kept frames still takes over once the
    long window's last ``roll`` frames (at most half of it) name it: the window rolls over to them."""

    def frames_until_roll(roll):
        windows = FloatWindows(ToyHead(), WindowPolicy(long=30, short=5, keep=8, confirm=0.999999, kept_confirm=None, roll=roll))
        for _ in range(30):
            windows.push(np.array([1.0, 0.0, 0.0]))
        for i in range(1, 30):
            if np.argmax(windows.push(np.array([0.0, 0.6, 0.45]))) == 1:
                return i, len(windows)
        return None

    assert frames_until_roll(15) == (10, 15)  # 10 new frames of the last 15 outweigh 5 old ones
    assert frames_until_roll(30) == (10, 15)  # a roll as long as the window is half of it
    assert frames_until_roll(10) == (7, 10)
    assert frames_until_roll(None) == (19, 30)  # without: the whole window has to turn


def test_the_head_classifies_two_pools_a_frame_until_the_short_window_names_another_action():
    """The frames a cut would keep and the window's last part are classified only once the
    newest frames name another action (one pass of the head's weights a frame, not two); the
    change is then confirmed and cut as before."""

    class CountingHead(ToyHead):
        def __init__(self):
            self.calls: list[int] = []

        def logits(self, pooled):
            self.calls.append(len(np.atleast_2d(pooled)))
            return super().logits(pooled)

    head = CountingHead()
    windows = FloatWindows(head, WindowPolicy(long=30, short=5, hold=2, keep=8))
    rows = []
    for frame in [np.array([1.0, 0.0, 0.0])] * 40 + [np.array([0.0, 1.0, 0.0])] * 5:
        head.calls.clear()
        windows.push(frame)
        rows.append(sum(head.calls))
    assert rows[:5] == [1] * 5 and rows[5:40] == [2] * 35  # one action: the long and the short window
    assert rows[40:42] == [2, 2]  # the new action is not yet the short window's top-1
    assert rows[42:] == [4, 4, 4]  # now it is: the kept frames and the last part are classified too...
    assert len(windows) == 8  # ...and the short window's change, held for two frames, cut the long one


def test_the_old_keywords_still_work(a0_path, runtime):
    model = MovinetStream(a0_path, 1, runtime, "center", 30, switch_keep=None)
    assert model._windows.policy.keep is None and model._windows.policy.long == 30
    assert WindowPolicy().keep == windows_module.SWITCH_KEEP_FRAMES


@pytest.mark.slow  # loads tflite-runtime, whose import is long
def test_the_head_matches_under_tflite_runtime_too(a0_path, pancake):
    """tflite-runtime 2.14 runs A0's int8 head through other kernels than LiteRT's XNNPACK: the
    head cut from the model runs through the same ones, so it still gives the model's own logits,
    bit for bit."""
    from conftest import require_module

    require_module("tflite_runtime", "pip install tflite-runtime; .ci/run installs it")
    model = MovinetStream(a0_path, num_threads=1, runtime=load_runtime("tflite-runtime"), window_frames=30)
    assert model.head is not None
    for frame in pancake:
        model.step(frame)
        np.testing.assert_array_equal(model.head.logits(model.frame_features()), model.read_logits())


def test_the_next_start_reads_the_cut_head_from_the_cache(a0_path, runtime, pancake, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    assert first.head is not None and not first.head.cached
    assert len(list((tmp_path / "movinet" / "heads").glob("*.tflite"))) == 1
    second = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    assert second.head is not None and second.head.cached and second.head.description == first.head.description
    for frame in pancake[:8]:
        np.testing.assert_array_equal(first.step(frame), second.step(frame))


def test_a_changed_model_file_or_a_damaged_cache_entry_is_cut_afresh(a0_path, runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "a0.tflite"
    model.write_bytes(Path(a0_path).read_bytes())
    assert not MovinetStream(model, num_threads=1, runtime=runtime, window_frames=30).head.cached
    os.utime(model, ns=(1_000_000_000, 1_000_000_000))  # the same bytes, but another file as far as anyone can tell
    assert not MovinetStream(model, num_threads=1, runtime=runtime, window_frames=30).head.cached
    for entry in (tmp_path / "cache" / "movinet" / "heads").glob("*.tflite"):
        entry.write_bytes(b"TFL3 but nothing after it")
    damaged = MovinetStream(model, num_threads=1, runtime=runtime, window_frames=30)
    assert damaged.head is not None and not damaged.head.cached
    assert MovinetStream(model, num_threads=1, runtime=runtime, window_frames=30).head.cached  # written again


@pytest.mark.parametrize(
    "stranger",
    [
        "movinet_a0_stream_int8.tflite",  # a model of 44 inputs
        "other/image_classifier_not_movinet.tflite",  # one input, of another size
        "custom-cattle-a0/a0_int8.tflite",  # its cut head below: the right input, 7 classes
    ],
)
def test_another_model_in_a_cache_entrys_place_is_cut_afresh_and_replaced(
    stranger, a0_path, runtime, pancake, tmp_path, monkeypatch
):
    """A cache entry holding a valid .tflite that is not this model's head (another model, another
    model's head), its digest in the sidecar as if written so, is cut afresh at the next start,
    gives the same logits, and is written over."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    (entry,) = (tmp_path / "cache" / "movinet" / "heads").glob("*.tflite")
    good = entry.read_bytes()
    if stranger.startswith("custom-cattle"):
        cattle = model_path(stranger)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cattle"))
        MovinetStream(cattle, num_threads=1, runtime=runtime, window_frames=30)
        (cattle_entry,) = (tmp_path / "cattle" / "movinet" / "heads").glob("*.tflite")
        entry.write_bytes(cattle_entry.read_bytes())
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    else:
        entry.write_bytes(model_path(stranger).read_bytes())
    sidecar = entry.with_suffix(".txt")
    description = sidecar.read_text().partition("\n")[2]
    sidecar.write_text(f"{digest(entry.read_bytes())}\n{description}")
    second = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    assert second.head is not None and not second.head.cached
    for frame in pancake[:5]:
        np.testing.assert_array_equal(first.step(frame), second.step(frame))
    assert entry.read_bytes() == good  # replaced: the next start reads it again
    assert MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30).head.cached


def test_the_cache_digest_tells_a_head_cut_short_or_with_one_byte_changed():
    head = bytes(range(256)) * 9000  # as long as A0's head
    damaged = bytearray(head)
    damaged[123_456] ^= 0x10
    assert digest(head) == digest(bytes(head))
    assert len({digest(head), digest(head[:-1]), digest(head[: len(head) // 2]), digest(bytes(damaged))}) == 4


def test_a_folder_in_a_cache_entrys_place_leaves_no_temporary_files(a0_path, runtime, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    heads = tmp_path / "movinet" / "heads"
    (entry,) = heads.glob("*.tflite")
    entry.unlink()
    entry.mkdir()
    for _ in range(2):
        assert MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30).head is not None
    assert sorted(p.name for p in heads.iterdir()) == sorted([entry.name, entry.with_suffix(".txt").name])


def test_the_cache_keeps_the_newest_heads_only(a0_path, runtime, tmp_path, monkeypatch):
    """Old entries (a model since replaced, an older cache format) are removed when a head is
    written; files that are not the cache's own are left alone."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    heads = tmp_path / "movinet" / "heads"
    heads.mkdir(parents=True)
    for i in range(KEPT_ENTRIES + 3):
        old = heads / f"{i:032x}.tflite"
        old.write_bytes(b"an old head")
        old.with_suffix(".txt").write_text("an old sidecar")
        os.utime(old, ns=(i * 10**9, i * 10**9))
    (heads / "notes.tflite").write_bytes(b"not the cache's")
    MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    kept = sorted(p.stem for p in heads.glob("*.tflite"))
    assert len(kept) == KEPT_ENTRIES + 1 and "notes" in kept
    assert f"{0:032x}" not in kept and f"{KEPT_ENTRIES + 2:032x}" in kept  # the oldest went, the newest stayed
    assert sorted(p.stem for p in heads.glob("*.txt")) == sorted(k for k in kept if k != "notes")


def test_a_user_without_a_home_starts_without_the_cache(a0_path, runtime, tmp_path, monkeypatch):
    """No $HOME and no passwd entry (a container's uid): Path.home() raises RuntimeError, which
    was a traceback at start. A relative $XDG_CACHE_HOME is ignored (the XDG spec), not made
    relative to wherever the app was started."""

    def no_home(cls):
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.setattr(Path, "home", classmethod(no_home))
    model = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    assert model.head is not None and not model.head.cached
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.chdir(tmp_path)
    MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=30)
    assert not (tmp_path / "relative").exists()
    assert len(list((tmp_path / "home" / ".cache" / "movinet" / "heads").glob("*.tflite"))) == 1


@pytest.mark.slow  # loads tflite-runtime, whose import is long
def test_a_head_cut_short_in_the_cache_never_reaches_tflite_runtime(a0_path, tmp_path):
    """tflite-runtime 2.14 does not check a model it is given: a cached head cut short (a power cut
    as it was written) was a segmentation fault at every start. Its digest no longer matches, so
    it is cut afresh: the same answers as a start with an empty cache."""
    require_module("tflite_runtime", "pip install tflite-runtime")
    command = [sys.executable, str(ROOT / "classify.py"), "--model", str(a0_path), "--runtime", "tflite-runtime"]
    command += ["--labels", str(model_path("kinetics600_label_map.txt"))]
    command += ["--camera", str(media_path("carving_ice_rpi.mp4")), "--no-display", "--max-frames", "10", "--log", "-"]

    def answers() -> list[dict]:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=app_env(XDG_CACHE_HOME=str(tmp_path)))
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in result.stdout.splitlines()]
        return [{k: v for k, v in r.items() if k not in ("inference_ms", "id")} for r in records]

    fresh = answers()
    (entry,) = (tmp_path / "movinet" / "heads").glob("*.tflite")
    entry.write_bytes(entry.read_bytes()[:50_000])
    assert answers() == fresh


def test_a_model_for_taught_actions_gives_the_same_frame_features_without_a_head_or_window(a0_path, runtime, pancake):
    """Taught actions pool the frames' own features themselves: the model keeps its pool empty as
    the windows do, but cuts no head and classifies no window (no head call a frame)."""
    windowed = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=25, switch_keep=None)
    plain = MovinetStream(a0_path, num_threads=1, runtime=runtime, window_frames=25, switch_keep=None, features_only=True)
    assert plain.head is None and windowed.head is not None
    for frame in pancake[:12]:
        windowed.step(frame)
        logits = plain.step(frame)
        np.testing.assert_array_equal(plain.frame_features(), windowed.frame_features())
        np.testing.assert_array_equal(logits, windowed.head.logits(windowed.frame_features()))  # the frame alone


def test_the_long_windows_mean_kept_as_frames_come_and_go_is_the_mean_summed_afresh():
    """The long window's sum is updated a frame at a time (one row in, one out) and summed afresh
    after a cut and once a window's length has passed: its mean is, bit for bit, the mean of the
    frames it holds summed afresh, through hours of frames and cuts of every length."""
    rng = np.random.default_rng(7)
    windows = FloatWindows(ToyHead(), WindowPolicy(long=50, keep=None))
    held: list[np.ndarray] = []
    for i in range(3000):
        row = rng.normal(0, 40, 3).astype(np.float32)
        windows.push(row)
        held = (held + [row])[-50:]
        if i % 337 == 5:
            kept = int(rng.integers(1, 50))
            windows.keep_last(kept)
            held = held[-kept:]
        expected = np.add.reduce(np.array(held), axis=0, dtype=np.float64).astype(np.float32) / np.float32(len(held))
        assert len(windows) == len(held)
        assert np.array_equal(windows.mean(), expected), i
