"""Log records on stderr in the app's one prefix style: ``warning: ...``, plain for information."""

from __future__ import annotations

import logging


class PlainFormatter(logging.Formatter):
    """``message`` for INFO, ``warning: message`` (lower case, like ``error:``) for the rest."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()}: {text}"


def log_to_stderr(verbose: bool) -> None:
    """Send the app's log records to stderr: DEBUG and up with ``verbose``, else INFO and up."""
    handler = logging.StreamHandler()
    handler.setFormatter(PlainFormatter("%(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
