"""A stateful wrapper around a MoViNet *stream* TFLite model.

A stream model takes one frame plus dozens of state tensors and returns logits plus the new
states. This wrapper finds the image input, the logits and the state pairs from the model's
signature (no hard-coded names or counts, so A0/A1/A2 and fine-tuned exports all work), keeps
the states inside the interpreter's own buffers and copies back only the states whose output
is a different tensor from their input.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from utils.quiet import native_stderr_silenced
from video_classifier.errors import ModelError
from video_classifier.head import CONVENTIONS, HeadCopy, HeadMismatch
from video_classifier.preprocess import fill_input, resize_rgb
from video_classifier.runtime import Runtime, load_runtime

_TFLITE_MAGIC = b"TFL3"
# The memory policy of the window (benchmarks/policies.py chose them over all pairs of actions):
SWITCH_HOLD_FRAMES = 3  # a change that holds this many frames (0.6 s at 5 fps) is a change of action
SWITCH_KEEP_FRAMES = 12  # frames the window keeps then (2.4 s), mostly from after the change
# With the head copied in numpy (most models), a short window confirms the change (FloatWindows):
SHORT_WINDOW_FRAMES = 6  # 1.2 s
CONFIRM_PROBABILITY = 0.9  # the short window's new top-1 is at least this sure...
OLD_PROBABILITY = 0.05  # ...and gives the long window's top-1 at most this...
CONFIRM_HOLD_FRAMES = 1  # ...on this many frames in a row (so sure a signal needs no more)
# Or the frames a cut would keep have let go of the old action: they name a new top-1 at least
# this sure and give the long window's top-1 at most this (the clip of putting on eyeliner has a
# stretch that A0 reads as putting in contact lenses, with eyeliner at 1.2%: above, it is cut away).
KEPT_CONFIRM_PROBABILITY = 0.5
KEPT_OLD_PROBABILITY = 0.0075
log = logging.getLogger("model")


@dataclass(frozen=True)
class TensorSpec:
    """What the wrapper needs to know about one signature tensor."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, name: str, details: dict[str, Any]) -> TensorSpec:
        scale, zero_point = details.get("quantization", (0.0, 0))
        return cls(
            name,
            details["index"],
            tuple(int(d) for d in details["shape"]),
            np.dtype(details["dtype"]),
            float(scale),
            int(zero_point),
        )

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0

    @property
    def nbytes(self) -> int:
        return self.dtype.itemsize * int(np.prod(self.shape))


@dataclass(frozen=True)
class StreamSignature:
    """The roles of a stream model's tensors, found from one signature."""

    key: str
    image: TensorSpec
    logits: TensorSpec
    states: tuple[tuple[TensorSpec, TensorSpec], ...]  # (input, output) pairs, same name


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"model file not found: {path}: run ./setup.sh to download the models or pass --model PATH")
    if path.is_dir():
        raise ModelError(f"model path is a directory: {path}: pass the .tflite file inside it with --model")
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror}") from None
    if len(head) < 8 or head[4:8] != _TFLITE_MAGIC:
        what = "empty" if not head else "not a TFLite model"
        # A .tflite that is not one was cut short; anything else is the wrong path.
        advice = (
            "download it again (./setup.sh fetches the default model)"
            if path.suffix == ".tflite"
            else "check the path given to --model: it should name a MoViNet stream .tflite file"
        )
        raise ModelError(f"model file {path} is {what}: {advice}")


def find_stream_signature(signatures: dict[str, tuple[dict, dict]], path: Path) -> StreamSignature:
    """Pick the signature that looks like a MoViNet stream model and pair its states.

    ``signatures`` maps a signature key to its (input details, output details) by name.
    Raises :class:`ModelError` naming what is missing when no signature fits.
    """
    if not signatures:
        raise ModelError(f"{path} is not a MoViNet stream model: it has no signature; export it with one")
    problems = []
    # Official models use 'serving_default'; fine-tuned exports often use 'call'.
    for key in sorted(signatures, key=lambda k: k != "serving_default"):
        inputs, outputs = signatures[key]
        try:
            return _match_roles(key, inputs, outputs)
        except ValueError as exc:
            problems.append(f"signature {key!r}: {exc}")
    raise ModelError(f"{path} is not a MoViNet stream model ({'; '.join(problems)}): pass a MoViNet *stream* .tflite")


def _match_roles(key: str, inputs: dict, outputs: dict) -> StreamSignature:
    specs_in = {n: TensorSpec.from_details(n, d) for n, d in inputs.items()}
    specs_out = {n: TensorSpec.from_details(n, d) for n, d in outputs.items()}
    images = [s for s in specs_in.values() if len(s.shape) == 5 and s.shape[1] == 1 and s.shape[4] == 3]
    if not images:
        raise ValueError("no [1, 1, H, W, 3] image input")
    image = next((s for s in images if s.name == "image"), images[0])
    states = []
    for name, spec in specs_in.items():
        if spec is image:
            continue
        out = specs_out.get(name)
        if out is None:
            raise ValueError(f"input {name!r} has no output of the same name to feed back")
        if out.shape != spec.shape or out.dtype != spec.dtype:
            raise ValueError(f"state {name!r} is {spec.shape} {spec.dtype} in but {out.shape} {out.dtype} out")
        states.append((spec, out))
    if not states:
        raise ValueError("no state inputs (is this a base model rather than a stream model?)")
    heads = [s for n, s in specs_out.items() if n not in specs_in and len(s.shape) == 2]
    if not heads:
        raise ValueError("no [1, classes] logits output")
    logits = next((s for s in heads if s.name == "logits"), heads[0])
    return StreamSignature(key, image, logits, tuple(states))


class MovinetStream:
    """One MoViNet stream: feed frames in order with :meth:`step`, start over with :meth:`reset`.

    Example::

        model = MovinetStream("models/movinet_a0_stream_int8.tflite")
        for frame in frames_at_5_fps:            # BGR uint8, any size
            logits = model.step(frame)

    ``window_frames`` bounds what the model remembers to its last frames, and ``switch_keep`` cuts
    that memory to its last few frames when a new action takes over (None: never). Without a
    window the model remembers everything since the reset.

    With a window, the classifier head is copied in numpy when the model's graph allows it
    (:mod:`video_classifier.head`, checked against the model's own logits at load): the frames
    are then pooled in float32 and a short window confirms a change (:class:`FloatWindows`;
    ``policy`` overrides its parameters). Otherwise, or with ``head="model"``, the model's own
    head classifies its pool, bounded by :class:`_SlidingHead`. :attr:`head_copy` tells which.
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
    ) -> None:
        self.path = Path(model_path)
        self.runtime = runtime or load_runtime("auto")
        self.crop = crop
        _check_file(self.path)
        try:
            # The runtime prints "INFO: Created TensorFlow Lite XNNPACK delegate" here (shown with --verbose).
            with native_stderr_silenced(not log.isEnabledFor(logging.DEBUG)):
                self._interpreter = self.runtime.interpreter_class(model_path=str(self.path), num_threads=num_threads)
                self._interpreter.allocate_tensors()
            signatures = self._read_signatures()
        except (ValueError, RuntimeError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load model {self.path} ({first_line}): download it again with ./setup.sh") from None
        self.signature = find_stream_signature(signatures, self.path)
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
        try:
            self._pool: _HeadPool | None = _HeadPool(sig, tensor)
        except ValueError:
            self._pool = None  # a model without a pooled head still classifies, unwindowed
        if window_frames and self._pool is None:
            raise ModelError(f"{self.path} has no float head pool state to window: run it with --window 0")
        if head not in ("auto", "model"):
            raise ValueError(f"head must be 'auto' or 'model', got {head!r}")
        self.head_copy: HeadCopy | None = None
        self._window: _SlidingHead | None = None
        self._windows: FloatWindows | None = None
        if window_frames and head == "auto":
            self.head_copy = self._copy_head()
        if self.head_copy is not None:
            policy = policy or WindowPolicy(long=window_frames, keep=switch_keep)
            self._windows = FloatWindows(self.head_copy, replace(policy, long=window_frames, keep=switch_keep))
            # The model's own pool then sees one frame at a time: its sum and count stay at zero.
            pool_inputs = {self._pool.sum_index, self._pool.count_index}
            self._feedback = [
                (tensor(i.index), tensor(o.index)) for i, o in sig.states if i.index != o.index and i.index not in pool_inputs
            ]
        elif window_frames:
            self._window = _SlidingHead(self._pool, window_frames, switch_keep)
        self.reset()

    def _copy_head(self) -> HeadCopy | None:
        """The head in numpy, if it gives the model's own logits on a test frame (else None)."""
        sig, pool = self.signature, self._pool
        if not pool.separate:
            log.debug("the model's own head classifies its pool (its sum is updated in place)")
            return None
        try:
            head = HeadCopy.read(self.path, sig.key, pool.sum_name, sig.logits.name)
        except HeadMismatch as exc:
            log.debug("the model's own head classifies its pool (%s)", exc)
            return None
        # One test frame through the model with an empty pool: its logits are the head of that
        # frame's contribution alone.
        self.reset()
        rng = np.random.default_rng(0)
        self._image()[...] = rng.random(self._image().shape, np.float32) if self.signature.image.dtype == np.float32 else 0
        self._interpreter.invoke()
        contribution = (pool.sum_out() - pool.sum_in()).reshape(-1).copy()
        expected = self.read_logits().astype(np.float32).copy()
        self.reset()
        tolerance = 0.0 if head.exact else 1e-4 * max(1.0, float(np.abs(expected).max()))
        for convention in CONVENTIONS:
            head.convention = convention
            difference = float(np.abs(head.logits(contribution) - expected).max())
            if difference <= tolerance:
                log.debug("classifier head copied in numpy (%s, %s arithmetic)", head.description, convention)
                return head
        log.debug("the model's own head classifies its pool: the numpy copy differs by %.3g", difference)
        return None

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

    def invoke(self) -> np.ndarray:
        """Run the model on the image already in the input buffer; return float logits."""
        self._interpreter.invoke()
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
        pools those (a switch of taught action was confirmed). Without a window: nothing to cut."""
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


class _SlidingHead:
    """Bounds a stream model's memory to its last ``frames`` frames, and to the last
    ``switch_keep`` of them when the action changes.

    A MoViNet stream model remembers the past in two places: the causal convolutions' buffers,
    which hold only the last few frames, and the classifier head's pool, a running *sum* of
    per-frame features divided by a frame counter. That sum is what keeps an hour-old action on
    top (and in int8 models it is stored on a fixed int8 grid, so it also saturates after a few
    hundred frames). Each frame's contribution is the difference between the head's output and
    input sums; keeping the last ``frames`` contributions and feeding back their sum with the
    matching count turns the running mean into a sliding-window mean, at no extra inference.

    A long window is steady but slow to let go: after a switch, the old action's frames outvote
    the new one's for seconds, and halfway through the mean of two actions can look like a
    third. So the window also watches its own answer: once a new top-1 has held for
    :data:`SWITCH_HOLD_FRAMES` frames, the scene has changed, and only the last ``switch_keep``
    frames (by then mostly from after the change) are kept; the window then grows back. The
    signal is the model's own top-1, not the frame features: those are on the int8 grid and
    change as much at a cut within one action as between two (``benchmarks/policies.py``).
    """

    def __init__(self, pool: _HeadPool, frames: int, switch_keep: int | None = None) -> None:
        self._pool = pool
        self._deltas: deque[np.ndarray] = deque(maxlen=frames)
        self.switch_keep = switch_keep
        self._leader: int | None = None  # the top-1 that has held long enough
        self._candidate: int | None = None
        self._held = 0

    def apply(self, delta: np.ndarray) -> None:
        """After feedback: add this frame's contribution, and feed back the window's sum and
        count (before the window first fills they equal the model's own; after that, or after
        a cut, they replace them)."""
        self._deltas.append(delta)
        self._feed_back()

    def _feed_back(self) -> None:
        sum_in = self._pool.sum_in()
        sum_in[...] = np.sum(self._deltas, axis=0).reshape(sum_in.shape)
        self._pool.count_in()[...] = len(self._deltas)

    def observe(self, top: int) -> None:
        """After the logits: the frame's top-1 class. A new one that holds cuts the memory short."""
        self._held = self._held + 1 if top == self._candidate else 1
        self._candidate = top
        if self._held < SWITCH_HOLD_FRAMES or top == self._leader:
            return
        if self._leader is not None and self.switch_keep:
            self.keep_last(self.switch_keep)  # the next frame is classified over the kept ones only
        self._leader = top

    def keep_last(self, frames: int) -> None:
        """Forget all but the last ``frames`` frames, in the model's pool too."""
        while len(self._deltas) > frames:
            self._deltas.popleft()
        self._feed_back()

    def clear(self) -> None:
        self._deltas.clear()
        self._leader = self._candidate = None
        self._held = 0


@dataclass(frozen=True)
class WindowPolicy:
    """The parameters of :class:`FloatWindows` (frames at 5 fps; ``benchmarks/policies.py``)."""

    long: int = 30  # the window that classifies (6 s)
    short: int = SHORT_WINDOW_FRAMES  # the window that confirms a change
    hold: int = CONFIRM_HOLD_FRAMES  # frames the short window must confirm the same change
    keep: int | None = SWITCH_KEEP_FRAMES  # frames the long window keeps then (None: never cut)
    confirm: float = CONFIRM_PROBABILITY
    old: float = OLD_PROBABILITY
    kept_confirm: float | None = KEPT_CONFIRM_PROBABILITY  # None: only the short window confirms
    kept_old: float = KEPT_OLD_PROBABILITY
    leader_hold: int | None = None  # also cut when the long window's own new top-1 holds this long (None: not)


class FloatWindows:
    """A long and a short window over the frames' own contributions, pooled in float32 and
    classified by the numpy copy of the model's head; one inference per frame feeds both.

    The long window (6 s) is what the app reports: steady, but after a switch its old frames
    outvote the new ones for seconds. The short window (2 s) sees a switch early, but alone it
    is often confidently wrong on weak classes. So the short window only *confirms*: when its
    top-1 differs from the long window's, is at least ``confirm`` sure, and gives the long
    window's top-1 at most ``old``, for ``hold`` frames in a row, the long window is cut to its
    last ``keep`` frames (by then mostly from after the change) and grows back from there.
    A change the short window sees less surely (weak classes, or frames still mixed with the
    old action) is confirmed by the frames the cut would keep: once they name a new top-1 at
    least ``kept_confirm`` sure and give the old one at most ``kept_old``, the old action is gone.

    Pooling in float32 also removes what the model's own int8 pool does to a long sum: it
    saturates (at 149.7 in A0) and rounds twice (to a grid of 0.574, then 0.587).
    """

    def __init__(self, head: HeadCopy, policy: WindowPolicy) -> None:
        self.head, self.policy = head, policy
        self._frames: deque[np.ndarray] = deque(maxlen=policy.long)
        self._candidate: int | None = None
        self._held = 0
        self._leader: int | None = None
        self._leader_candidate: int | None = None
        self._leader_held = 0

    def push(self, contribution: np.ndarray) -> np.ndarray:
        """Add one frame's contribution; the long window's logits (after a cut, if any)."""
        self._frames.append(np.array(contribution, np.float32).reshape(-1))
        p = self.policy
        if not p.keep:
            return self.head.logits(self.mean())
        if len(self._frames) > p.short:
            kept = p.kept_confirm is not None and len(self._frames) > p.keep
            pools = [self.mean(), self._mean_of_last(p.short)] + ([self._mean_of_last(p.keep)] if kept else [])
            logits = self.head.logits(np.stack(pools))  # one batch through the head
            long_logits = logits[0]
            if self._confirmed(long_logits, logits[1]) or (kept and self._gone(long_logits, logits[2])):
                return self._cut()
        else:
            long_logits = self.head.logits(self.mean())
        if p.leader_hold and self._new_leader(int(np.argmax(long_logits))):
            return self._cut()
        return long_logits

    def _confirmed(self, long_logits: np.ndarray, short_logits: np.ndarray) -> bool:
        """Whether the short window has confirmed a change for ``hold`` frames now."""
        p = self.policy
        leader, challenger = int(np.argmax(long_logits)), int(np.argmax(short_logits))
        changed = challenger != leader
        if changed:
            probabilities = _softmax(short_logits)
            changed = probabilities[challenger] >= p.confirm and probabilities[leader] <= p.old
        self._held = (self._held + 1 if challenger == self._candidate else 1) if changed else 0
        self._candidate = challenger if changed else None
        return self._held >= p.hold

    def _gone(self, long_logits: np.ndarray, kept_logits: np.ndarray) -> bool:
        """Whether the frames a cut would keep name a new top-1 and have let go of the old one."""
        p = self.policy
        leader, challenger = int(np.argmax(long_logits)), int(np.argmax(kept_logits))
        probabilities = _softmax(kept_logits)
        return challenger != leader and probabilities[challenger] >= p.kept_confirm and probabilities[leader] <= p.kept_old

    def _new_leader(self, top: int) -> bool:
        """The long window's own top-1 (today's cut): a new one that holds ``leader_hold`` frames."""
        self._leader_held = self._leader_held + 1 if top == self._leader_candidate else 1
        self._leader_candidate = top
        if self._leader_held < self.policy.leader_hold or top == self._leader:
            return False
        first, self._leader = self._leader is None, top
        return not first

    def _cut(self) -> np.ndarray:
        """Keep the last ``keep`` frames; the logits over them."""
        self.keep_last(self.policy.keep)
        self._held, self._candidate = 0, None
        logits = self.head.logits(self.mean())
        self._leader = self._leader_candidate = int(np.argmax(logits))  # known: no second cut for it
        self._leader_held = self.policy.leader_hold or 0
        return logits

    def keep_last(self, frames: int) -> None:
        """Forget all but the long window's last ``frames`` frames."""
        while len(self._frames) > frames:
            self._frames.popleft()

    def _mean_of_last(self, frames: int) -> np.ndarray:
        """Summed afresh each frame (30 x 480 floats: about 0.03 ms), so nothing drifts over hours."""
        last = list(self._frames)[-frames:]
        return (np.sum(last, axis=0, dtype=np.float64) / len(last)).astype(np.float32)

    def mean(self) -> np.ndarray:
        """The long window's pooled features (zeros before the first frame)."""
        if not self._frames:
            return np.zeros(self.head.size, np.float32)
        return self._mean_of_last(len(self._frames))

    def copy(self) -> FloatWindows:
        """Another window in the same state (the same head, not a copy of it)."""
        other = FloatWindows(self.head, self.policy)
        other._frames.extend(self._frames)
        other._candidate, other._held = self._candidate, self._held
        other._leader, other._leader_candidate, other._leader_held = self._leader, self._leader_candidate, self._leader_held
        return other

    def clear(self) -> None:
        self._frames.clear()
        self._candidate, self._held = None, 0
        self._leader, self._leader_candidate, self._leader_held = None, None, 0


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()
