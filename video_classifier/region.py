"""The part of the camera picture the model watches: ``--region X,Y,W,H``, a region drawn in the
live view, or ``--region auto`` (:mod:`video_classifier.motion_region`).

A region is in pixels of the camera picture as the app receives it (before any crop): X,Y its
top-left corner, W,H its size. The model sees only that part, then takes its usual centre crop
(``--crop``); the window and the live view draw it on the whole picture.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
from pathlib import Path

import numpy as np

from utils.safe_files import loads_strict, read_regular_file, replace_file
from video_classifier.data import Frame, Region
from video_classifier.environment import user_folder
from video_classifier.errors import UserError, cut
from video_classifier.sources.camera_url import without_login

log = logging.getLogger(__name__)

AUTO = "auto"
CONVENTION = "X,Y,W,H in pixels of the camera picture as it arrives: X,Y its top-left corner, W,H its size"


class RegionError(UserError):
    """A region that cannot be watched: its message says why and what to give instead."""


def parse_region(text: str) -> Region:
    """``X,Y,W,H`` as a :class:`Region`; raises ``ValueError`` saying what is wrong."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(re.fullmatch(r"\+?\d+", p) for p in parts):
        raise ValueError(f"expected four whole numbers X,Y,W,H or {AUTO}, got {cut(text)!r} ({CONVENTION})")
    digits = [p.lstrip("+").lstrip("0") or "0" for p in parts]
    # Thousands of digits are larger than any picture (and more than int() reads).
    x, y, w, h = (int(d) if len(d) <= 9 else 10**9 for d in digits)
    if w < 1 or h < 1:
        raise ValueError(f"{cut(text)} has no size: W and H must be at least 1 pixel ({CONVENTION})")
    if max(x, y, w, h) > 100_000:
        raise ValueError(f"{cut(text)} is larger than any camera picture ({CONVENTION})")
    return Region(x, y, w, h)


def smallest_side(model_size: tuple[int, int]) -> int:
    """The shortest side a region may have for a model of ``model_size``: half its input, as
    smaller regions would be enlarged more than twice into the model's picture (blurred past
    what it was trained on)."""
    return (min(model_size) + 1) // 2


def check_size(region: Region, model_size: tuple[int, int], where: str = "--region") -> None:
    """Refuse a region too small for the model (:func:`smallest_side`)."""
    least = smallest_side(model_size)
    if min(region.w, region.h) < least:
        raise RegionError(
            f"{where} {region} is {region.w}x{region.h} pixels: the model's picture is {model_size[0]}x{model_size[1]}, "
            f"so give a region at least {least} pixels wide and high ({CONVENTION})"
        )


def check_fits(region: Region, size: tuple[int, int], where: str = "--region") -> None:
    """Refuse a region not wholly inside the camera picture of ``size``."""
    if not region.fits(size):
        raise RegionError(
            f"{where} {region} is not inside the camera picture, which is {size[0]}x{size[1]}: give a region "
            f"with X+W at most {size[0]} and Y+H at most {size[1]} ({CONVENTION})"
        )


class RegionFile:
    """Where a region drawn in the live view is kept, so that a restart (and the service) keep it:
    ``$XDG_STATE_HOME/movinet/region-NAME.json`` (else ``~/.local/state``), one file per camera
    and instance, holding the region and the size of the picture it was drawn on."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_camera(cls, camera: str, instance: str = "") -> RegionFile:
        """The file of ``camera`` (a ``--camera`` value; a URL's user and password are no part
        of its name, which anyone on the Pi may list: a hash of a password can be guessed at)
        for this ``instance`` (``$MOVINET_INSTANCE``)."""
        folder = user_folder("XDG_STATE_HOME", ".local/state")  # OSError for a user with no home
        if Path(camera).is_file():
            camera = str(Path(camera).resolve())

        def path_of(name: str) -> Path:
            return folder / f"region-{instance or 'main'}-{hashlib.sha256(name.encode()).hexdigest()[:12]}.json"

        named = without_login(camera)
        file = cls(path_of(named))
        if named != camera:  # a region kept under the name the login was part of
            with contextlib.suppress(OSError):
                if path_of(camera).exists() and not file.path.exists():
                    path_of(camera).replace(file.path)
        return file

    def load(self) -> tuple[Region, tuple[int, int]] | None:
        """The drawn region and its picture's size, or None (none drawn, or a file that cannot be
        read, which is logged and ignored: the flags still say what to watch). Only a small regular
        file is read: a FIFO planted there would hold the start up for ever."""
        try:
            data = loads_strict(read_regular_file(self.path, 4096))
            region, picture = Region(*(int(v) for v in data["region"])), tuple(int(v) for v in data["picture"])
            if len(picture) != 2 or min(picture) < 1 or min(region.w, region.h) < 1 or not region.fits(picture):
                raise ValueError("not a region inside the picture it was drawn on")
            return region, (picture[0], picture[1])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError, OverflowError) as exc:  # UnsafeFile is a ValueError
            log.warning("the drawn region in %s is ignored (%s)", self.path, exc)
            return None

    def save(self, region: Region, picture: tuple[int, int]) -> None:
        """Keep ``region``, drawn on a picture of ``picture`` size (written whole, then renamed)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(self.path, json.dumps({"region": region.as_list(), "picture": list(picture)}).encode())

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class Framing:
    """Chooses, for each model frame, the part of the picture the model sees.

    ``region`` is ``--region X,Y,W,H``; a region drawn in the live view (kept in ``file``) takes
    its place until it is cleared. With ``tracker`` (``--region auto``) the model sees where the
    action is, within that region when there is one. Without any, the model sees the whole
    picture, as before. Thread-safe: the live view changes it while the inference thread reads.
    """

    def __init__(self, region: Region | None = None, tracker=None, file: RegionFile | None = None, model_size=(172, 172)):
        self.flag_region = region
        self.tracker = tracker
        self.file = file
        self.model_size = model_size
        self.picture: tuple[int, int] | None = None  # the camera picture's size, once a frame came
        self._lock = threading.Lock()
        self._drawn: Region | None = None
        self._saved = file.load() if file else None  # checked against the picture at the first frame
        self._current: Region | None = None  # what the model saw last
        self._checked = False  # the regions were checked against the picture
        if self._saved and region is not None:
            log.info("the region drawn in the live view replaces --region %s until it is cleared", region)

    @property
    def limit(self) -> Region | None:
        """The hand-set region: drawn, else ``--region``."""
        return self._drawn or self.flag_region

    @property
    def drawn(self) -> Region | None:
        return self._drawn

    @property
    def active(self) -> bool:
        """Whether the model sees less than the whole picture, or may."""
        return self.tracker is not None or self.limit is not None or self._saved is not None

    def describe(self) -> str:
        """The start-up line's words for what the model watches."""
        hand = "a region drawn in the live view" if self._saved else f"--region {self.flag_region}" if self.flag_region else ""
        if self.tracker is not None:
            return f"region: auto, where the action is{f', within {hand} ({CONVENTION})' if hand else ''}"
        if hand:
            return f"region: the model sees only {hand} ({CONVENTION})"
        return "region: the whole picture (--region or the live view choose a part)"

    def label(self) -> str:
        """The region watched in a word (Home Assistant's attribute): ``whole``, ``X,Y,W,H``,
        ``auto`` or ``auto within X,Y,W,H``."""
        limit = self.limit
        if self.tracker is not None:
            return f"auto within {limit}" if limit else AUTO
        return str(limit) if limit else "whole"

    def crop(self, frame: Frame) -> tuple[np.ndarray, Region | None]:
        """The picture the model gets for ``frame``, and the region it is (None: the whole)."""
        size = (frame.image.shape[1], frame.image.shape[0])
        if not self.active:
            self.picture, self._current = size, None  # the size: for a region drawn later
            return frame.model_image, None
        with self._lock:
            if size != self.picture or not self._checked:
                self._first_picture(size)
            limit = self.limit
            region = self.tracker.update(frame.image, limit or Region.whole(size)) if self.tracker else limit
            self._current = region
        if region is None or region == Region.whole(size):
            return frame.model_image, None  # the Pi camera's lores picture when it has one, as without a region
        return region.crop(frame.image), region

    def _first_picture(self, size: tuple[int, int]) -> None:
        """Check the regions against the picture's size: ``--region`` must fit (else the run
        stops with one error line); a drawn one is scaled from the picture it was drawn on."""
        if self.flag_region is not None:
            check_fits(self.flag_region, size)
        if self._saved is not None:
            region, drawn_on = self._saved
            self._drawn = region if drawn_on == size else region.scaled(drawn_on, size)
            self._saved = None
            try:  # a file edited by hand, or scaled onto a smaller picture: the flags say what to watch
                check_size(self._drawn, self.model_size, "the drawn region")
            except RegionError as exc:
                log.warning("%s is ignored: %s", self.file.path if self.file else "the drawn region", exc)
                self._drawn = None
        elif self._drawn is not None and self.picture not in (None, size):
            self._drawn = self._drawn.scaled(self.picture, size)
        self.picture, self._checked = size, True
        if self.tracker is not None:
            self.tracker.reset()

    def set_drawn(self, region: Region) -> Region:
        """Watch ``region`` (drawn in the live view) from the next model frame on, and keep it.
        Raises :class:`RegionError` before the first picture, or for a region that does not fit."""
        with self._lock:
            if self.picture is None:
                raise RegionError("no camera picture yet: draw the region once the picture is shown")
            check_fits(region, self.picture, "the region")
            check_size(region, self.model_size, "the region")
            self._drawn = region
            if self.tracker is not None:
                self.tracker.reset()
        if self.file:
            self.file.save(region, self.picture)
        return region

    def clear_drawn(self) -> None:
        """Forget the drawn region: ``--region`` (or the whole picture) again."""
        with self._lock:
            self._drawn = self._saved = None
            self._current = self.flag_region  # until the next model frame says what it saw
            if self.tracker is not None:
                self.tracker.reset()
        if self.file:
            self.file.clear()

    def shown(self) -> tuple[tuple[float, float, float, float], bool] | None:
        """What the window and live view draw: the region the model saw last, as fractions of
        the picture, and whether it was found by ``auto``; None while it is the whole picture."""
        with self._lock:
            region, picture = self._current, self.picture
        if region is None or picture is None or region == Region.whole(picture):
            return None
        return region.fractions(picture), self.tracker is not None

    def state(self) -> dict:
        """What the live view's status says of the region."""
        with self._lock:
            current, limit, picture = self._current, self.limit, self.picture
        return {
            "watched": current.as_list() if current and picture and current != Region.whole(picture) else None,
            "set": limit.as_list() if limit else None,
            "drawn": self._drawn is not None,
            "auto": self.tracker is not None,
            "picture": list(picture) if picture else None,
        }
