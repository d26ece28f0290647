"""The app, assembled from :class:`~video_classifier.settings.Settings` in one place.

``classify.py`` turns flags into settings and calls :func:`run`; the tests and the benchmarks
build :class:`App` from settings too, so that they run the app as it ships (the memory window,
the outputs, the pacing) rather than a copy of its wiring.

Data flows one way: camera or video -> pacer -> stateful classifier -> outputs (log, events,
clips, MQTT, live view) and the window. Imports are made where a part is used: a run pays only
for the parts it asked for (start-up time on a Pi).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Sequence

from video_classifier.errors import ModelError, UserError
from video_classifier.outputs import Output, Outputs, close_all
from video_classifier.settings import DEFAULT_LABELS, Settings


def open_model(settings: Settings):
    """The MoViNet stream model, with the memory window the app uses."""
    from video_classifier.movinet import MovinetStream
    from video_classifier.runtime import load_runtime
    from video_classifier.windows import SWITCH_KEEP_FRAMES

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
    from video_classifier.action_library import ActionLibrary, ModelIdentity

    if model.feature_size is None:
        raise ModelError(
            f"{model.path} has no pooled head state (state_head_pool_buffer): --actions needs a MoViNet stream model"
        )
    return ActionLibrary(settings.actions, ModelIdentity.of(model.path, model.feature_size))


def open_classifier(settings: Settings, model=None):
    """The classifier: the model's own classes, or with ``--actions`` the taught actions (and
    ``other``, ``unknown``). Described on stderr."""
    from video_classifier.classifier import ActionClassifier
    from video_classifier.labels import load_labels

    model = model or open_model(settings)
    if settings.actions:
        from video_classifier.library_keeper import LibraryKeeper
        from video_classifier.taught import TaughtScorer

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
    from video_classifier.camera_url import has_login, is_network
    from video_classifier.reconnect import ReconnectingSource
    from video_classifier.sources import default_camera, open_source

    spec = settings.camera or default_camera()

    def reopen():
        s = settings
        return open_source(
            spec, s.width, s.height, s.camera_fps, s.hflip, s.vflip, s.loop, s.rtsp_transport,
            model_size=model_size, model_crop=s.crop,
        )  # fmt: skip

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
        from video_classifier.home_assistant import MqttPublisher

        publisher = MqttPublisher(mqtt_settings(settings)).connect(background=False)
        removed = publisher.forget()
        print(f"mqtt: removed {removed} entities of device {publisher.node} from Home Assistant", file=sys.stderr)
        return 0
    from video_classifier.corrections import correct_offline, list_events
    from video_classifier.recent_events import EventFile

    library = action_library(settings, open_model(settings))
    events = EventFile.beside(library)
    if settings.list_events:
        print(list_events(library.load(), events.load()))
        return 0
    if settings.correct is not None:
        event_id = None if settings.correct.lower() == "last" else settings.correct  # None: the newest
        print(correct_offline(library, events, event_id, settings.as_name, settings.fps), file=sys.stderr)
        content = library.load()
    elif settings.forget:
        content = library.forget(settings.forget.strip())
        print(f"forgot {settings.forget.strip()!r}", file=sys.stderr)
    else:
        content = library.load()
    print(f"{library.path}:\n{content.summary()}")
    return 0


def mqtt_settings(settings: Settings):
    """Broker, login and topic prefix from the ``--mqtt*`` flags (and ``$MQTT_PASSWORD``)."""
    from video_classifier.mqtt import MqttSettings

    return MqttSettings.parse_address(
        settings.mqtt,
        tls=settings.mqtt_tls or settings.mqtt_ca is not None,
        topic=settings.mqtt_topic,
        username=settings.mqtt_user,
        password=settings.mqtt_password or os.environ.get("MQTT_PASSWORD"),
        ca_file=settings.mqtt_ca,
    )


class App:
    """One run of the app: every part opened from ``settings`` (plus ``extra_outputs``, such as
    a benchmark's probe), ready to :meth:`run`.

    What can fail on bad input is opened before the camera, so a mistake costs no camera time;
    if anything fails, what was opened is closed again before the error goes up.
    """

    def __init__(self, settings: Settings, extra_outputs: Sequence[Output] = ()) -> None:
        from video_classifier.camera_url import is_camera
        from video_classifier.sources import default_camera

        self.settings = s = settings
        if s.learn is not None:
            from video_classifier.action_library import check_name

            check_name(s.learn)  # a bad name costs no model, camera or window time
        # Teaching from a video file needs no window: it reads the clip's first seconds and exits.
        self.headless = s.no_display or (s.learn is not None and not is_camera(s.camera or default_camera()))
        self.display = None
        if not self.headless:
            from video_classifier.display import choose_display, use_display

            self.display = choose_display(s.display)  # before anything slow: fail fast without a screen
            if self.display.kind == "x11":
                use_display(self.display.target, self.display.xauthority)
        self.classifier = open_classifier(s)
        self.name = self.classifier.model.path.stem
        self.outputs = Outputs(*extra_outputs)
        self.keeper = self.classifier.scorer.keeper if s.actions else None
        self.source = self.pipeline = self.compositor = self.viewer = self.recorder = None
        self.tutor = self.publisher = self.events = self.view = self.controls = None
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
        ignored: frozenset[str] = frozenset()
        if s.actions:
            from video_classifier.action_library import RESERVED

            ignored = RESERVED  # "nothing taught is close", "something else": no event
        if s.log:
            from video_classifier.json_log import JsonLinesLog

            outputs.add(JsonLinesLog(s.log))
        if s.record:
            from video_classifier.recorder import EventRecorder

            confirm_s = max(s.hold, s.grace) + 1  # an event's start and end are told this long after
            self.recorder = outputs.add(
                EventRecorder(s.record, s.pre_roll, s.post_roll, s.record_max_mb, model_name=self.name, confirm_s=confirm_s)
            )
        if s.mqtt:
            self.publisher = outputs.add(self._mqtt_publisher(ignored))
        corrector = None
        if self.keeper is not None:
            corrector = self._recent_events()
            self.keeper.start()
        self.source = open_camera(s, on_status=outputs.on_camera, model_size=self.classifier.model.input_size)
        watched = not self.headless or s.serve is not None
        self.pipeline = Pipeline(
            self.source,
            self.classifier,
            s.fps,
            output=outputs,
            events=EventDetector(outputs, s.threshold, s.hold, s.release, s.grace, ignore=ignored),
            realtime=watched if s.realtime is None else s.realtime,  # a file watched plays at its own pace
            model_delay_s=s.simulate_model_delay_ms / 1000.0,
            max_predictions=s.max_frames,
            frames_watched=watched or s.record is not None,
        )
        self.controls = Controls(self.pipeline, corrector)  # one meaning for the keys, MQTT and the live view
        if s.actions and (s.learn is not None or s.serve):
            self.tutor = outputs.add(self._teacher())
        if s.serve or self.recorder:
            from video_classifier.compositor import Compositor

            self.compositor = outputs.add(Compositor(self.pipeline, self.name, output=outputs, note=self.note))
        if s.serve:
            self.view = outputs.add(self._live_view())
            if self.publisher:
                self.publisher.live_view_url = self.view.url(token=False)  # Home Assistant's link: never the token
        if self.publisher:
            self.publisher.control(self.controls)  # Home Assistant's buttons
        if self.headless:
            from video_classifier.console import EventAnnouncer

            outputs.add(EventAnnouncer())

    @property
    def note(self):
        """The teaching countdown line, when teaching is possible (else None)."""
        tutor = self.tutor
        return tutor and (lambda: tutor.status)

    def _mqtt_publisher(self, ignored: frozenset[str]):
        """The ``--mqtt`` publisher, connected (or retrying in the background)."""
        from video_classifier.home_assistant import MqttPublisher

        classifier = self.classifier
        taught = (lambda: [label for label in classifier.labels if label not in ignored]) if self.settings.actions else None
        settings = mqtt_settings(self.settings)
        publisher = MqttPublisher(settings, self.name, taught=taught).connect()
        print(f"mqtt: {settings.host}:{settings.port}, topics {publisher.topic}/...", file=sys.stderr)
        return publisher

    def _recent_events(self):
        """The events of taught actions, with their features, for corrections; the corrector."""
        from video_classifier.corrections import Corrector
        from video_classifier.recent_events import EventFile, RecentEvents

        keeper, s = self.keeper, self.settings
        file = EventFile.beside(keeper.library)
        clips = self.recorder.library if self.recorder else None
        self.events = self.outputs.add(RecentEvents(keeper, file, self.classifier.scorer.window, clips))
        return Corrector(keeper, self.events, s.fps)

    def _teacher(self):
        """The teacher: with ``--learn`` it teaches that action now (a countdown on a camera, the
        first seconds of a video), then stops the app; with ``--serve`` the Teach panel uses it."""
        from video_classifier.teacher import Lesson, Teacher

        s, pipeline = self.settings, self.pipeline
        on_done = (lambda lesson: pipeline.request_stop()) if s.learn is not None else None
        tutor = Teacher(self.keeper, s.fps, on_done=on_done)
        if s.learn is not None:
            live = self.source.live
            what = "camera" if live else self.source.name
            tutor.teach(Lesson(s.learn, s.seconds, s.examples, 3.0 if live else 0.0, 2.0 if live else 0.0, what))
        return tutor

    def _live_view(self):
        """The ``--serve`` web server; away from 127.0.0.1 reading asks for a token, and changing
        anything (the Teach panel, corrections) always does."""
        from video_classifier.http_guard import MIN_TOKEN_LENGTH
        from video_classifier.live_view import LiveView, is_loopback, parse_bind

        s = self.settings
        host, port = parse_bind(s.serve)
        chosen = s.serve_token if s.serve_token is not None else os.environ.get("MOVINET_SERVE_TOKEN")
        if chosen is not None and len(chosen) < MIN_TOKEN_LENGTH:
            where = "--serve-token" if s.serve_token is not None else "MOVINET_SERVE_TOKEN"
            raise UserError(f"{where} must be at least {MIN_TOKEN_LENGTH} characters (it is {len(chosen)}): choose a longer one")
        token = chosen or secrets.token_urlsafe(12)
        reads = chosen is not None or not is_loopback(host)
        clips = self.recorder.library if self.recorder else None
        view = LiveView(self.pipeline, self.compositor, host, port, token, reads, clips, self.tutor, self.controls, self.events)
        print(f"live view: {view.url()}", file=sys.stderr)
        return view

    def run(self) -> None:
        """Run until the stream ends, the user quits (window, Ctrl-C, SIGTERM) or
        :meth:`request_stop`; everything is closed on the way out, then a failure is raised
        and the summary printed."""
        try:
            print(f"source: {self.source.name}, model fed at {self.settings.fps:g} fps", file=sys.stderr)
            self.outputs.start()
            self.pipeline.start()
            if self.headless:
                from video_classifier.console import report_headless

                report_headless(self.pipeline, note=self.note)
            else:  # the screen is opened last: Viewer.run always closes it (cursor and terminal restored)
                from video_classifier.window import ConsoleScreen, CvWindow, Viewer

                kind, target = self.display.kind, self.display.target
                screen = CvWindow(fullscreen=self.settings.fullscreen) if kind == "x11" else ConsoleScreen(target)
                self.viewer = Viewer(self.pipeline, self.name, screen, self.note, self.controls)
                self.viewer.run()
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
        finally:
            self.close()
        if self.pipeline.error is not None:
            raise self.pipeline.error
        if self.settings.learn is not None:
            self._finish_lesson()
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
        shown = f", {self.viewer.frames_shown} shown" if self.viewer else ""
        saved = f", {len(self.recorder.saved)} clip(s) saved in {self.settings.record}" if self.recorder else ""
        return f"{p.frames_captured} frames read, {p.predictions} classified, {p.skipped} skipped{shown}{saved}"

    def _finish_lesson(self) -> None:
        """After ``--learn``: say what was saved, or why not (a clip too short is an error)."""
        lesson, s = self.tutor.lesson, self.settings
        if lesson.error:
            raise UserError(lesson.error)
        if not lesson.done:
            if self.source.live:
                print(f"stopped: {lesson.saved} of {lesson.examples} example(s) of {lesson.name!r} saved", file=sys.stderr)
            else:
                raise UserError(
                    f"{self.source.name} is too short to teach {lesson.name!r}: {s.seconds * s.examples:g} s needed ("
                    f"--seconds {s.seconds:g} x --examples {s.examples}), {lesson.saved} example(s) saved: "
                    "pass a longer clip or a smaller --seconds (at least 2)"
                )
        print(f"{s.actions}:\n{self.keeper.library.load().summary()}")


def run(settings: Settings) -> int:
    """Do what ``settings`` ask (a job, or the camera until the stream ends); exit status 0."""
    if settings.job:
        return run_job(settings)
    App(settings).run()
    return 0
