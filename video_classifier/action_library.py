"""The action library (``--actions FILE``): the user's own actions, each a few taught examples.

A human-readable JSON file::

    {
     "format": "movinet-actions", "version": 1,
     "model": {"file": "movinet_a0_stream_int8.tflite", "sha256": "6125...", "feature_size": 480},
     "actions": {
      "feeding the cat": {"examples": [
        {"id": "k3x9q2", "source": "camera", "taught_at": "2026-11-27T10:02:11+0100", "seconds": 5.0,
         "vector": [0.0132, 0.4401, ...]}
      ]}
     }
    }

An example's ``vector`` is the mean of the stream model's per-frame pooled features over the
taught seconds. The file names the model it was taught with: features of another model mean
nothing, so such a file is refused.

Every change is a read-modify-write under an exclusive lock on ``FILE.lock`` (so the command line
and the browser writing at once do not clobber each other), written to a temporary file that is
fsynced and renamed over the old one: a crash, ``kill -9`` or a full disk leaves the previous file
whole. A file that cannot be read as a library is refused with one line and never rewritten.

Limits keep a file from growing past what a Pi reads in a moment: :data:`MAX_ACTIONS` actions,
:data:`MAX_EXAMPLES` examples each (``other``, fed by corrections, keeps its newest
:data:`MAX_OTHER_EXAMPLES`), and :data:`MAX_FILE_BYTES` on disk. Only a regular file is read.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils.checksum import sha256_of
from utils.safe_files import UnsafeFile, loads_strict, open_regular, read_regular_file, replace_file
from video_classifier.data import OTHER, OTHER_SHOWN
from video_classifier.errors import UserError, quoted

FORMAT = "movinet-actions"
VERSION = 1
UNKNOWN = "unknown"  # the reserved name for "nothing taught is close enough"
RESERVED = frozenset({UNKNOWN, OTHER})  # labels that never make an event
# Names a correction reads as a verdict, and the name "other" is shown as: no action can have them.
VERDICT_NAMES = frozenset({"wrong", "right", "undo", OTHER_SHOWN})
MAX_FEATURE = 1e4  # a real feature is a few units at most; anything past this is not one
MAX_NAME_LENGTH = 40
MAX_ACTIONS = 50  # besides "other"
MAX_EXAMPLES = 20  # per action
MAX_OTHER_EXAMPLES = 100  # "other" keeps its newest corrections
MAX_FILE_BYTES = 8 * 1024 * 1024  # 1,100 examples of the largest models fit in well under half
LOCK_WAIT_S = 10.0  # how long a change waits for another writer before it gives up


class LibraryError(UserError):
    """The action library file cannot be used (or a change to it is not allowed)."""


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


def check_name(name: str) -> str:
    """The action name, trimmed; a :class:`LibraryError` for an empty, over-long or unsafe one."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise LibraryError("an action needs a name: pass --learn NAME, for example --learn 'feeding the cat'")
    if len(name) > MAX_NAME_LENGTH:
        raise LibraryError(f"action name {name[:20]!r}... is {len(name)} characters long: use at most {MAX_NAME_LENGTH}")
    if any(unicodedata.category(c).startswith("C") for c in name) or "/" in name or "\\" in name:
        raise LibraryError(f"action name {name!r} has a control character or a slash: use letters, digits and spaces")
    if name.lower() == UNKNOWN:
        raise LibraryError(f"{UNKNOWN!r} is reserved for what nothing taught is close to: choose another name")
    if name.lower() == OTHER:
        return OTHER
    if name.lower() in VERDICT_NAMES:
        raise LibraryError(f"{name!r} is reserved for corrections (wrong, right, undo, something else): choose another name")
    return name


def _text(value, what: str) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError(f"{what} is not a short text")
    return value


def _seconds(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise ValueError("an example's seconds are not a number from 0 to 3600")
    return float(value)


def _vector(value, size: int) -> list:
    if not isinstance(value, list) or len(value) != size:
        raise ValueError(f"an example's vector does not have the model's {size} numbers")
    return value


def _vectors(rows: list[list], size: int) -> np.ndarray:
    """All vectors as one float32 array; anything but plain numbers (text, null, true, lists) is
    refused: numpy would turn "1.0" into 1.0, so the element type is checked, in one pass."""
    if not rows:
        return np.zeros((0, size), np.float32)
    raw = np.asarray(rows)
    if raw.ndim != 2 or raw.dtype.kind not in "iuf":
        raise ValueError("an example's vector has something else than numbers")
    vectors = raw.astype(np.float32)
    if not (np.abs(vectors) <= MAX_FEATURE).all():  # also NaN and infinity
        raise ValueError("an example's vector is out of range")
    if not np.abs(vectors).max(axis=1).all():
        raise ValueError("an example's vector is all zeros")
    return vectors


class ActionLibrary:
    """A library file on disk, for one model. Nothing is read or written until asked."""

    def __init__(self, path: str | Path, model: ModelIdentity) -> None:
        # Through a link, to the file itself: a save renames a new file into place, which would
        # replace the link, and the lock and the recent events go by the file's own name.
        self.path = Path(path).resolve() if Path(path).is_symlink() else Path(path)
        self.model = model
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def stamp(self) -> tuple[int, int, int] | None:
        """The file's (inode, mtime_ns, size), or None when there is none: cheap to poll for changes
        (a save renames a new file into place, so the inode changes too)."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def load(self) -> Library:
        """The library (empty when the file does not exist yet). Raises :class:`LibraryError`."""
        try:
            data = read_regular_file(self.path, MAX_FILE_BYTES)
        except FileNotFoundError:
            return Library(self.model)
        except UnsafeFile as exc:
            if self.path.is_dir():
                raise LibraryError(f"--actions {self.path} is a folder: give a file name such as actions.json") from None
            raise LibraryError(f"the action library {self.path} {exc}: pass a library file written by this app") from None
        except OSError as exc:
            raise LibraryError(f"cannot read the action library {self.path} ({exc.strerror}): check the --actions path") from None
        return self._parse(data)

    def _parse(self, data: bytes) -> Library:
        where = f"the action library {self.path}"
        fix = "fix it, or pass another --actions file (this one is left as it is)"
        try:
            doc = loads_strict(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            truncated = "; truncated?" if isinstance(exc, json.JSONDecodeError) else ""
            reason = "is empty" if not data.strip() else f"is not valid JSON ({getattr(exc, 'msg', exc)}{truncated})"
            raise LibraryError(f"{where} {reason}: {fix}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise LibraryError(f'{where} is not an action library (no "format": "{FORMAT}"): {fix}')
        if doc.get("version") != VERSION:
            raise LibraryError(f"{where} has format version {doc.get('version')!r}; this app reads version {VERSION}: {fix}")
        try:
            model = ModelIdentity(
                _text(doc["model"]["file"], "the model's file"),
                _text(doc["model"]["sha256"], "sha256"),
                int(doc["model"]["feature_size"]),
            )
            if model.sha256 != self.model.sha256 or model.feature_size != self.model.feature_size:
                raise LibraryError(
                    f"{where} was taught with another model ({model.file}, sha256 {model.sha256[:12]}...), not "
                    f"{self.model.file} (sha256 {self.model.sha256[:12]}...): use that model with --model, "
                    "or another --actions file to teach this one"
                )
            entries = []
            for name, entry in doc["actions"].items():
                try:
                    name = check_name(name)
                except LibraryError as exc:
                    raise ValueError(f"a bad action name: {exc}") from None
                examples = entry["examples"]
                if not isinstance(examples, list):
                    raise ValueError(f"the examples of {name!r} are not a list")
                limit = MAX_OTHER_EXAMPLES if name == OTHER else MAX_EXAMPLES
                if len(examples) > limit:
                    raise ValueError(f"{name!r} has {len(examples)} examples, more than the {limit} allowed")
                entries += [(name, e) for e in examples]
            if len({name for name, _ in entries} - {OTHER}) > MAX_ACTIONS:
                raise ValueError(f"more than {MAX_ACTIONS} actions")
            # One conversion for every vector: a 20 x 20 library loads in a third less time.
            vectors = _vectors([_vector(e["vector"], model.feature_size) for _, e in entries], model.feature_size)
            actions: dict[str, list[Example]] = {}  # an action without examples is left out
            for (name, e), vector in zip(entries, vectors):
                event = e.get("event")
                example = Example(
                    vector,
                    _text(e["source"], "an example's source"),
                    _seconds(e["seconds"]),
                    _text(e["taught_at"], "an example's time"),
                    _text(e["id"], "an example's id"),
                    None if event is None else _text(event, "an example's event"),
                )
                actions.setdefault(name, []).append(example)
        except LibraryError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise LibraryError(f"{where} is damaged ({exc}): {fix}") from None
        return Library(model, actions)

    def check_writable(self) -> None:
        """Raise :class:`LibraryError` now, not after a lesson, if the folder cannot be written
        (without waiting for the lock: another program may hold it for a while)."""
        folder = self.path.parent
        try:
            os.close(self._open_lock())
            writable = os.access(folder, os.W_OK)
        except OSError as exc:
            raise LibraryError(
                f"cannot write the action library in {folder} ({exc.strerror}): choose a writable --actions path"
            ) from None
        if not writable:
            raise LibraryError(
                f"cannot write the action library in {folder} (permission denied): choose a writable --actions path"
            )

    def _open_lock(self) -> int:
        """The lock file, made if need be; never through a link planted in its place."""
        try:
            return open_regular(self._lock_path, os.O_RDWR | os.O_CREAT)
        except UnsafeFile as exc:
            raise LibraryError(
                f"the action library's lock file {self._lock_path} {exc}: remove it (the app makes a new one)"
            ) from None

    @contextlib.contextmanager
    def locked(self, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
        """Hold the library's exclusive lock (waiting up to ``wait_s`` for another writer): for
        every read-modify-write of the library or of a file kept beside it."""
        try:
            fd = self._open_lock()
        except OSError as exc:
            raise LibraryError(
                f"cannot write the action library in {self.path.parent or '.'} ({exc.strerror}): choose a writable --actions path"
            ) from None
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LibraryError(
                            f"the action library {self.path} has been locked by another program for {wait_s:g} s "
                            f"({self._lock_path}): try again when it is done"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # also releases the lock

    def change(self, edit: Callable[[Library], None], wait_s: float = LOCK_WAIT_S) -> Library:
        """Apply ``edit`` to the newest library on disk and save it; returns what was saved.
        Waits up to ``wait_s`` for another writer's lock."""
        with self.locked(wait_s):
            library = self.load()
            edit(library)
            self._save(library)
            return library

    def _save(self, library: Library) -> None:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "model": library.model.__dict__,
            "actions": {name: {"examples": [e.to_json() for e in examples]} for name, examples in library.actions.items()},
        }
        atomic_write(self.path, _dumps(doc))

    def add_examples(self, name: str, examples: list[Example], wait_s: float = LOCK_WAIT_S) -> Library:
        """Add ``examples`` to the action ``name`` (created if new)."""
        name = check_name(name)
        for example in examples:
            if example.vector.shape != (self.model.feature_size,) or not np.isfinite(example.vector).all():
                raise LibraryError(f"an example of {name!r} has no usable features")
        return self.change(lambda library: add_to(library, name, examples), wait_s)

    def forget(self, name: str, example_id: str | None = None) -> Library:
        """Delete the action ``name`` (or only its example ``example_id``)."""
        return self.change(lambda library: forget_from(library, name, example_id))


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` whole or not at all, never through a link (see
    :func:`~utils.safe_files.replace_file`); a :class:`LibraryError` when it cannot be."""
    try:
        replace_file(path, text.encode("utf-8"))
    except OSError as exc:
        raise LibraryError(f"cannot save {path} ({exc.strerror}); what was saved before is kept") from None


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
        raise LibraryError(f"no action called {quoted(name)} (taught: {taught})")
    if example_id is None:
        del library.actions[name]
        return
    kept = [e for e in library.actions[name] if e.id != example_id]
    if len(kept) == len(library.actions[name]):
        raise LibraryError(f"action {quoted(name)} has no example {quoted(example_id)}")
    if kept:
        library.actions[name] = kept
    else:
        del library.actions[name]


def _dumps(doc: dict) -> str:
    """JSON with one line per example vector, so the file stays readable (and diffable)."""
    vectors: list[str] = []

    def placeholder(example: dict) -> dict:
        vectors.append(json.dumps(example["vector"], allow_nan=False))
        return {**example, "vector": f"@@{len(vectors) - 1}@@"}

    for entry in doc["actions"].values():
        entry["examples"] = [placeholder(e) for e in entry["examples"]]
    text = json.dumps(doc, indent=1, ensure_ascii=False)
    return re.sub(r'"@@(\d+)@@"', lambda m: vectors[int(m.group(1))], text) + "\n"
