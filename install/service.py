"""Install classify.py as systemd services, one instance per camera: ``movinet@NAME``.

    python -m install.service install NAME [--desktop | --console] [--user USER] [--python FILE]
                                           [--root DIR] [--cores N] [--dry-run] [-- classify.py flags...]
    python -m install.service remove NAME [--desktop] [--root DIR] [--cores N] [--dry-run]

One template, ``movinet@.service``, serves every instance and is rewritten on each install. An
instance's flags are in ``/etc/movinet/NAME.args``, one per line, readable only by the user the
service runs as, so a camera password stays out of the unit, ``systemctl status`` and ``ps``.
``/etc/movinet/threads.env`` shares the cores among the instances (``MOVINET_NUM_THREADS``).

With ``--desktop`` the instances are *user* services (files under ``~/.config/systemd/user`` and
``~/.config/movinet``) started with the graphical session, so the window opens on the HDMI monitor.
Otherwise they are *system* services started at boot (no login needed), writing actions to the
journal and to ``logs/NAME.jsonl``: ``--no-display``, or with ``--console`` the picture on the HDMI
monitor's console framebuffer (Pi OS Lite).

Nothing here calls systemctl: ``setup.sh --install-service NAME`` and ``--remove-service NAME`` run
this, then start or stop the instance. ``--root DIR`` writes under DIR instead of / (with
``--desktop``: instead of your home folder). ``--dry-run`` makes every check against what is
installed and prints the files it would write, with their text, and changes nothing.
"""

from __future__ import annotations

import argparse
import functools
import os
import pwd
import re
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from video_classifier.sources import default_camera
from video_classifier.sources.camera_url import identity, is_network, redacted

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "movinet@.service"
THREADS = "threads.env"
# The first character is not '-': setup.sh, systemctl and journalctl would read the name as an option.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
# What two instances cannot share, and how an error names it.
SHARED = {"--camera": "camera", "--serve": "live view port", "--actions": "actions file", "--record": "clips folder"}
# Values a dry run does not print (they are in the args file, readable only by the service's user).
SECRET_FLAGS = ("--mqtt-password", "--serve-token")


class InstallError(Exception):
    """A mistake in what was asked: its text is the ``error:`` line."""


@dataclass(frozen=True)
class Layout:
    """Where the template, the args files and the thread budget are written."""

    units: Path
    conf: Path

    @classmethod
    def of(cls, desktop: bool, root: Path | None = None) -> Layout:
        """System service files under ``root`` (default /), user service files under ``root`` (default ~)."""
        if desktop:
            home = root or Path.home()
            return cls(home / ".config" / "systemd" / "user", home / ".config" / "movinet")
        base = root or Path("/")
        return cls(base / "etc" / "systemd" / "system", base / "etc" / "movinet")

    @property
    def template(self) -> Path:
        """The one unit file every instance runs from."""
        return self.units / TEMPLATE

    @property
    def threads(self) -> Path:
        """The environment file with every instance's share of the cores."""
        return self.conf / THREADS

    def args_file(self, name: str) -> Path:
        """Instance ``name``'s flags, one per line."""
        return self.conf / f"{name}.args"

    def instances(self) -> list[str]:
        """The names of the installed instances, sorted."""
        return sorted(p.stem for p in self.conf.glob("*.args") if NAME.fullmatch(p.stem))


def mode_flags(desktop: bool, console: bool) -> list[str]:
    """The flags the unit gives every instance before its own: where the picture and the log go."""
    log = ["--log", str(ROOT / "logs" / "%i.jsonl")]
    return ["--display", ":0"] if desktop else ["--display", "fb", *log] if console else ["--no-display", *log]


def unit_text(python: Path, conf: Path, desktop: bool, user: str, console: bool = False) -> str:
    """The template unit's text: instance NAME runs classify.py with the flags in ``conf/NAME.args``."""
    # The mode's flags come first, so that the instance's own flags (after them) win.
    command = shlex.join([str(python), str(ROOT / "classify.py"), *mode_flags(desktop, console), f"@{conf}/%i.args"])
    lines = [
        "[Unit]",
        "Description=MoViNet action recognition, instance %i (classify.py)",
        "After=graphical-session.target" if desktop else "After=network-online.target",
        *([] if desktop else ["Wants=network-online.target"]),  # --mqtt and --serve need the network up
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={ROOT}",
        f"ExecStart={command}",
        # MOVINET_INSTANCE names the instance's MQTT device; threads.env shares the cores among the instances.
        "Environment=PYTHONUNBUFFERED=1 MOVINET_INSTANCE=%i",
        f"EnvironmentFile=-{conf / THREADS}",
        # Exit 2 (camera lost for good, bad input) and crashes restart after 5 s; a clean stop does not.
        "Restart=on-failure",
        "RestartSec=5",
        "TimeoutStopSec=10",
    ]
    if not desktop:
        # video: the camera and /dev/fb0; tty: the console, to hide its cursor over the picture.
        lines += [f"User={user}", "SupplementaryGroups=video tty" if console else "SupplementaryGroups=video"]
    lines += ["", "[Install]", "WantedBy=graphical-session.target" if desktop else "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def check_name(name: str) -> None:
    """Refuse a name that cannot name an instance, saying what can."""
    if "://" in name:  # not repeated: it may hold a password
        raise InstallError("the instance name is a URL: a camera goes after --, e.g. install door -- --camera URL")
    if not NAME.fullmatch(name):
        raise InstallError(
            f"instance name {name!r}: use 1 to 32 letters, digits, '_' or '-', starting with a letter or digit (e.g. garden)"
        )


def check_args(args: list[str]) -> None:
    """Refuse flags that the args file, read back by classify.py, would not give back as they are."""
    for i, arg in enumerate(args):
        # The values are not shown: they may hold a password.
        flag = args[i - 1] if i and args[i - 1].startswith("--") else arg.partition("=")[0] if "=" in arg else None
        what = f"the value of {flag}" if flag and flag.startswith("--") else f"argument {i + 1} after --"
        if len(f"x{arg}x".splitlines()) > 1:  # the same line breaks as argparse's reading of the file
            raise InstallError(f"{what} contains a line break; the args file holds one argument per line: remove it")
        if arg.startswith("@"):
            raise InstallError(f"{what} starts with @, which classify.py reads as a file of flags: write {flag or '--flag'}=@...")


def check_flags(flags: list[str], mode: Sequence[str] = (), where: str = " (in the classify.py flags after --)") -> None:
    """Refuse flags classify.py itself would refuse after the unit's ``mode`` flags (a typo would
    make a service that fails at every start), with classify.py's own words and ``where``."""
    from video_classifier.errors import FlagError
    from video_classifier.options import parse_settings

    try:
        parse_settings([*mode, *flags])
    except FlagError as exc:
        raise InstallError(f"{exc.reason}{where}") from None


def warn_refused(others: dict[str, list[str]], layout: Layout, mode: Sequence[str]) -> None:
    """Say which installed instances' flags this version of classify.py refuses (one installed by
    an older version, with a flag it now refuses): each fails at every start until its args file
    is fixed. A warning: this install does not change them."""
    for other, flags in sorted(others.items()):
        try:
            check_flags(flags, mode, where="")
        except InstallError as exc:
            print(f"warning: instance {other} fails at every start: {exc} (fix {layout.args_file(other)})", file=sys.stderr)


class _FlagReader(argparse.ArgumentParser):
    """Reads the shared flags out of an instance's flags, as classify.py would (last one wins)."""

    def __init__(self) -> None:
        super().__init__(add_help=False)
        for flag in SHARED:
            self.add_argument(flag)

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise InstallError(f"{message} (in the classify.py flags after --)")


def held(args: list[str]) -> dict[str, str]:
    """What these flags hold that no other instance may hold, as comparable values: flag -> value."""
    values = vars(_FlagReader().parse_known_args(args)[0])
    found: dict[str, str] = {}
    for flag in SHARED:
        value = values[flag.removeprefix("--")]
        if flag == "--camera":
            value = value or default_camera()
            if value.isdigit():
                found[flag] = str(int(value))
            elif is_network(value):  # one camera however its URL is written (login, default port, case)
                found[flag] = identity(value)
            elif value == "picamera2" or "://" in value:
                found[flag] = value
            else:  # a video file: paths are relative to the service's working folder
                found[flag] = str((ROOT / value).resolve())
        elif value is None:
            continue
        elif flag == "--serve":  # 8000, 127.0.0.1:8000 and 0.0.0.0:8000 all take port 8000
            found[flag] = value.rpartition(":")[2]
        else:
            found[flag] = str((ROOT / value).resolve())
    return found


def _shown(value: str) -> str:
    """A value fit for an error line: a URL without its login or query."""
    return redacted(value) if is_network(value) else value


def shown_args(flags: list[str]) -> list[str]:
    """``flags`` fit to print: a camera URL without its login or query, a password or token hidden."""
    shown = []
    for i, arg in enumerate(flags):
        flag, eq, value = arg.partition("=")
        if i and _secret(flags[i - 1]):
            shown.append("(hidden)")
        elif arg.startswith("--") and eq:
            shown.append(f"{flag}={'(hidden)' if _secret(flag) else _shown(value)}")
        else:
            shown.append(_shown(arg))
    return shown


def _secret(flag: str) -> bool:
    """Whether ``flag`` is a secret's flag, or an abbreviation classify.py takes for one (``--mqtt-pass``)."""
    return _classify_parser().option_for(flag) in SECRET_FLAGS


@functools.cache
def _classify_parser():
    """classify.py's parser, which knows its flags and their abbreviations."""
    from video_classifier.options import build_parser

    return build_parser()


def would_write(path: Path, text: str, mode: int, note: str = "") -> str:
    """A dry run's account of one file: where, with what mode, and its text, indented."""
    body = "\n".join(f"    {line}" if line else "" for line in text.splitlines())
    return f"would write {path} (mode {mode:04o}{note}):\n{body}"


def check_shared(name: str, args: list[str], others: dict[str, list[str]], remove_hint: str) -> None:
    """Refuse flags that would share a camera, port, actions file or clips folder with another instance."""
    mine = held(args)
    for other, other_args in others.items():
        theirs = held(other_args)
        for flag, what in SHARED.items():
            if flag in mine and mine[flag] == theirs.get(flag):
                raise InstallError(
                    f"instance {other} already uses the {what} {_shown(mine[flag])} ({flag}); give {name} another, "
                    f"or remove {other} first ({remove_hint.format(other)})"
                )


def read_args(path: Path) -> list[str]:
    """An args file's arguments, as classify.py reads them (one per line)."""
    return path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()


def _write(path: Path, text: str, mode: int, owner: tuple[int, int] | None = None) -> None:
    """Write ``text`` to ``path`` whole or not at all, with ``mode`` (and ``owner``) from the start."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            os.fchmod(f.fileno(), mode)
            if owner:
                os.fchown(f.fileno(), *owner)
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def thread_budget(cores: int, instances: int) -> int:
    """Model threads per instance: the cores shared out, at least one each."""
    return max(1, cores // max(1, instances))


def threads_text(cores: int, count: int) -> str:
    """The thread budget's file for ``count`` instances on ``cores`` cores."""
    note = f"# Rewritten by setup.sh --install-service and --remove-service: {cores} cores, {count} instance(s)."
    return f"{note}\nMOVINET_NUM_THREADS={thread_budget(cores, count)}\n"


def write_threads(layout: Layout, cores: int) -> str:
    """Rewrite the thread budget for the installed instances; a line saying what it is."""
    count = len(layout.instances())
    _write(layout.threads, threads_text(cores, count), 0o644)
    return f"{count} instance(s) on {cores} cores: MOVINET_NUM_THREADS={thread_budget(cores, count)} in {layout.threads}"


def _uid(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise InstallError(f"no user {user!r} on this system: give the account the service runs as with --user") from None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_template(name: str, others: list[str], layout: Layout, user: str, console: bool, remove_hint: str) -> None:
    """Refuse a system instance that would change the others: one template, so one mode and one User= for all."""
    if not others:
        return
    first = others[0]
    if layout.template.exists() and "--display fb" in layout.template.read_text():
        raise InstallError(
            f"instance {first} shows its picture on the HDMI console (--console), and the instances share one "
            f"template: remove it first ({remove_hint.format(first)})"
        )
    if console:
        raise InstallError(
            f"--console gives the HDMI console to one instance, and instance {first} is installed: remove it first "
            f"({remove_hint.format(first)}), or install {name} without --console"
        )
    for other in others:
        owner = layout.args_file(other).stat().st_uid
        if owner != _uid(user):
            raise InstallError(
                f"instance {other} runs as {_user_name(owner)}, and the instances share one template (one User=): "
                f"install {name} as {_user_name(owner)}, or remove {other} first ({remove_hint.format(other)})"
            )


def install(
    name: str,
    flags: list[str],
    layout: Layout,
    python: Path,
    user: str,
    cores: int,
    desktop: bool = False,
    console: bool = False,
    dry_run: bool = False,
) -> list[str]:
    """Write the template, instance ``name``'s args file and the thread budget; lines saying what was written
    (with ``dry_run``, what would be written: nothing is).

    Checks everything before writing anything: a refused instance leaves the installed ones as they were.
    """
    check_name(name)
    check_args(flags)
    mode = mode_flags(desktop, console)
    check_flags(flags, mode)  # as the unit runs them: --log-max-mb goes with its --log
    others = {other: read_args(layout.args_file(other)) for other in layout.instances() if other != name}
    remove_hint = "./setup.sh --remove-service {}" + (" --desktop" if desktop else "")
    owner = None
    if not desktop:
        check_template(name, sorted(others), layout, user, console, remove_hint)
        uid = _uid(user)
        if uid != os.geteuid():  # the service's user must be able to read its 0600 args file
            if os.geteuid() != 0:
                raise InstallError(f"the args file must belong to {user}, who runs the service: run this as root (sudo)")
            owner = uid, pwd.getpwuid(uid).pw_gid
    check_shared(name, flags, others, remove_hint)
    warn_refused(others, layout, mode)

    unit = unit_text(python, layout.conf, desktop, user, console)
    args_file = layout.args_file(name)
    if dry_run:
        whose = f", owned by {user}" if not desktop else ""
        return [
            would_write(layout.template, unit, 0o644),
            would_write(args_file, "\n".join(shown_args(flags)), 0o600, f"{whose}; logins, passwords and tokens not shown"),
            would_write(layout.threads, threads_text(cores, len(others) + 1), 0o644),
            "dry run: nothing was written",
        ]
    layout.units.mkdir(parents=True, exist_ok=True)
    layout.conf.mkdir(parents=True, exist_ok=True)
    _write(layout.template, unit, 0o644)
    _write(args_file, "".join(f"{arg}\n" for arg in flags), 0o600, owner)
    return [f"wrote {layout.template}", f"wrote {args_file} ({len(flags)} argument(s), mode 0600)", write_threads(layout, cores)]


def remove(name: str, layout: Layout, cores: int, desktop: bool = False, dry_run: bool = False) -> list[str]:
    """Delete instance ``name``'s args file and share the cores among the others; lines saying what was done
    (with ``dry_run``, what would be done: nothing is).

    The template stays: it starts nothing by itself, and ``systemctl disable`` needs it.
    """
    check_name(name)
    args_file = layout.args_file(name)
    if not args_file.exists():
        installed = ", ".join(layout.instances()) or "none"
        hint = "" if desktop else "; a desktop one? add --desktop"
        raise InstallError(f"no instance {name} in {layout.conf} (installed: {installed}){hint}")
    if dry_run:
        count = len(layout.instances()) - 1
        return [
            f"would remove {args_file}",
            would_write(layout.threads, threads_text(cores, count), 0o644),
            "dry run: nothing was written",
        ]
    args_file.unlink()
    return [f"removed {args_file}", write_threads(layout, cores)]


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one ``error:`` line (and exit 2)."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        print(f"error: {message} (see python -m install.service --help)", file=sys.stderr)
        sys.exit(2)

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """argparse's, but what is not understood is not repeated: a camera URL given before the
        ``--`` (``install door rtsp://user:password@...``) may hold a password."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            flags = " ".join(arg.partition("=")[0] for arg in extra if arg.startswith("-"))
            what = (
                f"unknown flag(s): {flags}"
                if flags
                else f"{len(extra)} unexpected value(s) (not shown: they may hold a password)"
            )
            self.error(f"{what}: classify.py's flags go after --, e.g. install door -- --camera URL")
        return parsed


def _parser() -> _Parser:
    prog = "python -m install.service"
    p = _Parser(prog=prog, description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs = p.add_subparsers(dest="job", required=True, metavar="{install,remove}")
    add = jobs.add_parser(
        "install",
        help="install or update instance NAME with these classify.py flags",
        usage=f"{prog} install NAME [--desktop | --console] [options] [-- classify.py flags...]",
    )
    remove = jobs.add_parser("remove", help="remove instance NAME's args file and share its cores (then systemctl disable it)")
    for job in (add, remove):
        job.add_argument("name", metavar="NAME", help="the instance: 1-32 letters, digits, '_' or '-'")
        job.add_argument("--root", type=Path, default=None, metavar="DIR", help="write under DIR instead of / (or ~)")
        job.add_argument("--cores", type=int, default=os.cpu_count() or 1, metavar="N", help="cores the instances share")
        job.add_argument("--dry-run", action="store_true", help="check, print the files it would write, change nothing")
    mode = add.add_mutually_exclusive_group()
    mode.add_argument("--desktop", action="store_true", help="user service with the window on the HDMI desktop")
    mode.add_argument("--console", action="store_true", help="system service drawing on the HDMI console (no desktop)")
    remove.add_argument("--desktop", action="store_true", help="a user service's instance")
    add.add_argument("--user", default=_user_name(os.geteuid()), help="account a system service runs as (default: you)")
    add.add_argument(
        "--python",
        type=Path,
        default=ROOT / ".venv" / "bin" / "python",
        metavar="FILE",
        help="python the unit runs (default: .venv)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line: install or remove an instance; exit 2 with one ``error:`` line when refused."""
    argv = sys.argv[1:] if argv is None else argv
    # Everything after -- is classify.py's, even what looks like this tool's own flags.
    cut = argv.index("--") if "--" in argv else len(argv)
    args = _parser().parse_args(argv[:cut])
    flags = argv[cut + 1 :]
    layout = Layout.of(args.desktop, args.root)
    try:
        if args.cores < 1:
            raise InstallError(f"--cores: expected a whole number of at least 1, got {args.cores}")
        if args.job == "install":
            lines = install(
                args.name, flags, layout, args.python, args.user, args.cores, args.desktop, args.console, args.dry_run
            )
        elif flags:
            raise InstallError("remove takes no classify.py flags: give the instance NAME only")
        else:
            lines = remove(args.name, layout, args.cores, args.desktop, args.dry_run)
    except InstallError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        hint = "run it as root (sudo) for a system service" if isinstance(e, PermissionError) else "check the path"
        print(f"error: cannot use {e.filename} ({e.strerror}): {hint}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
