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
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from utils.safe_files import UnsafeFile, loads_strict, open_regular, read_regular_file, replace_file
from video_classifier.data import OTHER
from video_classifier.teach.examples import (
    MAX_ACTIONS,
    MAX_EXAMPLES,
    MAX_OTHER_EXAMPLES,
    Example,
    Library,
    LibraryError,
    ModelIdentity,
    check_name,
    forget_from,
)

FORMAT = "movinet-actions"
VERSION = 1
MAX_FEATURE = 1e4  # a real feature is a few units at most; anything past this is not one
MAX_FILE_BYTES = 8 * 1024 * 1024  # 1,100 examples of the largest models fit in well under half
LOCK_WAIT_S = 10.0  # how long a change waits for another writer before it gives up


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
            reason = "is empty" if not data.strip() else f"is not valid JSON ({_json_problem(exc)})"
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
                    name = check_name(name, stored=True)
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


def _json_problem(exc: ValueError) -> str:
    """What is wrong and where ("Invalid control character at line 1, column 15"), and whether
    the file looks cut short (the problem is at its very end)."""
    if not isinstance(exc, json.JSONDecodeError):
        return str(exc)
    what = exc.msg if exc.msg.endswith(" at") else f"{exc.msg} at"
    cut_short = "; cut short?" if exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated") else ""
    return f"{what} line {exc.lineno}, column {exc.colno}{cut_short}"
