#!/usr/bin/env python3
"""Real-time action recognition with a MoViNet stream model on a Raspberry Pi.

Usage:
    python classify.py                                   # Pi camera, window on the HDMI monitor
    python classify.py --camera clip.mp4 --no-display --log -   # a video file, JSON lines out

Reads frames from the camera or a video, gives the model 5 frames per second by their
timestamps, and shows the picture with the top actions, or logs them. Run with --help for flags.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

# Before numpy loads: the app's products are a vector times a matrix (the classifier head), for
# which BLAS threads cost more CPU than they save and compete with the model's own threads
# (measured: 1.6 s of CPU more per 300 frames with them, 0.4 s without).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from video_classifier.options import DEFAULT_LABELS  # noqa: E402
from video_classifier.options import parse_args as _parse_args  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The app's flags (see ``video_classifier/options.py``)."""
    return _parse_args(argv, description=__doc__.split("\n\n")[0])


def _stop_on_sigterm() -> None:
    """SIGTERM (systemctl stop, kill) takes the same clean path as Ctrl-C."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def open_model(args: argparse.Namespace):
    """The MoViNet stream model."""
    from video_classifier.movinet import SWITCH_KEEP_FRAMES, MovinetStream
    from video_classifier.runtime import load_runtime

    window_frames = round(args.window * args.fps) or None
    # The cut on a change of action follows the Kinetics top-1; taught actions are not those.
    switch_keep = None if args.actions else SWITCH_KEEP_FRAMES
    return MovinetStream(
        args.model, args.num_threads, load_runtime(args.runtime), args.crop, window_frames, switch_keep=switch_keep
    )


def action_library(args: argparse.Namespace, model):
    """The ``--actions`` file, for this model."""
    from video_classifier.action_library import ActionLibrary, ModelIdentity
    from video_classifier.errors import ModelError

    if model.feature_size is None:
        raise ModelError(
            f"{model.path} has no pooled head state (state_head_pool_buffer): --actions needs a MoViNet stream model"
        )
    return ActionLibrary(args.actions, ModelIdentity.of(model.path, model.feature_size))


def open_classifier(args: argparse.Namespace):
    """The classifier: the model's own classes, or with ``--actions`` the taught actions
    (and ``other``, ``unknown``). Described on stderr."""
    from video_classifier.classifier import ActionClassifier
    from video_classifier.labels import load_labels

    model = open_model(args)
    if args.actions:
        from video_classifier.library_keeper import LibraryKeeper
        from video_classifier.taught import TaughtScorer

        library = action_library(args, model)
        # A damaged or foreign file is refused here, before any change.
        scorer = TaughtScorer(LibraryKeeper(library), warm_up=round(args.window * args.fps))
        library.check_writable()  # events are kept beside it, and corrections go into it
        # Every frame's features: for teaching, and for correcting an event afterwards.
        classifier = ActionClassifier(model, k=args.top_k, smoothing=args.smooth, scorer=scorer, keep_features=True)
        taught = ", ".join(scorer.labels[:-1]) or "none yet"
        classes = f"actions taught in {args.actions}: {taught}"
    else:
        labels = load_labels(args.model, args.labels, model.num_classes, DEFAULT_LABELS)
        classifier = ActionClassifier(model, labels, args.top_k, args.smooth)
        classes = f"{model.num_classes} classes"
    memory = f"remembers the last {args.window:g} s" if args.window else "remembers everything since start"
    if args.window and not args.actions:
        memory += " (less after a change of action)"
    print(
        f"model: {model.path.name} ({model.input_size[0]}x{model.input_size[1]}, {classes}) "
        f"on {model.runtime}, {args.num_threads} thread(s), {memory}",
        file=sys.stderr,
    )
    return classifier


def manage_actions(args: argparse.Namespace) -> int:
    """``--list-actions``, ``--forget``, ``--list-events`` and ``--correct``: the library file
    from SSH, without the camera (while the app runs or not: it sees the change within a second)."""
    from video_classifier.corrections import correct_offline, list_events
    from video_classifier.recent_events import EventFile, events_path

    library = action_library(args, open_model(args))
    events = EventFile(events_path(library.path), library.model)
    if args.list_events:
        print(list_events(library.load(), events.load()))
        return 0
    if args.correct is not None:
        event_id = None if args.correct.lower() == "last" else args.correct  # None: the newest
        print(correct_offline(library, events, event_id, args.as_name, args.fps), file=sys.stderr)
        content = library.load()
    elif args.forget:
        content = library.forget(args.forget.strip())
        print(f"forgot {args.forget.strip()!r}", file=sys.stderr)
    else:
        content = library.load()
    print(f"{library.path}:\n{content.summary()}")
    return 0


def recent_events(args: argparse.Namespace, classifier, clips):
    """The events of taught actions, with their features, for corrections (``--actions``)."""
    from video_classifier.corrections import Corrector
    from video_classifier.recent_events import EventFile, RecentEvents, events_path

    keeper = classifier.scorer.keeper
    file = EventFile(events_path(keeper.library.path), keeper.library.model)
    events = RecentEvents(keeper, file, round(args.window * args.fps), clips)
    return events, Corrector(keeper, events, args.fps)


def teacher(args: argparse.Namespace, classifier, source, when_done):
    """The teacher: with ``--learn`` it teaches that action now (a countdown on a camera, the
    first seconds of a video), then calls ``when_done``; with ``--serve`` the Teach panel uses it."""
    from video_classifier.teacher import Lesson, Teacher

    result = Teacher(classifier.scorer.keeper, args.fps, on_done=when_done if args.learn else None)
    if args.learn is not None:
        live = source.live
        what = "camera" if live else source.name
        lesson = Lesson(args.learn, args.seconds, args.examples, 3.0 if live else 0.0, 2.0 if live else 0.0, what)
        result.teach(lesson)
    return result


def finish_lesson(args: argparse.Namespace, lesson, source) -> None:
    """After ``--learn``: say what was saved, or why not (a clip too short is an error)."""
    from video_classifier.errors import UserError

    if lesson.error:
        raise UserError(lesson.error)
    if not lesson.done:
        if source.live:
            print(f"stopped: {lesson.saved} of {lesson.examples} example(s) of {lesson.name!r} saved", file=sys.stderr)
            return
        needed = args.seconds * args.examples
        raise UserError(
            f"{source.name} is too short to teach {lesson.name!r}: {needed:g} s needed ("
            f"--seconds {args.seconds:g} x --examples {args.examples}), {lesson.saved} example(s) saved: "
            "pass a longer clip or a smaller --seconds (at least 2)"
        )


def open_camera(args: argparse.Namespace, on_status):
    """The ``--camera`` source; a live camera is reopened if it is lost (``on_status`` hears of it)."""
    from video_classifier.reconnect import ReconnectingSource
    from video_classifier.sources import default_camera, open_source

    spec = args.camera or default_camera()

    def reopen():
        return open_source(spec, args.width, args.height, args.camera_fps, args.hflip, args.vflip, args.loop)

    source = reopen()
    return ReconnectingSource(source, reopen, args.camera_timeout, on_status=on_status) if source.live else source


def mqtt_settings(args: argparse.Namespace):
    """Broker, login and topic prefix from the ``--mqtt*`` flags (and ``$MQTT_PASSWORD``)."""
    from video_classifier.mqtt import MqttSettings

    return MqttSettings.parse_address(
        args.mqtt,
        tls=args.mqtt_tls or args.mqtt_ca is not None,
        topic=args.mqtt_topic,
        username=args.mqtt_user,
        password=args.mqtt_password or os.environ.get("MQTT_PASSWORD"),
        ca_file=args.mqtt_ca,
    )


def mqtt_publisher(args: argparse.Namespace, model_name: str, taught):
    """The ``--mqtt`` publisher, connected (or retrying in the background)."""
    from video_classifier.home_assistant import MqttPublisher

    settings = mqtt_settings(args)
    publisher = MqttPublisher(settings, model_name, taught=taught).connect()
    print(f"mqtt: {settings.host}:{settings.port}, topics {publisher.topic}/...", file=sys.stderr)
    return publisher


def forget_mqtt_device(args: argparse.Namespace) -> int:
    """``--mqtt-forget``: remove this app's device from Home Assistant and exit."""
    from video_classifier.home_assistant import MqttPublisher

    publisher = MqttPublisher(mqtt_settings(args)).connect(background=False)
    removed = publisher.forget()
    print(f"mqtt: removed {removed} entities of device {publisher.node} from Home Assistant", file=sys.stderr)
    return 0


def live_view(args: argparse.Namespace, pipeline, compositor, clips, tutor, controls, events):
    """The ``--serve`` web server; away from 127.0.0.1 reading asks for a token, and changing
    anything (the Teach panel, corrections through ``controls``) always does."""
    import secrets

    from video_classifier.errors import UserError
    from video_classifier.http_guard import MIN_TOKEN_LENGTH
    from video_classifier.live_view import LiveView, is_loopback, parse_bind

    host, port = parse_bind(args.serve)
    chosen = args.serve_token if args.serve_token is not None else os.environ.get("MOVINET_SERVE_TOKEN")
    if chosen is not None and len(chosen) < MIN_TOKEN_LENGTH:
        where = "--serve-token" if args.serve_token is not None else "MOVINET_SERVE_TOKEN"
        raise UserError(f"{where} must be at least {MIN_TOKEN_LENGTH} characters (it is {len(chosen)}): choose a longer one")
    token = chosen or secrets.token_urlsafe(12)
    reads = chosen is not None or not is_loopback(host)
    view = LiveView(pipeline, compositor, host, port, token, reads, clips, tutor, controls, events)
    print(f"live view: {view.url()}", file=sys.stderr)
    return view


def run(args: argparse.Namespace) -> int:
    # Only what every run needs is imported here; the rest where it is used (start-up time).
    from video_classifier.console import EventAnnouncer, report_headless
    from video_classifier.controls import Controls
    from video_classifier.events import EventDetector
    from video_classifier.outputs import Outputs, close_all
    from video_classifier.pipeline import Pipeline
    from video_classifier.sources import default_camera, is_camera

    if args.list_actions or args.forget or args.list_events or args.correct is not None:
        return manage_actions(args)
    if args.mqtt_forget:
        return forget_mqtt_device(args)
    if args.learn is not None:
        from video_classifier.action_library import check_name

        check_name(args.learn)  # a bad name costs no model, camera or window time
    # Teaching from a video file needs no window: it reads the clip's first seconds and exits.
    headless = args.no_display or (args.learn is not None and not is_camera(args.camera or default_camera()))
    if not headless:
        from video_classifier.display import choose_display, use_display

        display = choose_display(args.display)  # before anything slow: fail fast without a screen
        if display.kind == "x11":
            use_display(display.target, display.xauthority)
    classifier = open_classifier(args)
    name = classifier.model.path.stem
    outputs = Outputs()
    ignored: frozenset[str] = frozenset()
    if args.actions:
        from video_classifier.action_library import RESERVED

        ignored = RESERVED  # "nothing taught is close", "something else": no event
    keeper = classifier.scorer.keeper if args.actions else None
    source = pipeline = compositor = viewer = recorder = tutor = publisher = corrector = None
    try:
        # What can fail on bad input is opened before the camera, so a mistake costs no camera time.
        if args.log:
            from video_classifier.json_log import JsonLinesLog

            outputs.add(JsonLinesLog(args.log))
        if args.record:
            from video_classifier.recorder import EventRecorder

            recorder = EventRecorder(
                args.record, args.pre_roll, args.post_roll, args.record_max_mb, model_name=name, confirm_s=args.hold + 1
            )
            outputs.add(recorder)
        if args.mqtt:
            taught = (lambda: [label for label in classifier.labels if label not in ignored]) if args.actions else None
            publisher = outputs.add(mqtt_publisher(args, name, taught))
        if keeper is not None:
            events, corrector = recent_events(args, classifier, recorder.library if recorder else None)
            outputs.add(events)
            keeper.start()
        source = open_camera(args, on_status=outputs.on_camera)
        pipeline = Pipeline(
            source,
            classifier,
            args.fps,
            output=outputs,
            events=EventDetector(outputs, args.threshold, max(1, round(args.hold * args.fps)), ignore=ignored),
            realtime=not headless or args.serve is not None,  # a live view of a file plays at its own pace
            model_delay_s=args.simulate_model_delay_ms / 1000.0,
            max_predictions=args.max_frames,
            frames_watched=not headless or args.serve is not None or args.record is not None,
        )
        controls = Controls(pipeline, corrector)  # one meaning for the keys, MQTT and the live view
        if args.actions and (args.learn is not None or args.serve):
            tutor = outputs.add(teacher(args, classifier, source, when_done=lambda lesson: pipeline.request_stop()))
        note = tutor and (lambda: tutor.status)
        if args.serve or recorder:
            from video_classifier.compositor import Compositor

            compositor = outputs.add(Compositor(pipeline, name, output=outputs, note=note))
        if args.serve:
            clips = recorder.library if recorder else None
            view = outputs.add(live_view(args, pipeline, compositor, clips, tutor, controls, events if keeper else None))
            if publisher:
                publisher.live_view_url = view.url(token=False)  # Home Assistant's link to the device: never the token
        if publisher:
            publisher.control(controls)  # Home Assistant's buttons
        if headless:
            outputs.add(EventAnnouncer())
        print(f"source: {source.name}, model fed at {args.fps:g} fps", file=sys.stderr)
        outputs.start()
        pipeline.start()
        if headless:
            report_headless(pipeline, note=note)
        else:  # the screen is opened last: Viewer.run always closes it (cursor and terminal restored)
            from video_classifier.window import ConsoleScreen, CvWindow, Viewer

            screen = CvWindow(fullscreen=args.fullscreen) if display.kind == "x11" else ConsoleScreen(display.target)
            viewer = Viewer(pipeline, name, screen, note, controls)
            viewer.run()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        if pipeline is not None:
            pipeline.stop()
        # Upstream first, so that each part has been given everything before it is closed: the
        # compositor's last pictures and the end of the event in progress reach the outputs.
        close_all(source, compositor, pipeline.events if pipeline else None, outputs, keeper)
    if pipeline is None:  # stopped before it started
        return 0
    if pipeline.error is not None:
        raise pipeline.error
    if args.learn is not None:
        finish_lesson(args, tutor.lesson, source)
        print(f"{args.actions}:\n{keeper.library.load().summary()}")
    shown = f", {viewer.frames_shown} shown" if viewer else ""
    saved = f", {len(recorder.saved)} clip(s) saved in {args.record}" if recorder else ""
    counts = f"{pipeline.frames_captured} frames read, {pipeline.predictions} classified, {pipeline.skipped} skipped"
    print(f"done: {counts}{shown}{saved}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from utils.stderr_log import log_to_stderr
    from video_classifier.errors import UserError

    args = parse_args(argv)
    log_to_stderr(args.verbose)
    if not args.verbose:
        from utils.quiet import quiet_opencv

        quiet_opencv()
    _stop_on_sigterm()
    try:
        return run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the pipeline started
        return 0
    except BrokenPipeError:  # stdout piped into head: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
