"""Taught actions in memory: examples, the library they form, names and limits, and the edits.

An example's ``vector`` is the mean of the stream model's per-frame pooled features over the
taught seconds. Limits keep a library from growing past what a Pi reads in a moment:
:data:`MAX_ACTIONS` actions, :data:`MAX_EXAMPLES` examples each (``other``, fed by corrections,
keeps its newest :data:`MAX_OTHER_EXAMPLES`). The file that holds them is :mod:`.library`.
"""

from __future__ import annotations

import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils.checksum import sha256_of
from video_classifier.data import OTHER, OTHER_SHOWN
from video_classifier.errors import UserError, quoted

UNKNOWN = "unknown"  # the reserved name for "nothing taught is close enough"
RESERVED = frozenset({UNKNOWN, OTHER})  # labels that never make an event
# Names a correction reads as a verdict, and the name "other" is shown as: no action can have them.
VERDICT_NAMES = frozenset({"wrong", "right", "undo", OTHER_SHOWN})
MAX_NAME_LENGTH = 40
MAX_ACTIONS = 50  # besides "other"
MAX_EXAMPLES = 20  # per action
MAX_OTHER_EXAMPLES = 100  # "other" keeps its newest corrections


class LibraryError(UserError):
    """The action library file cannot be used (or a change to it is not allowed)."""


class NoSuchAction(LibraryError):
    """The action, or the example, to forget is not in the library."""


class NotSaved(LibraryError):
    """A change (a correction, a deletion) was checked but not saved; ``pending``: the library is
    busy and it will be saved when its lock is free, else it never will (the message says why)."""

    def __init__(self, message: str, pending: bool = False) -> None:
        super().__init__(message)
        self.pending = pending


@dataclass(frozen=True)
class ModelIdentity:
    """What the library's features were computed with."""

    file: str
    sha256: str
    feature_size: int

    @classmethod
    def of(cls, model_path: str | Path, feature_size: int) -> ModelIdentity:
        return cls(Path(model_path).name, sha256_of(model_path), feature_size)


@dataclass
class Example:
    """One taught example: a feature vector and where it came from."""

    vector: np.ndarray
    source: str
    seconds: float
    taught_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    id: str = field(default_factory=lambda: secrets.token_hex(4))
    event: str | None = None  # the event a correction made this example of

    def to_json(self) -> dict:
        record = {
            "id": self.id,
            "source": self.source,
            "taught_at": self.taught_at,
            "seconds": round(self.seconds, 2),
        }
        if self.event is not None:
            record["event"] = self.event
        return {**record, "vector": [round(float(x), 5) for x in self.vector]}


@dataclass
class Library:
    """The contents of a library file."""

    model: ModelIdentity
    actions: dict[str, list[Example]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per action, for the terminal."""
        if not self.actions:
            return "no actions taught yet"
        lines = []
        for name, examples in self.actions.items():
            seconds = sum(e.seconds for e in examples)
            what = f"{name} ({OTHER_SHOWN})" if name == OTHER else name
            lines.append(f"  {what}: {len(examples)} example(s), {seconds:g} s")
        return "\n".join(lines)

    def corrected(self) -> dict[str, str]:
        """Event id -> the action a correction taught it as."""
        return {e.event: name for name, examples in self.actions.items() for e in examples if e.event}


def check_name(name: str, stored: bool = False) -> str:
    """The action name, trimmed; a :class:`LibraryError` for an empty, over-long or unsafe one.
    A name ``stored`` in a library is held to the rules it was taught under: the rules added
    since (only dots; reserved names in other widths) apply to new names only, so that an
    update never refuses a library that worked."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise LibraryError("an action needs a name: pass --learn NAME, for example --learn 'feeding the cat'")
    if len(name) > MAX_NAME_LENGTH:
        raise LibraryError(f"action name {name[:20]!r}... is {len(name)} characters long: use at most {MAX_NAME_LENGTH}")
    if any(unicodedata.category(c).startswith("C") for c in name) or "/" in name or "\\" in name:
        raise LibraryError(f"action name {name!r} has a control character or a slash: use letters, digits and spaces")
    if set(name) == {"."} and not stored:  # "." and ".." are no part of a web address: the browser could not delete it
        raise LibraryError(f"action name {name!r} is only dots: use letters, digits and spaces")
    # "ＵＮＫＮＯＷＮ" is "unknown" too
    folded = name.lower() if stored else unicodedata.normalize("NFKC", name).casefold()
    if folded == UNKNOWN:
        raise LibraryError(f"{UNKNOWN!r} is reserved for what nothing taught is close to: choose another name")
    if folded == OTHER:
        return OTHER
    if folded in VERDICT_NAMES:
        raise LibraryError(f"{name!r} is reserved for corrections (wrong, right, undo, something else): choose another name")
    return name


def check_room(library: Library, name: str, count: int) -> None:
    """Raise :class:`LibraryError` if ``count`` more examples of ``name`` would pass the limits
    (``other`` always has room: it drops its oldest)."""
    kept = library.actions.get(name, [])
    if name == OTHER:
        return
    if not kept and len(set(library.actions) - {OTHER}) >= MAX_ACTIONS:
        raise LibraryError(
            f"the action library already has {MAX_ACTIONS} actions, the most it keeps: forget one first (--forget NAME)"
        )
    if len(kept) + count > MAX_EXAMPLES:
        raise LibraryError(
            f"{name!r} has {len(kept)} examples; an action keeps at most {MAX_EXAMPLES}: "
            f"forget it (--forget {name!r}) and teach it again"
        )


def add_to(library: Library, name: str, examples: list[Example]) -> None:
    """Add ``examples`` to ``name`` within the limits (see :func:`check_room`)."""
    check_room(library, name, len(examples))
    library.actions[name] = (library.actions.get(name, []) + examples)[-MAX_OTHER_EXAMPLES:]


def forget_from(library: Library, name: str, example_id: str | None = None) -> None:
    """Delete the action ``name`` (or only its example ``example_id``) from ``library``."""
    if name not in library.actions:
        taught = ", ".join(library.actions) or "none"
        raise NoSuchAction(f"no action called {quoted(name)} (taught: {taught})")
    if example_id is None:
        del library.actions[name]
        return
    kept = [e for e in library.actions[name] if e.id != example_id]
    if len(kept) == len(library.actions[name]):
        raise NoSuchAction(f"action {quoted(name)} has no example {quoted(example_id)}")
    if kept:
        library.actions[name] = kept
    else:
        del library.actions[name]
