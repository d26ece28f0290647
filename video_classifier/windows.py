"""The float windows over a stream model's frames: a long one that classifies, a short one that
confirms a change of action, and the cut that follows one (frames at 5 fps).

A frame's contribution to the head pool depends only on the frames before it, so the windows pool
the contributions in float32 and classify any of those pools with the model's own head, cut into a
model of its own (:mod:`video_classifier.head`): one inference per frame feeds every window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from video_classifier.head import Head
from video_classifier.scores import softmax

# The memory policy of the windows (benchmarks/policies.py chose them over all pairs of actions):
SWITCH_KEEP_FRAMES = 12  # frames the long window keeps after a change (2.4 s), mostly from after it
SHORT_WINDOW_FRAMES = 6  # 1.2 s
CONFIRM_PROBABILITY = 0.9  # the short window's new top-1 is at least this sure...
OLD_PROBABILITY = 0.05  # ...and gives the long window's top-1 at most this...
CONFIRM_HOLD_FRAMES = 1  # ...on this many frames in a row (so sure a signal needs no more)
# Or the frames a cut would keep have let go of the old action: they name a new top-1 at least
# this sure and give the long window's top-1 at most this (the clip of putting on eyeliner has a
# stretch that A0 reads as putting in contact lenses, with eyeliner at 1.2%: above, it is cut away).
KEPT_CONFIRM_PROBABILITY = 0.5
KEPT_OLD_PROBABILITY = 0.0075
# Without a head of its own, the model's own top-1 cuts its int8 window (SlidingHead):
SWITCH_HOLD_FRAMES = 3  # a change that holds this many frames (0.6 s at 5 fps) is a change of action


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
    classified by the model's own head cut from it; one inference per frame feeds both.

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

    def __init__(self, head: Head, policy: WindowPolicy) -> None:
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
            probabilities = softmax(short_logits)
            changed = probabilities[challenger] >= p.confirm and probabilities[leader] <= p.old
        self._held = (self._held + 1 if challenger == self._candidate else 1) if changed else 0
        self._candidate = challenger if changed else None
        return self._held >= p.hold

    def _gone(self, long_logits: np.ndarray, kept_logits: np.ndarray) -> bool:
        """Whether the frames a cut would keep name a new top-1 and have let go of the old one."""
        p = self.policy
        leader, challenger = int(np.argmax(long_logits)), int(np.argmax(kept_logits))
        probabilities = softmax(kept_logits)
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


class SlidingHead:
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

    def __init__(self, pool, frames: int, switch_keep: int | None = None) -> None:
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
