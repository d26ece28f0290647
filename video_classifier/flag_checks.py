"""Checks of the flags against each other and the file system, after they are parsed: each says
what is wrong in one ``error:`` line (:meth:`CliParser.error`)."""

from __future__ import annotations

import argparse
import errno
import os
import re
from pathlib import Path

from video_classifier import environment
from video_classifier.errors import cut
from video_classifier.flag_parser import CliParser
from video_classifier.settings import DEFAULT_LABELS, DEFAULTS
from video_classifier.sources.camera_url import is_network, problem, redacted, unknown_scheme


def check_names(p: CliParser, args: argparse.Namespace, where: str) -> None:
    """Refuse a file's name that is not UTF-8 or too long for the file system, showing it, and any
    other value that is not UTF-8, not shown (it may be a password). ``where``: the camera's flag."""
    for flag in ("model", "labels", "actions", "log", "record", "mqtt_ca", "camera"):
        value = getattr(args, flag)
        name = where if flag == "camera" else p.flag_of(flag)
        if isinstance(value, str) and _not_utf8(value):
            if flag == "camera" and _url_like(value):  # a camera's URL (its scheme mistyped too) may hold a password
                p.error(f"{name}: the URL is not UTF-8 text: write it in UTF-8")
            # Its bytes are shown as \xe9 by the parser's error(), as in every flag's message.
            p.error(f"{name} {cut(value)}: the name is not UTF-8 text: rename it (convmv does), or give another path")
        if isinstance(value, str) and not is_network(value.strip()) and _too_long(value):
            p.error(f"{name} {cut(value)}: a name longer than the file system takes: give a shorter path")
    # The broker's password (when there is a broker) and the instance's name, in topics and files.
    password_from_environment = args.mqtt and args.mqtt_password is None
    for variable in ("MQTT_PASSWORD", "MOVINET_INSTANCE") if password_from_environment else ("MOVINET_INSTANCE",):
        if _not_utf8(environment.value(variable) or ""):  # not shown: a password
            p.error(f"${variable}: the value is not UTF-8 text: set it in UTF-8")
    for dest, value in vars(args).items():  # any other text (a broker's login, a topic) goes out as UTF-8
        if isinstance(value, str) and _not_utf8(value):
            p.error(f"{p.flag_of(dest)}: the value is not UTF-8 text: write it in UTF-8")


def _url_like(value: str) -> bool:
    """Whether ``value`` is written as a URL, its scheme mistyped or not (``rstp:/cam?pass=...``),
    or holds a login (``user:password@``): never shown then."""
    text = value.strip()
    return is_network(text) or unknown_scheme(text) is not None or re.search(r":[^/]*@", text) is not None


def _too_long(path: str) -> bool:
    """Whether ``path`` is too long to name a file (a name over 255 bytes, a path over 4096)."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ENAMETOOLONG
    except ValueError:  # a NUL character: argparse cannot receive one, a file of flags could
        return False
    return False


def _not_utf8(value: str) -> bool:
    """Whether ``value`` holds bytes that are not UTF-8 (a name from an old camera's card or a
    Windows share): OpenCV and the runtime take names as UTF-8 (OpenCV's video writer crashed)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_camera(p: CliParser, spec: str, where: str) -> None:
    """Refuse an IP camera's URL that cannot work as written, quoting none of it (a password)."""
    if is_network(spec):
        why = problem(spec)
        if why:
            p.error(f"{where}: {redacted(spec)}: {why}")
    elif (scheme := unknown_scheme(spec)) and not Path(spec).exists():
        p.error(
            f"{where}: {scheme}:/... is not an IP camera's URL: write rtsp://, rtsps://, http:// or https:// "
            "(or give a video file that exists)"
        )


def check_log(p: CliParser, args: argparse.Namespace, where: str) -> None:
    """Refuse a ``--log`` that is one of the run's own input files (the default labels too, and
    stdout for ``--log -``: ``--log - >> clip.mp4``): the log would be written into it."""
    labels = ("the file given with --labels", args.labels) if args.labels else ("the default labels file", DEFAULT_LABELS)
    inputs = [(f"the file given with {where}", args.camera), ("the file given with --model", args.model), labels]
    inputs.append(("the file given with --actions", args.actions))
    log, shown = ("/dev/stdout", "- (standard output)") if args.log == "-" else (args.log, cut(args.log))
    for what, value in inputs:
        if value is not None and _same_file(log, value):
            p.error(f"--log {shown} is {what}: the log would be written into it: give another")


def _same_file(a: str | Path, b: str | Path) -> bool:
    """Whether the paths ``a`` and ``b`` name one file that exists (through links too)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # either is missing, or no path at all (a camera's index, a URL)
        return False


# Flags that mean something only beside another: given alone, the other was forgotten, and the
# run went on without it (a --mqtt-user without --mqtt: no MQTT, and Home Assistant saw nothing).
# A flag counts as given when its value differs from the default.
NEEDS = (
    (("mqtt_topic", "mqtt_user", "mqtt_password", "mqtt_tls", "mqtt_ca"), ("mqtt",), "--mqtt HOST, the broker to publish to"),
    (("serve_token",), ("serve",), "--serve PORT, the live view it guards"),
    (("log_max_mb",), ("log",), "--log FILE, the log it keeps in bounds"),
    (("record_max_mb", "pre_roll", "post_roll"), ("record",), "--record DIR, the folder clips are saved in"),
    (("examples",), ("learn",), "--learn NAME, the action to teach"),
    (("seconds",), ("learn", "actions"), "--learn NAME or --actions FILE, the taught actions it is for"),
)


def check_needs(p: CliParser, args: argparse.Namespace) -> None:
    """One error line for a flag given without the flag it belongs to (:data:`NEEDS`)."""
    for names, parents, parent in NEEDS:
        if any(getattr(args, name) not in (None, False) for name in parents):
            continue
        for name in names:
            if getattr(args, name) != getattr(DEFAULTS, name):
                flag = p.flag_of(name)
                p.error(f"{flag} goes with {parent}: add that, or leave {flag} out")
    if args.log == "-" and args.log_max_mb != DEFAULTS.log_max_mb:
        p.error("--log-max-mb bounds a log file, and --log - writes to standard output: give --log a file or leave it out")
