"""What the app is asked to do: one typed field per ``classify.py`` flag.

``options.py`` builds a :class:`Settings` from the command line (its defaults are these); the
tests and the benchmarks build one directly, so that :mod:`video_classifier.app` assembles the
same app for all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from video_classifier import environment

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "models" / "movinet_a0_stream_int8.tflite"
DEFAULT_LABELS = ROOT / "models" / "kinetics600_label_map.txt"
# The memory window, chosen with benchmarks/policies.py (see the README's Continuous use).
WINDOW_S = 60.0
# Teaching defaults, chosen with benchmarks/teach.py (see the README's table).
TEACH_SECONDS = 5.0
TEACH_EXAMPLES = 1
# Action events (--hold, --release, --grace), the release and grace chosen with
# benchmarks/events.py (see the README's "Action events"): a minute of one looped clip gives
# one event, a real switch two.
HOLD_S = 1.0
RELEASE = 0.5  # a fraction of --threshold
GRACE_S = 5.0
# A fresh stream's first answers (after a start, a reset or a camera that came back), without
# temporal context yet, are shown but start no event for this long (6 model frames at 5 fps): over
# 420 cold starts (benchmarks/cold_start.py) they made 67 wrong events, 41 without them (34 of the
# rest: eyeliner read as contact lenses); the right event is told at 2.2 s (median; 1.4 s before),
# its 90th percentile 3.8 s (4.2 s before: a wrong one went first). The context is frames: at a
# lower rate the first SETTLE_FRAMES settle, for at most SETTLE_MAX_S (at 2.5 fps, the same 420
# starts made 84 wrong events settling 1.2 s, 59 settling 6 frames; the right one told at 3.6 s
# instead of 2.4, its 90th percentile 4.8 s either way).
SETTLE_S = 1.2
SETTLE_FRAMES = 6
SETTLE_MAX_S = 2.4
# A lesson's limits (see controls.check_lesson).
MIN_TEACH_SECONDS = 2.0
MAX_TEACH_SECONDS = 60.0
MAX_TEACH_EXAMPLES = 10


def instance_name() -> str:
    """This instance's name when several run on one Pi (``$MOVINET_INSTANCE``, set by the
    ``movinet@NAME`` service), else ``""``."""
    return (environment.value("MOVINET_INSTANCE") or "").strip()


MAX_THREADS = 64  # the model's CPU threads at most (--num-threads)


def default_threads() -> int:
    """The model's CPU threads: ``$MOVINET_NUM_THREADS`` (the service's share of the cores when
    several cameras run), else up to 4."""
    try:
        return min(max(1, int(environment.value("MOVINET_NUM_THREADS") or "")), MAX_THREADS)
    except ValueError:
        return min(4, os.cpu_count() or 1)


def default_topic() -> str:
    """``movinet/HOSTNAME``, and ``-NAME`` for a named instance: each camera its own device (the
    service's first instance, ``main``, keeps the plain name a single camera had before)."""
    host = os.uname().nodename.split(".")[0] or "pi"  # the host name, without importing socket
    name = instance_name()
    return f"movinet/{host}-{name}" if name not in ("", "main") else f"movinet/{host}"


@dataclass(frozen=True)
class Settings:
    """Everything one run of the app needs to know; the defaults are the command line's.

    Secrets (a camera URL with a password, the broker's password, the live view's token) are left
    out of ``repr`` so that a settings object printed by mistake shows none of them.
    """

    # camera or video (each section of fields is a section of flags: options.SECTIONS)
    camera: str | None = field(default=None, repr=False)  # None: picamera2 when installed, else 0
    loop: bool = False
    width: int = 640
    height: int = 480
    camera_fps: float = 30.0
    camera_timeout: float = 30.0
    hflip: bool = False
    vflip: bool = False
    rtsp_transport: str = "tcp"
    # model
    model: str | Path = DEFAULT_MODEL
    labels: str | Path | None = None
    runtime: str = "auto"
    num_threads: int = field(default_factory=default_threads)
    fps: float = 5.0
    window: float | None = None  # seconds remembered; None: WINDOW_S, or with --actions the taught examples' length
    crop: str = "center"
    region: tuple[int, int, int, int] | None = None  # X,Y,W,H in pixels of the camera picture
    region_auto: bool = False  # --region auto: the model watches where the action is (within region)
    top_k: int = 3
    smooth: float = 0.0
    # display
    no_display: bool = False
    display: str | None = None
    fullscreen: bool = False
    # output and events
    log: str | None = None
    log_max_mb: float = 100.0
    max_frames: int | None = None
    threshold: float = 0.4
    hold: float = HOLD_S
    release: float = RELEASE
    grace: float = GRACE_S
    record: str | None = None
    record_max_mb: float = 1000.0
    pre_roll: float = 3.0
    post_roll: float = 3.0
    verbose: bool = False
    # teach mode: your own actions
    actions: str | None = None
    learn: str | None = None
    seconds: float = TEACH_SECONDS
    examples: int = TEACH_EXAMPLES
    list_actions: bool = False
    forget: str | None = None
    list_events: bool = False
    correct: str | None = None
    as_name: str | None = None
    # MQTT (Home Assistant)
    mqtt: str | None = None
    mqtt_topic: str = field(default_factory=default_topic)
    mqtt_user: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)
    mqtt_tls: bool = False
    mqtt_ca: str | None = None
    mqtt_forget: bool = False
    # browser live view
    serve: str | None = None
    serve_token: str | None = field(default=None, repr=False)
    # test hooks: a slower board; a video file played at its own pace (True) or as fast as the
    # model goes (False) whatever watches it (None: at its own pace when a window or live view does)
    simulate_model_delay_ms: float = 0.0
    realtime: bool | None = None

    @property
    def window_s(self) -> float:
        """Seconds the model remembers (0: everything since start)."""
        if self.window is not None:
            return self.window
        return self.seconds if self.actions else WINDOW_S

    @property
    def window_frames(self) -> int:
        """The memory window in model frames (0: everything; a window above 0 is at least a frame,
        not everything)."""
        return _frames(self.window_s, self.fps)

    @property
    def taught_window(self) -> int | None:
        """With ``--actions``, the model frames compared with the taught examples: ``--window``,
        or None to follow the examples' length (see :func:`video_classifier.teach.scorer.taught_window`)."""
        return _frames(self.window, self.fps) if self.window is not None else None

    @property
    def model_flag(self) -> str | None:
        """The ``--model`` a command the app suggests must repeat (None: the default model)."""
        return None if Path(self.model).resolve() == DEFAULT_MODEL.resolve() else str(self.model)

    @property
    def job(self) -> str | None:
        """A job that runs instead of the camera (``--list-actions`` and the like), or None."""
        for flag, given in (
            ("list-actions", self.list_actions),
            ("forget", self.forget),
            ("list-events", self.list_events),
            ("correct", self.correct is not None),
            ("mqtt-forget", self.mqtt_forget),
        ):
            if given:
                return flag
        return None


def _frames(seconds: float, fps: float) -> int:
    """Seconds as model frames at ``fps``: 0 stays 0, anything above is at least one frame."""
    return max(1, round(seconds * fps)) if seconds > 0 else 0


DEFAULTS = Settings()  # every flag's default
