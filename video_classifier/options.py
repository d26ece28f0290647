"""The command line of ``classify.py``: every flag, its default and its check.

A bad flag gives one ``error:`` line and exit status 2, like every other mistake a user can make.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import fields

from video_classifier import environment
from video_classifier.controls import LESSON_EXAMPLES, LESSON_SECONDS
from video_classifier.flag_checks import check_camera, check_log, check_names, check_needs
from video_classifier.flag_parser import CliParser, HelpFormatter, _number
from video_classifier.model.preprocess import CROP_CHOICES
from video_classifier.model.runtime import RUNTIME_CHOICES
from video_classifier.region import AUTO, CONVENTION, parse_region
from video_classifier.settings import DEFAULT_LABELS, DEFAULT_MODEL, DEFAULTS, MAX_THREADS, ROOT, WINDOW_S, Settings
from video_classifier.sources.camera_url import is_camera, is_network

_INF = float("inf")
MAX_WINDOW_FRAMES = 18_000  # the longest memory window, in model frames (an hour at 5 fps; 35 MB for A0)
_positive_int = _number(int, "a whole number of at least 1", lambda v: v >= 1)
_positive_float = _number(float, "a number above 0", lambda v: 0 < v < _INF)
# More threads than this only slow the model down (1,000: 25 times slower here), and 100,000 crash the runtime.
_threads = _number(int, f"a whole number from 1 to {MAX_THREADS}", lambda v: 1 <= v <= MAX_THREADS)
_megabytes = _number(float, "a number above 0 and at most 1e+09 (a petabyte)", lambda v: 0 < v <= 1e9)
_log_megabytes = _number(float, "a number from 0 (no bound) to 1e+09 (a petabyte)", lambda v: 0 <= v <= 1e9)
_non_negative_float = _number(float, "a number of at least 0", lambda v: 0 <= v < _INF)
_teach_seconds = _number(float, f"seconds from {LESSON_SECONDS}", lambda v: v in LESSON_SECONDS)
_teach_examples = _number(int, f"a whole number from {LESSON_EXAMPLES}", lambda v: v in LESSON_EXAMPLES)
_probability = _number(float, "a number above 0 and at most 1", lambda v: 0 < v <= 1)
_weight = _number(float, "a weight from 0 to below 1", lambda v: 0 <= v < 1)
_milliseconds = _number(float, "milliseconds of at least 0", lambda v: 0 <= v < _INF)
# The models were trained at 5 frames a second: at a frame every few seconds their features no
# longer follow a movement, and a window of a few frames spans minutes.
MIN_MODEL_FPS = 0.5
_model_fps = _number(
    float, f"frames per second of at least {MIN_MODEL_FPS} (the models were trained at 5)", lambda v: MIN_MODEL_FPS <= v < _INF
)
# The pictures before an event are held in memory until it comes: 1080p at 30 fps is about 3 MB a
# second (JPEG at the live view's quality), so a minute is 170 MB and an hour would be 10 GB.
MAX_PRE_ROLL_S = 60
_pre_roll = _number(
    float, f"seconds from 0 to {MAX_PRE_ROLL_S} (held in memory until the event)", lambda v: 0 <= v <= MAX_PRE_ROLL_S
)


EXAMPLES = """examples:
  classify.py                                               Pi camera -> the HDMI monitor
  classify.py --camera clip.mp4                             a video file in a window
  classify.py --camera clip.mp4 --no-display --log -        JSON lines per model frame
  classify.py --camera clip.mp4 --loop --serve 8000         live view of a clip in a browser
  classify.py --no-display --serve 0.0.0.0:8000 --mqtt homeassistant.local --record clips/
  classify.py --actions actions.json --learn "feeding the cat"   teach your own action
  classify.py --actions actions.json --correct last               the newest event was wrong
"""


def build_parser(description: str = "") -> CliParser:
    """Every flag, grouped by task, with its check and default (those of :class:`Settings`).

    ``@FILE`` stands for the arguments in FILE, one per line or a flag and its value on one
    (:meth:`CliParser._file_arguments`): a service keeps its flags there, so that a camera URL
    with a password is not shown by ``ps``.
    """
    p = CliParser(description=description, formatter_class=HelpFormatter, epilog=EXAMPLES, fromfile_prefix_chars="@")
    for title, add_flags in SECTIONS:
        add_flags(p.add_argument_group(title))
    # Test hook: makes every model frame this much slower, to rehearse a slow board.
    p.add_argument("--simulate-model-delay-ms", type=_milliseconds, help=argparse.SUPPRESS)
    # Test hook: a video file plays at its own pace (or as fast as the model goes) whatever watches it.
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, help=argparse.SUPPRESS)
    p.set_defaults(**{f.name: getattr(DEFAULTS, f.name) for f in fields(Settings)})
    return p


def _camera_flags(group) -> None:
    """The camera or video flags."""
    group.add_argument(
        "--camera",
        metavar="SOURCE",
        help="'picamera2', a USB camera index (0, 1, ...), a video file, or an IP camera's rtsp:// or http:// URL "
        "(default: $MOVINET_CAMERA, else picamera2 when installed, else 0)",
    )
    group.add_argument("--loop", action="store_true", help="play a video file again and again (a demo of the live view)")
    group.add_argument("--width", type=_positive_int, metavar="W", help="camera frame width")
    group.add_argument("--height", type=_positive_int, metavar="H", help="camera frame height")
    group.add_argument("--camera-fps", type=_positive_float, metavar="FPS", help="Pi camera frame rate")
    group.add_argument(
        "--camera-timeout",
        type=_non_negative_float,
        metavar="SECONDS",
        help="how long to keep trying to reconnect a lost camera before giving up",
    )
    group.add_argument(
        "--rtsp-transport",
        choices=("tcp", "udp"),
        help="how an rtsp:// camera sends its video: tcp loses nothing on Wi-Fi, udp may be faster on a cable",
    )
    group.add_argument("--hflip", action="store_true", help="mirror the Pi camera image")
    group.add_argument("--vflip", action="store_true", help="flip the Pi camera image upside down")


def _model_flags(group) -> None:
    """The model flags."""
    group.add_argument(
        "--model",
        metavar="FILE",
        help=f"MoViNet stream .tflite model (default: {DEFAULT_MODEL.relative_to(ROOT)})",
    )
    group.add_argument(
        "--labels",
        metavar="FILE",
        help=f"label file, one per line (default: labels embedded in the model, else {DEFAULT_LABELS.relative_to(ROOT)})",
    )
    group.add_argument("--runtime", choices=RUNTIME_CHOICES, help="TFLite runtime to use")
    group.add_argument("--num-threads", type=_threads, metavar="N", help="CPU threads for the model")
    group.add_argument(
        "--fps",
        type=_model_fps,
        metavar="FPS",
        help="frames per second given to the model (the models were trained at 5)",
    )
    group.add_argument(
        "--window",
        type=_non_negative_float,
        metavar="SECONDS",
        help=f"the model remembers this many seconds, cut to 2.4 s when a new action takes the top "
        f"(default {WINDOW_S:g}; 0: everything since start or reset); with --actions, the seconds compared "
        "with the examples (default: as long as the taught examples, their median; --seconds until one is taught)",
    )
    group.add_argument("--crop", choices=CROP_CHOICES, help="centre square crop, or squash the whole frame")
    group.add_argument(
        "--region",
        action="append",
        metavar="X,Y,W,H|auto",
        help=f"the model sees only this part of the picture, then its --crop: {CONVENTION}; 'auto': where "
        "the action is, found from what moves (give both to keep auto within the region); a region drawn in the "
        "live view replaces X,Y,W,H until it is cleared there",
    )
    group.add_argument("--top-k", type=_positive_int, metavar="K", help="how many actions to show")
    group.add_argument(
        "--smooth",
        type=_weight,
        metavar="WEIGHT",
        help="exponential smoothing of the scores, weight of the past in [0, 1) (0: off)",
    )


def _display_flags(group) -> None:
    """The display flags."""
    group.add_argument("--no-display", action="store_true", help="no window: print actions to stderr")
    group.add_argument(
        "--display",
        metavar="DISPLAY",
        help="X display for the window (:0), or 'fb' or a device (/dev/fb0) for the console "
        "(default: the local desktop, else the console framebuffer)",
    )
    group.add_argument("--fullscreen", action="store_true", help="start the window full screen")


def _output_flags(group) -> None:
    """The output and events flags."""
    group.add_argument(
        "--log", metavar="FILE|-", help="write a JSON line per prediction, event, reset, camera loss and correction"
    )
    group.add_argument(
        "--log-max-mb",
        type=_log_megabytes,
        metavar="MB",
        help="a log file this big is renamed FILE.1 (replacing the one before) and a new one begun; 0: never",
    )
    group.add_argument("--max-frames", type=_positive_int, metavar="N", help="stop after this many model frames")
    group.add_argument(
        "--threshold",
        type=_probability,
        metavar="SCORE",
        help="an action event starts when the top action holds this score for --hold seconds",
    )
    group.add_argument("--hold", type=_positive_float, metavar="SECONDS", help="how long an action must hold")
    group.add_argument(
        "--release",
        type=_probability,
        metavar="FRACTION",
        help="an event ends once its action scores under this fraction of --threshold (or another action "
        "holds the threshold) for --grace seconds",
    )
    group.add_argument(
        "--grace",
        type=_non_negative_float,
        metavar="SECONDS",
        help="how long an event outlasts a dip; another action must hold this long to replace it",
    )
    group.add_argument("--record", metavar="DIR", help="save an MP4 clip and a JSON file for every action event")
    group.add_argument("--record-max-mb", type=_megabytes, metavar="MB", help="disk space for clips; the oldest go first")
    group.add_argument("--pre-roll", type=_pre_roll, metavar="SECONDS", help="clip time before an event")
    group.add_argument("--post-roll", type=_non_negative_float, metavar="SECONDS", help="clip time after an event")
    group.add_argument("--verbose", action="store_true", help="debug lines, and what the runtime, OpenCV and FFmpeg say")


def _teach_flags(group) -> None:
    """The teach mode: your own actions flags."""
    group.add_argument("--actions", metavar="FILE", help="recognise the actions taught in this file (JSON)")
    group.add_argument("--learn", metavar="NAME", help="teach the action NAME from the camera or a video file, then exit")
    group.add_argument(
        "--seconds",
        type=_teach_seconds,
        metavar="SECONDS",
        help="seconds in one example (a video: its first ones)",
    )
    group.add_argument("--examples", type=_teach_examples, metavar="N", help="examples to record, one after another")
    group.add_argument("--list-actions", action="store_true", help="print the actions in --actions FILE and exit")
    group.add_argument("--forget", metavar="NAME", help="delete the action NAME from --actions FILE and exit")
    group.add_argument(
        "--list-events",
        action="store_true",
        help="print the recent events of taught actions (id, start, label, peak, seconds, clip, correction) and exit",
    )
    group.add_argument(
        "--correct",
        metavar="ID",
        help="correct the event ID (from --list-events, the log, MQTT or the live view; 'last': the newest), then exit",
    )
    group.add_argument(
        "--as",
        dest="as_name",
        metavar="NAME",
        help="with --correct: what the event really was: 'wrong' (something else, taught as 'other'; the default), "
        "'right', an action's name (taught or new), or 'undo' (take the correction back)",
    )


def _mqtt_flags(group) -> None:
    """The MQTT (Home Assistant) flags."""
    group.add_argument("--mqtt", metavar="HOST[:PORT]", help="publish actions and events to this MQTT broker")
    group.add_argument("--mqtt-topic", metavar="PREFIX", help="prefix of the topics published (default: movinet/HOSTNAME)")
    group.add_argument("--mqtt-user", metavar="USER", help="user name for the broker")
    group.add_argument("--mqtt-password", metavar="PASSWORD", help="password for the broker (default: $MQTT_PASSWORD)")
    group.add_argument("--mqtt-tls", action="store_true", help="connect with TLS (port 8883 unless given)")
    group.add_argument("--mqtt-ca", metavar="FILE", help="CA certificate of the broker (implies --mqtt-tls)")
    group.add_argument(
        "--mqtt-forget", action="store_true", help="remove this device (of --mqtt-topic) from Home Assistant, then exit"
    )


def _live_view_flags(group) -> None:
    """The browser live view flags."""
    group.add_argument(
        "--serve",
        metavar="[HOST:]PORT",
        help="live view in a browser on this port; 127.0.0.1 unless a host is given (0.0.0.0: every network)",
    )
    group.add_argument(
        "--serve-token",
        metavar="TOKEN",
        help="token the live view asks for (default: $MOVINET_SERVE_TOKEN, else a random one when not on 127.0.0.1)",
    )


# The flags section by section, in the order of --help and of the sections of Settings.
SECTIONS = (
    ("camera or video", _camera_flags),
    ("model", _model_flags),
    ("display", _display_flags),
    ("output and events", _output_flags),
    ("teach mode: your own actions", _teach_flags),
    ("MQTT (Home Assistant)", _mqtt_flags),
    ("browser live view", _live_view_flags),
)


def _region(p: CliParser, given: list[str]) -> tuple[tuple[int, int, int, int] | None, bool]:
    """``--region`` (given once, or twice as a box and ``auto``): the box and whether auto."""
    auto = [text for text in given if text.strip().lower() == AUTO]
    boxes = [text for text in given if text.strip().lower() != AUTO]
    if len(auto) > 1 or len(boxes) > 1:
        p.error("--region: give one X,Y,W,H and/or auto (auto then stays within X,Y,W,H)")
    if not boxes:
        return None, bool(auto)
    try:
        region = parse_region(boxes[0])
    except ValueError as exc:
        p.error(f"--region: {exc}")
    return (region.x, region.y, region.w, region.h), bool(auto)


def parse_settings(argv: list[str] | None = None, description: str = "") -> Settings:
    """The app's flags, checked, as :class:`Settings`: a bad value exits 2 with one ``error:`` line."""
    p = build_parser(description)
    args = p.parse_args(argv)
    # An empty value is an unset shell variable (--log "$LOGFILE") more often than a choice; it
    # was taken as no log, no clips, no MQTT, no live view, the first camera or the current folder.
    for flag in ("model", "labels", "actions", "log", "record", "mqtt", "mqtt_user", "mqtt_ca", "serve", "camera"):
        if getattr(args, flag) is not None and not str(getattr(args, flag)).strip():
            p.error(f"--{flag.replace('_', '-')} is empty (an unset shell variable?): give a value or leave the flag out")
    flags = [("--learn", args.learn is not None), ("--list-actions", args.list_actions), ("--forget", args.forget is not None)]
    flags += [("--list-events", args.list_events), ("--correct", args.correct is not None)]
    for flag, given in flags:
        if given and not args.actions:
            p.error(f"{flag} needs --actions FILE, the file the taught actions are kept in (for example actions.json)")
    chosen = [flag for flag, given in flags if given]
    if len(chosen) > 1:
        p.error(f"{' and '.join(chosen)} are two different jobs: give one of them at a time")
    check_needs(p, args)
    if args.as_name is not None and args.correct is None:
        p.error("--as says what an event was: give the event with --correct ID")
    if args.correct is not None:
        if not args.correct.strip():
            p.error("--correct needs an event id (from --list-events) or 'last'")
        args.correct = args.correct.strip()
        if args.as_name is not None and not args.as_name.strip():
            p.error("--as needs what the event was: wrong, right, undo or an action's name (leave --as out for wrong)")
        args.as_name = args.as_name or "wrong"
    where = "--camera"
    if args.camera is None:
        args.camera = environment.value("MOVINET_CAMERA")  # keeps a URL with a password out of `ps`
        where = "$MOVINET_CAMERA"
    check_names(p, args, where)
    if args.camera is not None:
        check_camera(p, args.camera.strip(), where)
        args.camera = args.camera.strip() if is_network(args.camera.strip()) else args.camera
    if args.log is not None:
        check_log(p, args, where)
    if args.loop and (args.camera is None or is_camera(args.camera)):
        p.error("--loop plays a video file again and again: give one with --camera FILE")
    if args.mqtt_forget and not args.mqtt:
        p.error("--mqtt-forget needs --mqtt HOST, the broker Home Assistant listens to")
    if args.actions and args.window == 0:
        p.error("--actions compares the last seconds with what was taught: give --window a length above 0")
    args.region, args.region_auto = _region(p, args.region or [])
    settings = Settings(**vars(args))
    frames = settings.window_s * settings.fps  # a float: 1e308 x 5 is infinite, not an error
    if frames > MAX_WINDOW_FRAMES + 0.5:  # its frames are kept in memory and pooled every frame
        p.error(
            f"a window of {settings.window_s:g} s at {settings.fps:g} frames a second is "
            f"{f'{frames:.6g}' if math.isfinite(frames) else 'countless'} model "
            f"frames to remember, over the {MAX_WINDOW_FRAMES} allowed (an hour at 5 fps): give a shorter --window "
            "(or a lower --fps: the models were trained at 5)"
        )
    return settings
