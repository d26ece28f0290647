"""Write a systemd unit that runs classify.py at boot and restarts it when it fails.

    python -m install.service [--desktop | --console] [--user NAME] [-- classify.py flags...]

With ``--desktop`` the unit is a *user* service started with the graphical session, so the
window opens on the HDMI monitor; otherwise it is a *system* service started at boot (no login
needed), writing actions to the journal and to ``logs/actions.jsonl``: ``--no-display``, or with
``--console`` the picture on the HDMI monitor's console framebuffer (Pi OS Lite).
Prints the unit; ``setup.sh --install-service`` installs and starts it.
"""

from __future__ import annotations

import argparse
import getpass
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def unit_text(python: Path, desktop: bool, user: str, extra_args: list[str], console: bool = False) -> str:
    """The unit file's text for this checkout."""
    log = ["--log", str(ROOT / "logs" / "actions.jsonl")]
    args = ["--display", ":0"] if desktop else ["--display", "fb", *log] if console else ["--no-display", *log]
    command = shlex.join([str(python), str(ROOT / "classify.py"), *args, *extra_args])
    lines = [
        "[Unit]",
        "Description=MoViNet action recognition (classify.py)",
        "After=graphical-session.target" if desktop else "After=network-online.target",
        *([] if desktop else ["Wants=network-online.target"]),  # --mqtt and --serve need the network up
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={ROOT}",
        f"ExecStart={command}",
        "Environment=PYTHONUNBUFFERED=1",
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--desktop", action="store_true", help="user service with the window on the HDMI desktop")
    mode.add_argument("--console", action="store_true", help="system service drawing on the HDMI console (no desktop)")
    p.add_argument("--user", default=getpass.getuser(), help="account a system service runs as")
    p.add_argument("--python", type=Path, default=ROOT / ".venv" / "bin" / "python")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="more classify.py flags, after --")
    args = p.parse_args(argv)
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra
    sys.stdout.write(unit_text(args.python, args.desktop, args.user, extra, console=args.console))
    return 0


if __name__ == "__main__":
    sys.exit(main())
