"""The event clips in the ``--record`` folder: names the recorder gives them, and the ones it
saved in this run (what the live view lists and serves, and nothing else in the folder)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

# Only files named like this are ever listed, served or deleted, whatever else is in the folder.
CLIP_NAME = re.compile(r"^\d{8}-\d{6}-\d{3}_[a-z0-9-]+\.mp4$")


class ClipLibrary:
    """The clips saved so far in ``folder``, oldest first."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.saved: list[Path] = []
        self._by_event: dict[str, str] = {}  # event id -> clip name
        self._lock = threading.Lock()  # added by the writer thread, read by the live view's threads

    def add(self, path: Path, event_id: str | None = None) -> None:
        """A clip (with its JSON sidecar beside it) of the event ``event_id`` is complete."""
        with self._lock:
            self.saved.append(path)
            if event_id:
                self._by_event[event_id] = path.name

    def clip_of(self, event_id: str) -> str | None:
        """The name of the clip saved of the event ``event_id`` in this run, if any."""
        with self._lock:
            return self._by_event.get(event_id)

    def recent(self, count: int = 10) -> list[Path]:
        """The newest saved clips still on disk, newest first."""
        with self._lock:
            candidates = list(reversed(self.saved[-count * 2 :]))
        return [p for p in candidates if p.exists()][:count]

    def path_of(self, name: str) -> Path | None:
        """The clip or sidecar called ``name``, if it is one of ours and a regular file in the folder."""
        stem, _, extension = name.rpartition(".")
        if extension not in ("mp4", "json") or not CLIP_NAME.match(stem + ".mp4"):
            return None  # also refuses anything with a "/" in it
        path = self.folder / name
        # Never through a link: a link named like a clip could point anywhere.
        if path.is_symlink() or not path.is_file() or path.resolve().parent != self.folder.resolve():
            return None
        return path

    def on_disk(self) -> list[Path]:
        """Every clip in the folder named like ours, oldest first (names start with the time)."""
        return sorted(p for p in self.folder.glob("*.mp4") if CLIP_NAME.match(p.name))
