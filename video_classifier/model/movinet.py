"""A stateful wrapper around a MoViNet *stream* TFLite model.

A stream model takes one frame plus dozens of state tensors and returns logits plus the new
states. This wrapper finds the image input, the logits and the state pairs from the model's
signature (no hard-coded names or counts, so A0/A1/A2 and fine-tuned exports all work), keeps
the states inside the interpreter's own buffers and copies back only the states whose output
is a different tensor from their input.
"""

from __future__ import annotations

import logging
import textwrap
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from utils.quiet import native_stderr_silenced
from video_classifier.errors import ModelError
from video_classifier.model.head import Head, HeadMismatch
from video_classifier.model.preprocess import fill_input, resize_rgb
from video_classifier.model.runtime import Runtime, load_runtime
from video_classifier.model.signature import StreamSignature, check_model_file, find_stream_signature
from video_classifier.model.windows import SLIDING_MAX_FRAMES, SWITCH_KEEP_FRAMES, FloatWindows, SlidingHead, WindowPolicy

log = logging.getLogger("model")


class MovinetStream:
    """One MoViNet stream: feed frames in order with :meth:`step`, start over with :meth:`reset`.

    Example::

        model = MovinetStream("models/movinet_a0_stream_int8.tflite")
        for frame in frames_at_5_fps:            # BGR uint8, any size
            logits = model.step(frame)

    ``window_frames`` bounds what the model remembers to its last frames, and ``switch_keep`` cuts
    that memory to its last few frames when a new action takes over (None: never). Without a
    window the model remembers everything since the reset.

    With a window, the model's classifier head is cut into a model of its own when the graph
    allows it (:mod:`video_classifier.model.head`, checked against the model's own logits at load): the
    frames are then pooled in float32 and a short window confirms a change (:class:`FloatWindows`;
    ``policy`` overrides its parameters). Otherwise, or with ``head="model"``, the model's own
    head classifies its pool, bounded by :class:`SlidingHead`. :attr:`head` tells which.

    ``features_only`` is for a caller that pools the frames' own features itself (taught actions):
    the model's own pool is kept empty (when it is a state of its own), nothing is windowed and no
    head is cut, and each step's logits are the model's own for that frame alone, at no cost.
    """

    def __init__(
        self,
        model_path: str | Path,
        num_threads: int = 1,
        runtime: Runtime | None = None,
        crop: str = "center",
        window_frames: int | None = None,
        switch_keep: int | None = SWITCH_KEEP_FRAMES,
        policy: WindowPolicy | None = None,
        head: str = "auto",
        features_only: bool = False,
    ) -> None:
        self.path = Path(model_path)
        self.runtime = runtime or load_runtime("auto")
        self.crop = crop
        self.signature = self._open(num_threads)
        sig = self.signature
        self.input_size = (sig.image.shape[3], sig.image.shape[2])  # (width, height)
        self.num_classes = sig.logits.shape[1]
        tensor = self._interpreter.tensor
        # Accessor functions are cached; the numpy views they return must not outlive a call,
        # because the interpreter refuses to invoke while views into its buffers exist.
        self._image = tensor(sig.image.index)
        self._logits_index = sig.logits.index
        # Most states (30 of 43 in A0) are the very same tensor in and out: nothing to copy.
        self._feedback: list[tuple[Callable[[], np.ndarray], Callable[[], np.ndarray]]] = [
            (tensor(i.index), tensor(o.index)) for i, o in sig.states if i.index != o.index
        ]
        self._state_inputs = [(tensor(i.index), i.zero_point if i.quantized else 0) for i, _ in sig.states]
        self.fed_back_bytes = sum(i.nbytes for i, o in sig.states if i.index != o.index)
        self.frames_since_reset = 0
        self._choose_windows(window_frames, switch_keep, policy, head, features_only)
        self.reset()

    def _open(self, num_threads: int) -> StreamSignature:
        """Load the interpreter; the signature that makes the file a MoViNet stream model."""
        check_model_file(self.path)
        try:
            # The runtime prints "INFO: Created TensorFlow Lite XNNPACK delegate" here (shown with --verbose).
            with native_stderr_silenced(not log.isEnabledFor(logging.DEBUG)):
                self._interpreter = self.runtime.interpreter_class(model_path=str(self.path), num_threads=num_threads)
                self._interpreter.allocate_tensors()
            signatures = self._read_signatures()
        except (ValueError, RuntimeError, TypeError) as exc:  # TypeError: a tensor index out of range
            raise ModelError(f"cannot load model {self.path} ({_reason(exc)}): download it again with ./setup.sh") from None
        return find_stream_signature(signatures, self.path)

    def _choose_windows(
        self, window_frames: int | None, switch_keep: int | None, policy: WindowPolicy | None, head: str, features_only: bool
    ) -> None:
        """The memory: float windows over the cut head, the model's own pool windowed, or none."""
        sig, tensor = self.signature, self._interpreter.tensor
        try:
            self._pool: _HeadPool | None = _HeadPool(sig, tensor)
        except ValueError:
            self._pool = None  # a model without a pooled head still classifies, unwindowed
        if window_frames and self._pool is None:
            raise ModelError(f"{self.path} has no float head pool state to window: run it with --window 0")
        if head not in ("auto", "model"):
            raise ValueError(f"head must be 'auto' or 'model', got {head!r}")
        self.head: Head | None = None
        self._window: SlidingHead | None = None
        self._windows: FloatWindows | None = None
        self._features_only = features_only and self._pool is not None and self._pool.separate
        if window_frames and head == "auto" and not self._features_only:
            self.head = self._cut_head()
        if self.head is not None or self._features_only:
            if self.head is not None:
                policy = policy or WindowPolicy(long=window_frames, keep=switch_keep)
                self._windows = FloatWindows(self.head, replace(policy, long=window_frames, keep=switch_keep))
            # The model's own pool then sees one frame at a time: its sum and count stay at zero.
            pool_inputs = {self._pool.sum_index, self._pool.count_index}
            self._feedback = [
                (tensor(i.index), tensor(o.index)) for i, o in sig.states if i.index != o.index and i.index not in pool_inputs
            ]
        elif window_frames:
            if window_frames > SLIDING_MAX_FRAMES:
                log.debug("the model's own pool saturates on a long sum: it remembers %d frames", SLIDING_MAX_FRAMES)
            self._window = SlidingHead(self._pool, min(window_frames, SLIDING_MAX_FRAMES), switch_keep)

    def _cut_head(self) -> Head | None:
        """The head as a model of its own, if it gives the model's own logits on a test frame
        (else None)."""
        sig, pool = self.signature, self._pool
        if not pool.separate:
            log.debug("the model's own head classifies its pool (its sum is updated in place)")
            return None
        try:
            head = Head.cut(self.path, sig.key, pool.sum_name, sig.logits.name, self.runtime.interpreter_class)
        except HeadMismatch as exc:
            log.debug("the model's own head classifies its pool (%s)", exc)
            return None
        # One test frame through the model with an empty pool: its logits are the head of that
        # frame's contribution alone.
        self.reset()
        rng = np.random.default_rng(0)
        self._image()[...] = rng.random(self._image().shape, np.float32) if self.signature.image.dtype == np.float32 else 0
        self._run()
        contribution = (pool.sum_out() - pool.sum_in()).reshape(-1).copy()
        expected = self.read_logits().astype(np.float32).copy()  # (__init__ resets the states next)
        # The same ops in the same runtime: equal, or at most float rounding (an int8 step is far more).
        tolerance = 1e-5 * max(1.0, float(np.abs(expected).max()))
        difference = _difference(head, contribution, expected)
        if difference > tolerance and head.cached:  # not as cut from this file: cut it afresh, and replace it
            try:
                head = Head.cut(self.path, sig.key, pool.sum_name, sig.logits.name, self.runtime.interpreter_class, refresh=True)
            except HeadMismatch as exc:
                log.debug("the model's own head classifies its pool (%s)", exc)
                return None
            difference = _difference(head, contribution, expected)
        if difference > tolerance:
            log.debug("the model's own head classifies its pool: the cut head differs by %.3g", difference)
            return None
        log.debug("classifier head cut from the model (%s)", head.description)
        return head

    def _read_signatures(self) -> dict[str, tuple[dict, dict]]:
        signatures = {}
        for key in self._interpreter.get_signature_list():
            runner = self._interpreter.get_signature_runner(key)
            if getattr(runner, "_subgraph_index", 0) != 0:
                continue  # we invoke the primary subgraph directly
            signatures[key] = (runner.get_input_details(), runner.get_output_details())
        return signatures

    def reset(self) -> None:
        """Forget everything seen so far: states back to zero (the zero-point if quantized)."""
        for accessor, zero in self._state_inputs:
            accessor().fill(zero)
        if self._window is not None:
            self._window.clear()
        if self._windows is not None:
            self._windows.clear()
        if self._pool is not None:
            self._pool.last = np.zeros(self._pool.size, np.float32)
        self.frames_since_reset = 0

    def set_input(self, frame: np.ndarray) -> None:
        """Preprocess a BGR frame straight into the model's image input buffer."""
        rgb = resize_rgb(frame, self.input_size, self.crop)
        image = self._image()[0, 0]
        spec = self.signature.image
        if spec.dtype == np.float32:
            fill_input(image, rgb)
        else:  # a quantized image input: q = x / scale + zero_point
            pixels = np.empty(rgb.shape, np.float32)
            fill_input(pixels, rgb)
            info = np.iinfo(spec.dtype)
            image[...] = np.clip(np.rint(pixels / spec.scale + spec.zero_point), info.min, info.max)

    def _run(self) -> None:
        """One invoke of the model; a model the runtime loaded but cannot run (tensors without
        data in a damaged file) is the user's error line, at its first frame."""
        try:
            self._interpreter.invoke()
        except RuntimeError as exc:
            raise ModelError(f"cannot run model {self.path} ({_reason(exc)}): download it again with ./setup.sh") from None

    def invoke(self) -> np.ndarray:
        """Run the model on the image already in the input buffer; return float logits."""
        self._run()
        self.feed_back_states()
        if self._windows is not None:
            return self._windows.push(self._pool.last)
        logits = self.read_logits()
        if self._window is not None:
            self._window.observe(int(np.argmax(logits)))
        return logits

    def feed_back_states(self) -> None:
        """Copy each new state into its input buffer (only those that are separate tensors)."""
        if self._pool is not None:
            self._pool.record()  # before the feedback overwrites the input sum
        for dst, src in self._feedback:
            np.copyto(dst(), src())
        if self._window is not None:
            self._window.apply(self._pool.last)
        self.frames_since_reset += 1

    def read_logits(self) -> np.ndarray:
        """The last invoke's logits as float32 (dequantized if the model outputs integers)."""
        logits = self._interpreter.get_tensor(self._logits_index)[0]
        spec = self.signature.logits
        if spec.quantized:
            return (logits.astype(np.float32) - spec.zero_point) * spec.scale
        return logits

    @property
    def feature_size(self) -> int | None:
        """Length of :meth:`pooled_features`, or None when the model has no pooled head."""
        return None if self._pool is None else self._pool.size

    def pooled_features(self) -> np.ndarray:
        """The head's pooled features over the frames it remembers (the window, or since the
        reset): what the last logits were computed from. Raises :class:`ModelError` for a model
        without a float head pool."""
        pool = self._require_pool()
        return self._windows.mean() if self._windows is not None else pool.mean()

    def frame_features(self) -> np.ndarray:
        """The last frame's own contribution to the pooled features (zeros before the first)."""
        return self._require_pool().last

    def cut_window(self, keep: int) -> None:
        """Forget all but the window's last ``keep`` frames: the next :meth:`pooled_features`
        pools those (a switch of taught action was confirmed). Without a window: nothing to cut.
        In the float windows this is a cut like their own (the kept frames may follow it)."""
        if self._windows is not None:
            self._windows.keep_last(keep)
        elif self._window is not None:
            self._window.keep_last(keep)

    def _require_pool(self) -> _HeadPool:
        if self._pool is None:
            raise ModelError(f"{self.path} has no pooled head state (state_head_pool_buffer): use a MoViNet stream model")
        return self._pool

    def step(self, frame: np.ndarray) -> np.ndarray:
        """Feed the next frame (BGR, any size and common dtype) and return the logits."""
        self.set_input(frame)
        return self.invoke()

    def timed_step(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """:meth:`step`, also returning the model's own time (invoke + state feedback) in ms."""
        self.set_input(frame)
        start = time.perf_counter()
        logits = self.invoke()
        return logits, (time.perf_counter() - start) * 1000.0


def _reason(exc: Exception) -> str:
    """The runtime's reason, short: its first line, at most 120 characters (it runs the messages
    of a failed preparation together, with no space between)."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return textwrap.shorten(first_line, 120, placeholder=" …")


def _difference(head: Head, contribution: np.ndarray, expected: np.ndarray) -> float:
    """How far the head's logits of one frame's contribution are from the model's own (infinite
    for a head of another shape, such as another model in a cache entry's place)."""
    if head.size != contribution.size or head.classes != expected.size:
        return float("inf")
    try:
        return float(np.abs(head.logits(contribution) - expected).max())
    except (ValueError, RuntimeError):  # the runtime cannot run it
        return float("inf")


class _HeadPool:
    """The classifier head's pool state: a running *sum* of per-frame features and a frame count.

    Its input buffers hold, after each frame's feedback, what the model has pooled so far; their
    ratio is the pooled feature vector the head classifies (480 numbers for A0).
    """

    def __init__(self, sig: StreamSignature, tensor) -> None:
        pool = [(i, o) for i, o in sig.states if i.name.endswith("head_pool_buffer")]
        count = [(i, o) for i, o in sig.states if i.name.endswith("head_pool_frame_count")]
        if len(pool) != 1 or len(count) != 1 or pool[0][0].dtype != np.float32:
            raise ValueError("no float head pool state")
        (sum_in, sum_out), (count_in, _) = pool[0], count[0]
        self.sum_name, self.sum_index, self.count_index = sum_in.name, sum_in.index, count_in.index
        # The float windows need the sum's input and output apart (to keep the input at zero).
        self.separate = sum_in.index != sum_out.index and count_in.index != count[0][1].index
        self.sum_in, self.sum_out, self.count_in = tensor(sum_in.index), tensor(sum_out.index), tensor(count_in.index)
        self.size = int(np.prod(sum_in.shape))
        self.last = np.zeros(self.size, np.float32)  # the last frame's contribution

    def record(self) -> None:
        """After invoke, before feedback: keep this frame's contribution to the sum."""
        self.last = (self.sum_out() - self.sum_in()).reshape(-1)

    def mean(self) -> np.ndarray:
        """The pooled features (a copy), or zeros before the first frame."""
        count = int(self.count_in().reshape(-1)[0])
        return self.sum_in().reshape(-1) / max(count, 1)
