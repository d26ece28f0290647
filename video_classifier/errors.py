"""Errors a user can cause, each carrying a message meant for that user.

The CLI turns any :class:`UserError` into one ``error: ...`` line and exit status 2;
the library never exits the process itself.
"""


class UserError(Exception):
    """Bad input or environment: the message says what is wrong and what to do."""


class ModelError(UserError):
    """The model file is missing, unreadable, or not a MoViNet stream model."""


class LabelsError(UserError):
    """The label file is missing, unreadable, or does not match the model."""


class SourceError(UserError):
    """The camera or video cannot be opened or stopped delivering frames."""


class DisplayError(UserError):
    """No window can be opened on any display."""
