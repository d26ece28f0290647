"""The float windows over a stream model's frames: a long one that classifies, a short one that
confirms a change of action, and the cut that follows one (frames at 5 fps).

A frame's contribution to the head pool depends only on the frames before it, so the windows pool
the contributions in float32 and classify any of those pools with the model's own head, cut into a
model of its own (:mod:`video_classifier.model.head`): one inference per frame feeds every window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from video_classifier.model.head import Head
from video_classifier.model.scores import softmax

# The memory policy of the windows (benchmarks/policies.py chose them over all pairs of actions
# and 21 looped clips: steady at least as the model's own memory on each, then the quickest switch):
SWITCH_KEEP_FRAMES = 12  # frames the long window keeps after a change (2.4 s), mostly from after it
SHORT_WINDOW_FRAMES = 6  # 1.2 s
CONFIRM_PROBABILITY = 0.9  # the short window's new top-1 is at least this sure...
OLD_PROBABILITY = 0.05  # ...and gives the long window's top-1 at most this...
CONFIRM_HOLD_FRAMES = 4  # ...on this many frames in a row (0.8 s: a loop seam of pancake reads 0.6 s of "bending back")
# Or the frames a cut would keep have let go of the old action: they name a new top-1 at least
# this sure and give the long window's top-1 at most this.
KEPT_CONFIRM_PROBABILITY = 0.5
KEPT_OLD_PROBABILITY = 0.003
# A challenger the long window already gives this much is part of the action going on (A0 reads
# stretches of a clip of putting on eyeliner as putting in contact lenses): it confirms no change.
FAMILIAR_PROBABILITY = 0.03
# The last part of the long window whose own new top-1 (not familiar) cuts the window to it: a
# change too weak to confirm still takes over once it fills this many frames (6 s; at most half
# the window).
ROLL_FRAMES = 30
# For a while after a cut, the frames a cut keeps confirm a further change, this sure, when the
# short window names the same: a cut made while the old action still filled most of the window
# leaves a mix of old and new frames that can read as a third action (pancake, then cricket:
# "hurling"), long after the kept frames have named the new one.
FOLLOW_FRAMES = 15  # 3 s
FOLLOW_PROBABILITY = 0.7
# Without a head of its own, the model's own top-1 cuts its int8 window (SlidingHead):
SWITCH_HOLD_FRAMES = 3  # a change that holds this many frames (0.6 s at 5 fps) is a change of action
# ...and its window stays this short: the model's own int8 pool saturates on a long sum.
SLIDING_MAX_FRAMES = 60


def challenger_over(leader: int, scores: np.ndarray, sure: float, old: float, probabilities=None) -> int | None:
    """The top-1 of ``scores`` when it is not ``leader``, is at least ``sure`` and leaves ``leader``
    at most ``old`` (``probabilities`` turns logits into probabilities, only when it is weighed);
    else None. The rule by which a short window names a change of action, for the model's classes
    and for taught actions alike."""
    challenger = int(np.argmax(scores))
    if challenger == leader:
        return None
    weighed = probabilities(scores) if probabilities else scores
    return challenger if weighed[challenger] >= sure and weighed[leader] <= old else None


@dataclass
class Streak:
    """The same challenger named frame after frame: which one, and for how many frames in a row."""

    candidate: object = None
    held: int = 0

    def see(self, challenger) -> int:
        """Count this frame's ``challenger`` (None ends the streak); the streak's length now."""
        self.held = 0 if challenger is None else self.held + 1 if challenger == self.candidate else 1
        self.candidate = challenger
        return self.held

    def clear(self) -> None:
        self.candidate, self.held = None, 0


@dataclass(frozen=True)
class WindowPolicy:
    """The parameters of :class:`FloatWindows` (frames at 5 fps; ``benchmarks/policies.py``)."""

    long: int = 300  # the window that classifies (60 s)
    short: int = SHORT_WINDOW_FRAMES  # the window that confirms a change
    hold: int = CONFIRM_HOLD_FRAMES  # frames the short window must confirm the same change
    keep: int | None = SWITCH_KEEP_FRAMES  # frames the long window keeps then (None: never cut)
    confirm: float = CONFIRM_PROBABILITY
    old: float = OLD_PROBABILITY
    kept_confirm: float | None = KEPT_CONFIRM_PROBABILITY  # None: only the short window confirms
    kept_old: float = KEPT_OLD_PROBABILITY
    familiar: float | None = FAMILIAR_PROBABILITY  # None: any challenger may confirm a change
    roll: int | None = ROLL_FRAMES  # None: the long window only rolls over at its length
    follow: int | None = FOLLOW_FRAMES  # frames after a cut in which the kept frames cut again (None: never)
    follow_confirm: float = FOLLOW_PROBABILITY


class FloatWindows:
    """A long and a short window over the frames' own contributions, pooled in float32 and
    classified by the model's own head cut from it; one inference per frame feeds both.

    The long window (60 s) is what the app reports: steady, but after a switch its old frames
    outvote the new ones for seconds. The short window (1.2 s) sees a switch early, but alone it
    is often confidently wrong on weak classes. So the short window only *confirms*: when its
    top-1 differs from the long window's, is at least ``confirm`` sure, and gives the long
    window's top-1 at most ``old``, for ``hold`` frames in a row, the long window is cut to its
    last ``keep`` frames (by then mostly from after the change) and grows back from there.
    A change the short window sees less surely (weak classes, or frames still mixed with the
    old action) is confirmed by the frames the cut would keep: once they name a new top-1 at
    least ``kept_confirm`` sure and give the old one at most ``kept_old``, the old action is gone.
    A challenger the long window already gives at least ``familiar`` is part of what is going
    on (A0 sees stretches of putting in contact lenses in a clip of putting on eyeliner): it
    confirms no change, and takes the long window over only by outvoting the old action in it.
    And a change neither window confirms still takes over once the last ``roll`` frames of the
    long window (at most half of it) name it on their own: the window then rolls over to those frames. For ``follow``
    frames after any cut, the frames a cut would keep take over whenever they name another top-1
    at least ``follow_confirm`` sure and the short window names it too, familiar or not (the new
    action is familiar by then): what a cut left of the old action can mix with the new one into
    a third answer, while the kept frames already name the new action.

    All of these rules look for a change of action, and a change shows first in the newest
    frames: while the short window names the long one's top-1, none of them is weighed, and the
    head classifies the long and the short window only (most frames: one pass of its weights).

    Pooling in float32 also removes what the model's own int8 pool does to a long sum: it
    saturates (at 149.7 in A0) and rounds twice (to a grid of 0.574, then 0.587).
    """

    def __init__(self, head: Head, policy: WindowPolicy) -> None:
        self.head, self.policy = head, policy
        # The last ``long`` contributions in a ring: row ``(self._next - 1) % long`` is the newest.
        self._ring = np.zeros((policy.long, head.size), np.float32)
        self._next = 0
        self._count = 0  # frames in the long window (a cut shortens it)
        # The long window's sum, kept as frames come and go (its mean every frame costs one row,
        # not ``long``), and summed afresh once a window's length of frames has passed, so that
        # rounding cannot build up over hours.
        self._sum = np.zeros(head.size, np.float64)
        self._fresh_in = policy.long
        self._streak = Streak()
        self._since_cut: int | None = None  # frames since the last cut (None: no cut since the start)

    def push(self, contribution: np.ndarray) -> np.ndarray:
        """Add one frame's contribution; the long window's logits (after a cut, if any)."""
        row = np.reshape(contribution, -1)
        if self._count == len(self._ring):  # the oldest frame leaves the window
            self._sum -= self._ring[self._next]
        self._ring[self._next] = row
        self._sum += row
        self._next = (self._next + 1) % len(self._ring)
        self._count = min(self._count + 1, len(self._ring))
        self._fresh_in -= 1
        if not self._fresh_in:
            self._resum()
        p = self.policy
        if not p.keep or self._count <= p.short:
            return self.head.logits(self.mean())
        long_logits, short_logits = self.head.logits(np.stack([self.mean(), self._mean_of_last(p.short)]))
        leader = int(np.argmax(long_logits))
        if self._since_cut is not None:
            self._since_cut += 1
        # No rule cuts while the newest frames name the leader: the kept frames and the window's
        # last part need no classifying then (most frames: one pass of the head's weights).
        if int(np.argmax(short_logits)) == leader:
            self._streak.clear()
            return long_logits
        roll = min(p.roll, p.long // 2) if p.roll else 0
        tails = [n for n in (p.keep, roll) if n and self._count > n]
        by_tail = dict(zip(tails, self.head.logits(np.stack([self._mean_of_last(n) for n in tails])))) if tails else {}
        kept = by_tail.get(p.keep)
        if (
            self._confirmed(leader, long_logits, short_logits)
            or (kept is not None and self._followed(leader, kept, short_logits))
            or (kept is not None and p.kept_confirm is not None and self._gone(leader, long_logits, kept))
        ):
            self.keep_last(p.keep)
            self._streak.clear()
            return long_logits if kept is None else kept
        rolled = by_tail.get(roll)
        if rolled is not None and self._new(leader, long_logits, rolled, 0.0, 1.0) is not None:
            self.keep_last(roll)
            return rolled
        return long_logits

    def _new(self, leader: int, long_logits: np.ndarray, logits: np.ndarray, sure: float, old: float) -> int | None:
        """The challenger a window's logits name over the long window's leader, if it is at least
        ``sure``, leaves the leader at most ``old`` and is not familiar; else None."""
        challenger = challenger_over(leader, logits, sure, old, softmax)
        if challenger is None:
            return None
        # The long window's softmax only now: most frames have no challenger to weigh.
        familiar = self.policy.familiar is not None and softmax(long_logits)[challenger] >= self.policy.familiar
        return None if familiar else challenger

    def _confirmed(self, leader: int, long_logits: np.ndarray, short_logits: np.ndarray) -> bool:
        """Whether the short window has confirmed a change for ``hold`` frames now."""
        p = self.policy
        challenger = self._new(leader, long_logits, short_logits, p.confirm, p.old)
        return self._streak.see(challenger) >= p.hold

    def _followed(self, leader: int, kept_logits: np.ndarray, short_logits: np.ndarray) -> bool:
        """Whether a cut was made lately and the frames a cut would keep now name another top-1
        surely, as the short window does (what the last cut left mixes into a third answer)."""
        p, since = self.policy, self._since_cut
        if p.follow is None or since is None or since > p.follow:
            return False
        challenger = challenger_over(leader, kept_logits, p.follow_confirm, 1.0, softmax)
        return challenger is not None and challenger == int(np.argmax(short_logits))

    def _gone(self, leader: int, long_logits: np.ndarray, kept_logits: np.ndarray) -> bool:
        """Whether the frames a cut would keep name a new top-1 and have let go of the old one."""
        p = self.policy
        return self._new(leader, long_logits, kept_logits, p.kept_confirm, p.kept_old) is not None

    def keep_last(self, frames: int) -> None:
        """Forget all but the long window's last ``frames`` frames."""
        self._count = min(self._count, frames)
        self._resum()
        self._since_cut = 0

    def __len__(self) -> int:
        """Frames in the long window."""
        return self._count

    def _sum_of_last(self, frames: int) -> np.ndarray:
        """The sum (float64) of the last ``frames`` contributions, summed afresh."""
        start = self._next - frames
        if start >= 0:
            return np.add.reduce(self._ring[start : self._next], axis=0, dtype=np.float64)
        return np.add.reduce(self._ring[start:], axis=0, dtype=np.float64) + np.add.reduce(
            self._ring[: self._next], axis=0, dtype=np.float64
        )

    def _mean_of_last(self, frames: int) -> np.ndarray:
        """The mean of the last ``frames`` contributions (a short window, or a tail of the long one)."""
        return self._sum_of_last(frames).astype(np.float32) / np.float32(frames)

    def _resum(self) -> None:
        self._sum = self._sum_of_last(self._count)
        self._fresh_in = len(self._ring)

    def mean(self) -> np.ndarray:
        """The long window's pooled features (zeros before the first frame)."""
        if not self._count:
            return np.zeros(self.head.size, np.float32)
        return self._sum.astype(np.float32) / np.float32(self._count)

    def copy(self) -> FloatWindows:
        """Another window in the same state (the same head, not a copy of it)."""
        other = type(self)(self.head, self.policy)
        other._ring[...] = self._ring
        other._sum[...], other._fresh_in = self._sum, self._fresh_in
        other._next, other._count, other._streak = self._next, self._count, replace(self._streak)
        other._since_cut = self._since_cut
        return other

    def clear(self) -> None:
        self._next = self._count = 0
        self._sum[...] = 0.0
        self._fresh_in = len(self._ring)
        self._streak.clear()
        self._since_cut = None


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
        self._streak = Streak()

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
        if self._streak.see(top) < SWITCH_HOLD_FRAMES or top == self._leader:
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
        self._leader = None
        self._streak.clear()
