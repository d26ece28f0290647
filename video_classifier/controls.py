"""What a user may ask of the running app: reset, pause, resume and correct an event.

The window's keys, the MQTT command topic and the live view all go through one
:class:`Controls`, so that each request has one meaning and one effect wherever it comes from.
Every method may be called from any thread, and all but :meth:`Controls.correct` return at once;
that one waits (a few seconds at most) to say whether the correction was saved. Writing the
action library happens in the library's own thread, never in the caller's or the model's.
"""

from __future__ import annotations

from typing import Protocol

from video_classifier.errors import UserError


class Pausable(Protocol):
    """The part of the pipeline that the controls drive."""

    paused: bool

    def request_reset(self) -> None: ...

    def set_paused(self, paused: bool) -> None: ...


class Corrector(Protocol):
    """Turns a user's verdict on an event into an example (see ``corrections.py``)."""

    def correct(self, event_id: str | None, verdict: str) -> str: ...


class Controls:
    """The requests a user can make, on ``pipeline`` and (with ``--actions``) ``corrector``."""

    def __init__(self, pipeline: Pausable, corrector: Corrector | None = None) -> None:
        self.pipeline = pipeline
        self.corrector = corrector

    def reset(self) -> None:
        """Forget what the model saw so far (done before its next frame)."""
        self.pipeline.request_reset()

    @property
    def paused(self) -> bool:
        return self.pipeline.paused

    def set_paused(self, paused: bool) -> None:
        """Freeze (True) or go on (False); every output hears of it through ``on_pause``."""
        self.pipeline.set_paused(paused)

    def toggle_pause(self) -> None:
        self.set_paused(not self.paused)

    def correct(self, event_id: str | None, verdict: str) -> str:
        """Say what event ``event_id`` really was (None: the newest event of a taught action).

        ``verdict`` is ``"wrong"`` (something else happened: taught as ``other``), ``"right"``
        (an example of the event's own action), or the name of the action it was (taught or new).
        Returns one line saying what was done, once it is saved; raises :class:`UserError` with
        one line when the event is unknown or cannot be corrected, or the correction was not
        saved (``corrections.NotSaved``). The running app scores with the correction within a
        second.
        """
        if self.corrector is None:
            raise UserError("corrections need taught actions: run with --actions FILE")
        return self.corrector.correct(event_id, verdict)
