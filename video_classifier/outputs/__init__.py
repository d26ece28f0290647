"""Where results go: one family of outputs, each overriding the hooks it needs.

    class Beeper(Output):
        def on_event_start(self, event: ActionEvent) -> None:
            print("\\a", end="", flush=True)

    def attach(app) -> Beeper:
        return Beeper()

in a module of its own, and one line in :data:`video_classifier.app.OUTPUTS` saying when a run
wants it. That is all an output takes (docs/extending.md has the worked example).

The hooks, and the thread each is called in (a hook must return quickly; slow work such as
disk or network belongs in the output's own thread or queue):

    on_frame(frame)          every camera frame                      capture thread
    on_camera(state, time_s) the camera was "lost" or "restored"     capture thread
    on_prediction(p)         every model frame's top-k               inference thread
    on_event_start(event)    an action event has started             inference thread
    on_event_end(event)      an action event has ended               inference thread
    on_reset(time_s)         the model was reset (the ``r`` key)     inference thread
    on_pause(paused)         paused or resumed                       the thread that asked
    on_picture(picture)      an overlaid JPEG (needs the compositor) compositor thread
    start()                  before the first frame                  main thread
    close()                  end of the run, after the pipeline      main thread

Events are told before the prediction that caused them, so a prediction's outputs already
know the event it belongs to.
"""

from __future__ import annotations

from video_classifier.data import ActionEvent, Frame, Picture, Prediction
from video_classifier.errors import UserError

HOOKS = ("on_frame", "on_camera", "on_prediction", "on_event_start", "on_event_end", "on_reset", "on_pause", "on_picture")


def say(text: str) -> None:
    """A result on stdout (a list, a summary), written out now: a disk or pipe that cannot take it
    is the user's error line, also where stdout is unbuffered (``PYTHONUNBUFFERED``, services)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise  # the reader has all it wanted (classify.py exits 0)
    except OSError as exc:
        raise UserError(f"cannot write to standard output ({exc.strerror or exc})") from None


class Output:
    """Base of every output: each hook does nothing until a subclass overrides it."""

    def on_frame(self, frame: Frame) -> None:
        """A camera frame (every one, before pacing)."""

    def on_camera(self, state: str, time_s: float) -> None:
        """The live camera was ``"lost"`` or ``"restored"``, ``time_s`` after the start."""

    def on_prediction(self, prediction: Prediction) -> None:
        """The classifier's answer for one model frame."""

    def on_event_start(self, event: ActionEvent) -> None:
        """An action has held the top spot long enough to count as an event."""

    def on_event_end(self, event: ActionEvent) -> None:
        """The event has ended (``event.end_s`` is its last supporting prediction)."""

    def on_reset(self, time_s: float) -> None:
        """The model forgot its past before the frame captured at ``time_s``."""

    def on_pause(self, paused: bool) -> None:
        """The picture and the model were frozen (``True``) or go on again (``False``)."""

    def on_picture(self, picture: Picture) -> None:
        """One overlaid picture, JPEG-encoded."""

    def start(self) -> None:
        """Start the output's own threads or servers, if it has any."""

    def close(self) -> None:
        """Flush and release what the output holds."""


class Outputs(Output):
    """Several outputs behind one: each hook goes to every member that overrides it, in order."""

    def __init__(self, *members: Output | None) -> None:
        self.members: list[Output] = []
        self._calls: dict[str, list] = {name: [] for name in HOOKS}
        for member in members:
            if member is not None:
                self.add(member)

    def add(self, member: Output) -> Output:
        """Attach ``member`` after the others; returns it."""
        self.members.append(member)
        for name in HOOKS:
            if getattr(type(member), name) is not getattr(Output, name):  # skip the no-op hooks: fan-out stays cheap
                self._calls[name].append(getattr(member, name))
        return member

    def on_frame(self, frame: Frame) -> None:
        for call in self._calls["on_frame"]:
            call(frame)

    def on_camera(self, state: str, time_s: float) -> None:
        for call in self._calls["on_camera"]:
            call(state, time_s)

    def on_prediction(self, prediction: Prediction) -> None:
        for call in self._calls["on_prediction"]:
            call(prediction)

    def on_event_start(self, event: ActionEvent) -> None:
        for call in self._calls["on_event_start"]:
            call(event)

    def on_event_end(self, event: ActionEvent) -> None:
        for call in self._calls["on_event_end"]:
            call(event)

    def on_reset(self, time_s: float) -> None:
        for call in self._calls["on_reset"]:
            call(time_s)

    def on_pause(self, paused: bool) -> None:
        for call in self._calls["on_pause"]:
            call(paused)

    def on_picture(self, picture: Picture) -> None:
        for call in self._calls["on_picture"]:
            call(picture)

    def start(self) -> None:
        for member in self.members:
            member.start()

    def close(self) -> None:
        """Close every member even if one fails (a full disk must not keep the camera open),
        then raise the first failure."""
        close_all(*self.members)


def close_all(*parts) -> None:
    """Call ``close()`` on every part that is not None, in order, then raise the first failure."""
    failures = []
    for part in parts:
        if part is not None:
            try:
                part.close()
            except Exception as exc:  # noqa: BLE001 (re-raised below)
                failures.append(exc)
    if failures:
        raise failures[0]
