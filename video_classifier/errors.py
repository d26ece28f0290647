"""Errors a user can cause, each carrying a message meant for that user.

The CLI turns any :class:`UserError` into one ``error: ...`` line and exit status 2;
the library never exits the process itself. A message quotes what the user gave through
:func:`quoted` or :func:`cut`: a 100,000-character id is not echoed whole.
"""

SHOWN_LENGTH = 60  # characters of an id, a name or a path that a message quotes


def quoted(text: str, limit: int = SHOWN_LENGTH) -> str:
    """``text`` in quotes, as a message shows an id or a name: cut to ``limit`` characters
    (``'abc'...``) when longer."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}..."


def cut(text: str, limit: int = 3 * SHOWN_LENGTH) -> str:
    """``text`` as a message shows a path: cut to ``limit`` characters (``abc...``) when longer."""
    return text if len(text) <= limit else f"{text[:limit]}..."


class UserError(Exception):
    """Bad input or environment: the message says what is wrong and what to do."""


class ModelError(UserError):
    """The model file is missing, unreadable, or not a MoViNet stream model."""


class LabelsError(UserError):
    """The label file is missing, unreadable, or does not match the model."""


class SourceError(UserError):
    """The camera or video cannot be opened or stopped delivering frames."""


class FlagError(UserError):
    """A flag or its value is not understood; ``reason`` is the message without the pointer to
    ``--help`` (for a caller that checks flags on the app's behalf, such as the installer)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason} (see python classify.py --help)")
        self.reason = reason


class DisplayError(UserError):
    """No window can be opened on any display."""
