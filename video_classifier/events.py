"""Action events: when one action holds the top spot for a while, with hysteresis so that a
moment of doubt neither ends an event nor starts a new one."""

from __future__ import annotations

from video_classifier.data import ActionEvent, Prediction
from video_classifier.outputs import Output


class EventDetector:
    """Turns the stream of predictions into start/end of actions, told to ``output``.

    An action *starts* once it has been top-1 with a score of at least ``threshold`` for
    ``hold`` predictions in a row; the event's start time is the first of those. It *ends*
    once, for ``hold`` predictions in a row, its score has fallen below
    ``threshold * release`` or another action has qualified; the end time is the last
    prediction that still supported it. Labels in ``ignore`` (``unknown`` with taught actions)
    never make an event.
    """

    def __init__(
        self, output: Output, threshold: float = 0.4, hold: int = 5, release: float = 0.75, ignore: frozenset[str] = frozenset()
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.output = output
        self.threshold = threshold
        self.hold = max(1, hold)
        self.release = release
        self.ignore = ignore
        self.active: ActionEvent | None = None
        self._candidate: ActionEvent | None = None
        self._misses = 0

    def update(self, prediction: Prediction) -> None:
        """Feed the next prediction; starts and ends go to the output at once."""
        top = prediction.top[0] if prediction.top else None
        qualified = top if top is not None and top.score >= self.threshold and top.label not in self.ignore else None
        t = prediction.time_s

        if self.active is not None:
            score = next((c.score for c in prediction.top if c.label == self.active.label), 0.0)
            other = qualified is not None and qualified.label != self.active.label
            if score >= self.threshold * self.release and not other:
                self.active.scores.append(score)
                self.active.end_s = t
                self._misses = 0
            else:
                self._misses += 1
                if self._misses >= self.hold:
                    self._finish()

        if qualified is None or (self.active is not None and qualified.label == self.active.label):
            self._candidate = None
            return
        if self._candidate is None or self._candidate.label != qualified.label:
            self._candidate = ActionEvent(qualified.label, t, t)
        self._candidate.scores.append(qualified.score)
        self._candidate.end_s = t
        if len(self._candidate.scores) >= self.hold and self.active is None:
            self.active, self._candidate, self._misses = self._candidate, None, 0
            self.output.on_event_start(self.active)

    def _finish(self) -> None:
        event, self.active, self._misses = self.active, None, 0
        self.output.on_event_end(event)

    def close(self) -> None:
        """End of stream: the active event ends at its last supporting prediction."""
        if self.active is not None:
            self._finish()

    def interrupt(self) -> None:
        """The stream is cut (a lost camera): nothing is seen, so the event in progress ends at its
        last supporting prediction, and an action that was about to start must hold again."""
        self.close()
        self._candidate = None
