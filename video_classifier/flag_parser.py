"""argparse in the app's words: a flag not understood is a :class:`FlagError` (one ``error:``
line and exit status 2 from the CLI), never argparse's usage dump or a value that may be a
secret; the help shows defaults; a value checker that says what it expected."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import NoReturn

from video_classifier.errors import FlagError, cut, quoted
from video_classifier.sources.camera_url import is_network, redacted, unknown_scheme


class CliParser(argparse.ArgumentParser):
    """argparse, but a bad flag raises :class:`FlagError` in the app's words (the CLI makes it
    one ``error:`` line and exit status 2)."""

    _given: list[str] = []  # the arguments being parsed, for the hint in error()

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise FlagError(_bytes_shown(_plain(message) + self._dash_hint(message)))

    def _dash_hint(self, message: str) -> str:
        """Why a flag given a value that starts with ``-`` (``--region -10,0,200,200``) has none:
        argparse took the value for a flag."""
        flag = re.match(r"argument ([^:/]+)[^:]*: expected one argument$", message)
        given = self._given
        for i, arg in enumerate(given[:-1]):
            after = given[i + 1]
            if (
                flag
                and arg == flag.group(1)
                and after.startswith("-")
                and after.partition("=")[0] not in self._option_string_actions
            ):
                return f" (a value that starts with - is read as a flag: write {arg}=VALUE)"
        return ""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """argparse's, but what is not understood is named by its flags only: the value after a
        mistyped flag (``--camra rtsp://user:password@...``) may be a secret."""
        args = self._given = self._expand(sys.argv[1:] if args is None else [str(arg) for arg in args])
        parsed, extra = self.parse_known_args(args, namespace)
        flags = [arg.partition("=")[0] for arg in extra if arg.startswith("-")]
        if flags:
            self.error(f"unknown flag(s): {' '.join(flags)}")
        if extra:
            self.error(
                f"{len(extra)} value(s) with no flag before them (not shown: they may hold a password): "
                "give each after its flag, e.g. --camera URL"
            )
        return parsed

    def _expand(self, args: list[str], depth: int = 0) -> list[str]:
        """``args`` with each ``@FILE`` replaced by the file's lines, as argparse would, but a file
        that cannot be read is one error line in the app's words (argparse: a traceback for a file
        that is not UTF-8, its own wording for a missing one)."""
        expanded: list[str] = []
        for i, arg in enumerate(args):
            if not arg.startswith("@"):
                expanded.append(arg)
                continue
            after = f"{args[i - 1]}: " if i and self._takes_value(args[i - 1]) else ""  # a value taken for a file
            hint = " (a value that starts with @ is read as a file of flags: write --flag=@...)" if after else ""
            if depth >= 8:
                self.error(f"{arg}: files of flags name each other more than 8 deep: is one naming itself?")
            try:
                with open(arg[1:], encoding="utf-8") as file:
                    lines = self._file_arguments(file.read())
            except UnicodeDecodeError:
                self.error(f"{after}the file of flags {arg} is not UTF-8 text: save it as UTF-8")
            except OSError as exc:
                self.error(f"{after}cannot read the file of flags {cut(arg)} ({exc.strerror}): check its path{hint}")
            expanded += self._expand(lines, depth + 1)
        return expanded

    def _file_arguments(self, text: str) -> list[str]:
        """The arguments in a file of flags: one a line, as argparse reads them, and as a person
        writes them too: a flag and its value on one line (``--camera rtsp://...``, quotes around
        the value dropped), blank lines and ``#`` comments skipped, a byte-order mark and the
        spaces around a flag ignored. The line after a flag that takes a value is that value as it
        is (empty, spaced or starting with #), as the services write a password."""
        arguments: list[str] = []
        for line in text.removeprefix("\ufeff").splitlines():
            if arguments and self._takes_value(arguments[-1]):
                arguments.append(line)
                continue
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not line.startswith("-") or len(line.split(None, 1)) == 1:
                arguments.append(line)
                continue
            # A flag and what follows it on its line, apart: an unknown flag's error line then
            # names the flag alone, never the value after it (which may be a password).
            flag, value = line.split(None, 1)
            if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            arguments += [flag, value]
        return arguments

    def _takes_value(self, argument: str) -> bool:
        """Whether ``argument`` is a flag followed by its value (``--camera``, not ``--loop`` or ``--fps=5``)."""
        option = self.option_for(argument)
        return option is not None and self._option_string_actions[option].nargs != 0

    def option_for(self, argument: str) -> str | None:
        """The flag ``argument`` names, whole or abbreviated as argparse takes it (``--mqtt-pass``
        for ``--mqtt-password``); None for anything else (a value, ``--fps=5``, an unknown flag)."""
        if argument in self._option_string_actions:
            return argument
        if not argument.startswith("--") or "=" in argument:
            return None
        matches = [option for option in self._option_string_actions if option.startswith(argument)]
        return matches[0] if len(matches) == 1 else None

    def flag_of(self, dest: str) -> str:
        """The flag that sets ``dest`` (``--as`` for ``as_name``)."""
        return next(action.option_strings[0] for action in self._actions if action.dest == dest)


def _plain(message: str) -> str:
    """argparse's wording made plain: ``argument --fps: ...`` becomes ``--fps: ...``; a value it
    quotes is shown without a URL's login or query (a camera URL given to the wrong flag)."""
    message = re.sub(r"^argument ([^:]+): ", lambda m: m.group(1).split("/")[0] + ": ", message)
    message = re.sub(r"invalid choice: (\S+) \(choose from (.*)\)", r"expected one of \2, got \1", message)
    message = message.replace("expected one argument", "expected a value")
    message = re.sub(r"^ambiguous option: (-[^=\s]*)=.*? could match", r"ambiguous option: \1 could match", message)
    return re.sub(r"'([^']*)'", lambda m: quoted(_shown_value(m.group(1))), message)


def _bytes_shown(message: str) -> str:
    """``message`` with the bytes of a value that is not UTF-8 as ``\\xff``, as the app's own
    checks show them (a value argparse quotes showed ``\\udcff``)."""
    message = re.sub(r"\\+udc([89a-f][0-9a-f])", r"\\x\1", message)  # in a value quoted with repr(), once or twice
    return message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _shown_value(value: str) -> str:
    """``value`` as an error line may quote it: a URL without its login, path or query."""
    if is_network(value.strip()):
        return redacted(value)
    scheme = unknown_scheme(value.strip())
    return f"{scheme}:/..." if scheme else value


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless it says nothing (None, off) or the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "(default" in (action.help or ""):
            return action.help or ""
        return (
            f"{action.help} (default: {action.default:g})"
            if isinstance(action.default, float)
            else super()._get_help_string(action)
        )


def _number(kind: type, expected: str, ok: Callable[[float], bool]) -> Callable[[str], float]:
    """An argparse type: ``text`` as ``kind`` when ``ok`` accepts it, else the app's own message."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse
