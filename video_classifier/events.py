"""Action events: when one action holds the top spot for a while, with hysteresis so that a
moment of doubt neither ends an event nor starts a new one.

Every duration is in seconds of the predictions' capture time (``Prediction.time_s``), not a
count of predictions: a slower board, a camera with fewer frames or frames the model had no
time for do not change what ``--hold`` and ``--grace`` mean.
"""

from __future__ import annotations

from video_classifier.data import ActionEvent, Prediction
from video_classifier.outputs import Output
from video_classifier.settings import GRACE_S, HOLD_S, RELEASE, SETTLE_FRAMES, SETTLE_MAX_S, SETTLE_S

_EPS = 1e-3  # seconds: capture times such as 9.2 and 12.2 differ by 2.9999999 in floating point


class EventDetector:
    """Turns the stream of predictions into start/end of actions, told to ``output``.

    An action *qualifies* in a prediction where it is top-1 with a score of at least
    ``threshold`` (labels in ``ignore``, ``unknown`` and ``other`` with taught actions, never
    do). It *starts* an event once it has qualified in every prediction for ``hold_s`` seconds
    (from the first such prediction to one ``hold_s`` later); the event's start time is the
    first of those.

    A prediction *supports* the event's action when it scores it at least ``threshold *
    release`` and no other action qualifies. The event *ends* once its action has had no
    support for ``grace_s`` seconds; its end time is the last prediction that supported it. So
    a dip shorter than the grace changes nothing, and another action takes over a running event
    only by qualifying for about ``grace_s`` seconds in a row (at least ``hold_s``): once the
    old event's action has gone that long without support, the old event ends and the new one
    starts, from its first qualifying prediction, as the same prediction is handled. A label in
    ``ignore`` on top never counts as another action: the event then ends only if its own
    action's score stays under the release level.

    A prediction marked ``settling`` (a fresh stream's first answers: :class:`Settling`) never
    qualifies: its top-1 may still support the running event. With no event running, the
    settling answers that named an action just before it held count for its start time, not
    its hold: an action already going at a start starts at the stream's first frame, and is
    told no sooner.

    A prediction earlier than the one before (a source whose clock started over) is taken as
    a cut stream, like :meth:`interrupt`.
    """

    def __init__(
        self,
        output: Output,
        threshold: float = 0.4,
        hold_s: float = HOLD_S,
        release: float = RELEASE,
        grace_s: float = GRACE_S,
        ignore: frozenset[str] = frozenset(),
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if not 0.0 < release <= 1.0:
            raise ValueError("release must be in (0, 1]: a fraction of the threshold")
        if hold_s < 0 or grace_s < 0:
            raise ValueError("hold_s and grace_s are seconds, at least 0")
        self.output = output
        self.threshold = threshold
        self.hold_s = hold_s
        self.release = release
        self.grace_s = grace_s
        self.ignore = ignore
        self.active: ActionEvent | None = None
        self._candidate: ActionEvent | None = None
        self._held_from = 0.0  # the candidate's first qualifying prediction: its hold counts from here
        # The action the settling answers named without a break, with their times and scores: where
        # its event starts if it goes on to hold.
        self._seen: ActionEvent | None = None
        self._last_s: float | None = None

    def update(self, prediction: Prediction) -> None:
        """Feed the next prediction; starts and ends go to the output at once."""
        t = prediction.time_s
        if self._last_s is not None and t < self._last_s:  # the clock started over: as a cut stream
            self.interrupt()
        self._last_s = t
        top = prediction.top[0] if prediction.top else None
        qualified = top if top is not None and top.score >= self.threshold and top.label not in self.ignore else None
        seen, self._seen = self._seen, None
        if prediction.settling:  # a fresh stream's first answers neither start an event nor beat one
            if qualified is not None and self.active is None:
                self._seen = _run_of(seen, qualified.label, t)
                self._seen.scores.append(qualified.score)
                self._seen.end_s = t
            qualified = None

        if self.active is not None:
            score = next((c.score for c in prediction.top if c.label == self.active.label), 0.0)
            beaten = qualified is not None and qualified.label != self.active.label
            if score >= self.threshold * self.release and not beaten:
                self.active.scores.append(score)
                self.active.end_s = t
            elif t - self.active.end_s >= self.grace_s - _EPS:
                self._finish()

        if qualified is None or (self.active is not None and qualified.label == self.active.label):
            self._candidate = None
            return
        if self._candidate is None or self._candidate.label != qualified.label:
            self._candidate = _run_of(seen, qualified.label, t)
            self._held_from = t
        self._candidate.scores.append(qualified.score)
        self._candidate.end_s = t
        if self.active is None and t - self._held_from >= self.hold_s - _EPS:
            self.active, self._candidate = self._candidate, None
            self.output.on_event_start(self.active)

    def _finish(self) -> None:
        event, self.active = self.active, None
        self.output.on_event_end(event)

    def close(self) -> None:
        """End of stream: the active event ends at its last supporting prediction. Another action
        that had qualified for ``hold_s`` and waited only for that event's grace is an event of
        its own, from its first qualifying prediction to its last (a switch in a clip's last
        seconds, or just before a stop, lost it)."""
        if self.active is not None:
            self._finish()
        waiting, self._candidate = self._candidate, None
        if waiting is not None and waiting.end_s - self._held_from >= self.hold_s - _EPS:
            self.active = waiting
            self.output.on_event_start(waiting)
            self._finish()

    def interrupt(self) -> None:
        """The stream is cut (a lost camera): nothing is seen, so the event in progress ends at its
        last supporting prediction (as does one that waited for its grace: :meth:`close`), and an
        action that was about to start must hold again."""
        self.close()
        self._seen = None


def _run_of(seen: ActionEvent | None, label: str, t: float) -> ActionEvent:
    """The run of ``label`` the settling answers began (``seen``), or a new one from ``t``."""
    return seen if seen is not None and seen.label == label else ActionEvent(label, t, t)


class Settling:
    """Which predictions are a fresh stream's first answers, from its first frame after a start,
    a reset (:meth:`restart`) or a camera that came back: the model has no temporal context yet,
    and its first guess (chiseling stone for carving ice joined mid-way) must not start an event.
    They are those of its first ``seconds`` of capture time, or of its first ``frames`` when those
    last longer (a lower rate), up to ``at_most_s``."""

    def __init__(self, seconds: float = SETTLE_S, frames: int = SETTLE_FRAMES, at_most_s: float = SETTLE_MAX_S) -> None:
        self.seconds, self.frames, self.at_most_s = seconds, frames, at_most_s
        self._since: float | None = None
        self._count = 0  # predictions of this stream so far

    def restart(self) -> None:
        """The model starts a fresh stream with the next frame."""
        self._since = None

    def at(self, time_s: float) -> bool:
        """Whether a prediction at ``time_s`` (in order) is still settling."""
        if self._since is None or time_s < self._since:
            self._since, self._count = time_s, 0
        self._count += 1
        elapsed = time_s - self._since
        return elapsed < self.seconds - _EPS or (self._count <= self.frames and elapsed < self.at_most_s - _EPS)
