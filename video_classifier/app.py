"""The app, assembled from :class:`~video_classifier.settings.Settings` in one place.

``classify.py`` turns flags into settings and calls :func:`run`; the tests and the benchmarks
build :class:`App` from settings too, so that they run the app as it ships (the memory window,
the outputs, the pacing) rather than a copy of its wiring.

Data flows one way: camera or video -> pacer -> stateful classifier -> outputs (log, events,
clips, MQTT, live view) and the window. Imports are made where a part is used: a run pays only
for the parts it asked for (start-up time on a Pi).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from utils.signals import signals_held
from utils.std_streams import print_line
from video_classifier.errors import ModelError
from video_classifier.outputs import Output, Outputs, close_all, say
from video_classifier.settings import DEFAULT_LABELS, Settings


def open_model(settings: Settings):
    """The MoViNet stream model, with the memory window the app uses."""
    from video_classifier.model.movinet import MovinetStream
    from video_classifier.model.runtime import load_runtime
    from video_classifier.model.windows import SWITCH_KEEP_FRAMES

    # The cut on a change of action follows the Kinetics top-1; taught actions are not those, and
    # their scorer pools the frames' own features itself: no Kinetics window to keep for them.
    switch_keep = None if settings.actions else SWITCH_KEEP_FRAMES
    return MovinetStream(
        settings.model,
        settings.num_threads,
        load_runtime(settings.runtime),
        settings.crop,
        settings.window_frames or None,
        switch_keep=switch_keep,
        features_only=bool(settings.actions),
    )


def action_library(settings: Settings, model):
    """The ``--actions`` file, for this model."""
    from video_classifier.teach.examples import ModelIdentity
    from video_classifier.teach.library import ActionLibrary

    if model.feature_size is None:
        raise ModelError(
            f"{model.path} has no pooled head state (state_head_pool_buffer): --actions needs a MoViNet stream model"
        )
    return ActionLibrary(settings.actions, ModelIdentity.of(model.path, model.feature_size))


def open_classifier(settings: Settings, model=None):
    """The classifier: the model's own classes, or with ``--actions`` the taught actions (and
    ``other``, ``unknown``). Described on stderr."""
    from video_classifier.model.classifier import ActionClassifier
    from video_classifier.model.labels import load_labels

    model = model or open_model(settings)
    if settings.actions:
        from video_classifier.teach.keeper import LibraryKeeper
        from video_classifier.teach.scorer import TaughtScorer

        library = action_library(settings, model)
        # A damaged or foreign file is refused here, before any change. The window follows the
        # examples' length unless --window is given (--seconds until something is taught).
        keeper = LibraryKeeper(library)
        scorer = TaughtScorer(
            keeper, window=settings.taught_window, fps=settings.fps, default_window=round(settings.seconds * settings.fps)
        )
        library.check_writable()  # events are kept beside it, and corrections go into it
        # Every frame's features: for teaching, and for correcting an event afterwards.
        classifier = ActionClassifier(model, k=settings.top_k, smoothing=settings.smooth, scorer=scorer, keep_features=True)
        classes = f"actions taught in {settings.actions}: {', '.join(scorer.labels[:-1]) or 'none yet'}"
    else:
        labels = load_labels(settings.model, settings.labels, model.num_classes, DEFAULT_LABELS)
        classifier = ActionClassifier(model, labels, settings.top_k, settings.smooth)
        classes = f"{model.num_classes} classes"
    window = settings.window_frames / settings.fps  # what is remembered: whole model frames
    memory = f"remembers the last {window:g} s" if window else "remembers everything since start"
    if window and not settings.actions:
        memory += " (less after a change of action)"
    if settings.actions:
        seconds = classifier.scorer.window / settings.fps
        how = "--window" if settings.window is not None else "as long as the taught examples"
        memory = f"compares the last {seconds:g} s with the examples ({how})"
    print(
        f"model: {model.path.name} ({model.input_size[0]}x{model.input_size[1]}, {classes}) "
        f"on {model.runtime}, {settings.num_threads} thread(s), {memory}",
        file=sys.stderr,
    )
    return classifier


def open_camera(settings: Settings, on_status=None, model_size: tuple[int, int] | None = None):
    """The ``--camera`` source; a live camera is reopened if it is lost (``on_status`` hears of it).
    ``model_size`` lets the Pi camera's ISP scale the model's pictures (its lores stream)."""
    from video_classifier.sources import SourceOptions, default_camera, open_source
    from video_classifier.sources.camera_url import has_login, is_network
    from video_classifier.sources.reconnect import ReconnectingSource

    spec = settings.camera or default_camera()

    s = settings
    options = SourceOptions(
        s.width, s.height, s.camera_fps, s.hflip, s.vflip, s.loop, s.rtsp_transport, model_size=model_size, model_crop=s.crop
    )

    def reopen():
        return open_source(spec, options)

    if is_network(spec) and has_login(spec) and any(spec in arg for arg in sys.argv):
        print(
            "warning: the camera's URL holds a login, and other users of this computer can read command lines "
            "(ps): give it in $MOVINET_CAMERA or an @FILE of arguments instead",
            file=sys.stderr,
        )
    source = reopen()
    return ReconnectingSource(source, reopen, settings.camera_timeout, on_status=on_status) if source.live else source


def run_job(settings: Settings) -> int:
    """A job instead of the camera: ``--list-actions``, ``--forget``, ``--list-events``,
    ``--correct`` (the library file, from SSH, while the app runs or not) or ``--mqtt-forget``."""
    if settings.mqtt_forget:
        from video_classifier.home_assistant.mqtt import MqttSettings
        from video_classifier.home_assistant.publisher import MqttPublisher

        publisher = MqttPublisher(MqttSettings.from_settings(settings)).connect(background=False)
        removed = publisher.forget()
        print(f"mqtt: removed {removed} entities of device {publisher.node} from Home Assistant", file=sys.stderr)
        return 0
    from video_classifier.teach.corrections import correct_offline, list_events
    from video_classifier.teach.recent_events import EventFile

    library = action_library(settings, open_model(settings))
    events = EventFile.beside(library)
    if settings.list_events:
        say(list_events(library.load(), events.load()))
        return 0
    if settings.correct is not None:
        event_id = None if settings.correct.lower() == "last" else settings.correct  # None: the newest
        print(correct_offline(library, events, event_id, settings.as_name, settings.fps, settings.model_flag), file=sys.stderr)
        content = library.load()
    elif settings.forget:
        content = library.forget(settings.forget.strip())
        print(f"forgot {settings.forget.strip()!r}", file=sys.stderr)
    else:
        content = library.load()
    say(f"{library.path}:\n{content.summary()}")
    return 0


# Every output a run can attach, in order (a later one may use an earlier one: the live view the
# compositor): the App attribute that keeps it, whether this run wants it, and the module whose
# ``attach(app)`` makes it. The first ones are made before the camera opens (a mistake costs no
# camera time); ``after_pipeline`` ones use the pipeline. A new output is a module with an
# ``attach`` function and one line here.
OUTPUTS: tuple[tuple[str, Callable[[App], object], str, bool], ...] = (
    ("log", lambda app: app.settings.log, "video_classifier.outputs.json_log", False),
    ("recorder", lambda app: app.settings.record, "video_classifier.outputs.recorder", False),
    ("publisher", lambda app: app.settings.mqtt, "video_classifier.home_assistant.publisher", False),
    ("recent_events", lambda app: app.keeper, "video_classifier.teach.recent_events", False),
    ("tutor", lambda app: app.keeper and app.teaches, "video_classifier.teach.teacher", True),
    ("compositor", lambda app: app.settings.serve or app.recorder, "video_classifier.display.compositor", True),
    ("live_view", lambda app: app.settings.serve, "video_classifier.live_view.server", True),
    ("announcer", lambda app: app.headless, "video_classifier.outputs.console", True),
)


class App:
    """One run of the app: every part opened from ``settings`` (plus ``extra_outputs``, such as
    a benchmark's probe), ready to :meth:`run`.

    What can fail on bad input is opened before the camera, so a mistake costs no camera time;
    if anything fails, what was opened is closed again before the error goes up.
    """

    def __init__(self, settings: Settings, extra_outputs: Sequence[Output] = ()) -> None:
        import cv2

        from video_classifier.sources import default_camera
        from video_classifier.sources.camera_url import is_camera

        # OpenCV's own pool of worker threads: the pictures it works on each frame are small, and
        # handing them to workers that compete with the decoder and the model cost 10% of the
        # app's CPU on a file here (benchmarks/pipeline.py --versus-naive).
        cv2.setNumThreads(1)
        self.settings = s = settings
        if s.learn is not None:  # a bad name to teach, --serve port or token costs no model or camera time
            importlib.import_module("video_classifier.teach.examples").check_name(s.learn)
        if s.serve is not None:
            importlib.import_module("video_classifier.live_view.server").serve_settings(s)
        # Teaching from a video file needs no window: it reads the clip's first seconds and exits.
        self.headless = s.no_display or (s.learn is not None and not is_camera(s.camera or default_camera()))
        self.display = None
        if not self.headless:
            from video_classifier.display.screen import choose_display, use_display

            self.display = choose_display(s.display)  # before anything slow: fail fast without a screen
            if self.display.kind == "x11":
                use_display(self.display.target, self.display.xauthority)
        self.classifier = open_classifier(s)
        self.name = self.classifier.model.path.stem
        self.outputs = Outputs(*extra_outputs)
        self.keeper = self.classifier.scorer.keeper if s.actions else None
        self.source = self.pipeline = self.framing = self.compositor = self.window = self.recorder = None
        self.stopped = False  # by the user (Ctrl-C, SIGTERM, q), not by the end of the stream
        self.tutor = self.publisher = self.recent_events = self.live_view = self.controls = self.log = self.announcer = None
        try:
            self._assemble()
        except BaseException:
            self.close()
            raise

    def _assemble(self) -> None:
        from video_classifier.controls import Controls
        from video_classifier.events import EventDetector
        from video_classifier.pipeline import Pipeline

        s, outputs = self.settings, self.outputs
        self._attach(after_pipeline=False)
        corrector = None
        if self.recent_events is not None:
            from video_classifier.teach.corrections import Corrector

            corrector = Corrector(self.keeper, self.recent_events, s.fps)
            self.keeper.start()
        self.framing = self._framing()
        self.source = open_camera(s, on_status=outputs.on_camera, model_size=self.classifier.model.input_size)
        watched = not self.headless or s.serve is not None
        ignored: frozenset[str] = frozenset()
        if s.actions:
            from video_classifier.teach.examples import RESERVED

            ignored = RESERVED  # "nothing taught is close", "something else": no event
        # --learn records the action being taught: an event of it would only be a false alarm, a
        # clip and an entry in the list of events to correct.
        events = None if s.learn is not None else EventDetector(outputs, s.threshold, s.hold, s.release, s.grace, ignore=ignored)
        self.pipeline = Pipeline(
            self.source,
            self.classifier,
            s.fps,
            output=outputs,
            events=events,
            realtime=watched if s.realtime is None else s.realtime,  # a file watched plays at its own pace
            model_delay_s=s.simulate_model_delay_ms / 1000.0,
            max_predictions=s.max_frames,
            frames_watched=watched or s.record is not None,
            framing=self.framing,
        )
        self.controls = Controls(self.pipeline, corrector)  # one meaning for the keys, MQTT and the live view
        self._attach(after_pipeline=True)
        self.controls.teacher = self.tutor  # made just now: the live view's teach, cancel and forget
        if self.publisher:
            if self.live_view:
                self.publisher.live_view_url = self.live_view.url(token=False)  # Home Assistant's link: never the token
            self.publisher.control(self.controls)  # Home Assistant's buttons
            self.publisher.region = self.framing.label  # which region this device watches

    def _attach(self, after_pipeline: bool) -> None:
        """Make and attach the outputs of :data:`OUTPUTS` this run wants, in their order."""
        for attribute, wanted, module, late in OUTPUTS:
            if late == after_pipeline and wanted(self):
                setattr(self, attribute, self.outputs.add(importlib.import_module(module).attach(self)))

    def _framing(self):
        """The part of the picture the model sees: ``--region``, a region drawn in the live view
        (kept for this camera), or ``--region auto``; checked against the model's input here and
        against the picture at its first frame."""
        from video_classifier.data import Region
        from video_classifier.motion_region import MotionRegion
        from video_classifier.region import Framing, RegionFile, check_size, smallest_side
        from video_classifier.settings import instance_name
        from video_classifier.sources import default_camera

        s, size = self.settings, self.classifier.model.input_size
        region = Region(*s.region) if s.region else None
        if region is not None:
            check_size(region, size)
        tracker = MotionRegion(s.fps, smallest_side(size)) if s.region_auto else None
        try:
            file = RegionFile.for_camera(s.camera or default_camera(), instance_name())
        except OSError:  # no home to keep a drawn region in: the flags alone say what to watch
            file = None
        framing = Framing(region, tracker, file, size)
        if framing.active:
            print(framing.describe(), file=sys.stderr)
        return framing

    @property
    def teaches(self) -> bool:
        """Whether this run teaches: ``--learn`` now, or the live view's Teach panel."""
        return self.settings.learn is not None or bool(self.settings.serve)

    @property
    def note(self):
        """The teaching countdown line, when teaching is possible (else None)."""
        tutor = self.tutor
        return tutor and (lambda: tutor.status)

    def run(self) -> None:
        """Run until the stream ends, the user quits (window, Ctrl-C, SIGTERM) or
        :meth:`request_stop`; everything is closed on the way out, then a failure is raised
        and the summary printed."""
        try:
            print(f"source: {self.source.name}, model fed at {self.settings.fps:g} fps", file=sys.stderr)
            self.outputs.start()
            self.pipeline.start()
            if self.headless:
                from video_classifier.outputs.console import report_headless

                report_headless(self.pipeline, note=self.note)
            else:  # the screen is opened last: Viewer.run always closes it (cursor and terminal restored)
                from video_classifier.display.window import ConsoleScreen, CvWindow, Viewer

                kind, target = self.display.kind, self.display.target
                screen = CvWindow(fullscreen=self.settings.fullscreen) if kind == "x11" else ConsoleScreen(target)
                self.window = Viewer(self.pipeline, self.name, screen, self.note, self.controls)
                self.window.run()
        except KeyboardInterrupt:
            self.stopped = True
            print_line("stopping")  # one write: an event line told at this moment stays whole
        finally:
            self.stopped = self.stopped or not self.pipeline.finished  # q/Esc in the window too
            with signals_held():  # a second Ctrl-C (or timeout's second SIGTERM) must not cut the closing short
                self.close()
        if self.pipeline.error is not None:
            raise self.pipeline.error
        if self.tutor is not None:
            importlib.import_module("video_classifier.teach.teacher").finish_run(self)
        print(f"done: {self.summary()}", file=sys.stderr)

    def request_stop(self) -> None:
        """End the run soon, from any thread."""
        self.pipeline.request_stop()

    def close(self) -> None:
        """Stop the pipeline and close every part (safe to call twice)."""
        if self.pipeline is not None:
            self.pipeline.stop()
        # Upstream first, so that each part has been given everything before it is closed: the
        # compositor's last pictures and the end of the event in progress reach the outputs.
        events = self.pipeline.events if self.pipeline else None
        close_all(self.source, self.compositor, events, self.outputs, self.keeper)

    def summary(self) -> str:
        """Frames read, classified, skipped, shown and clips saved."""
        p = self.pipeline
        shown = f", {self.window.frames_shown} shown" if self.window else ""
        saved = f", {len(self.recorder.saved)} clip(s) saved in {self.settings.record}" if self.recorder else ""
        return f"{p.frames_captured} frames read, {p.predictions} classified, {p.skipped} skipped{shown}{saved}"


def run(settings: Settings) -> int:
    """Do what ``settings`` ask (a job, or the camera until the stream ends); exit status 0."""
    if settings.job:
        return run_job(settings)
    App(settings).run()
    return 0
