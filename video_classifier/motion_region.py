"""``--region auto``: the model watches where the picture changes, the action, not the room.

Per model frame (a fraction of a millisecond here at 640x480, ``benchmarks/regions.py``), the
picture (or the hand-set region, its limit) is shrunk to a 160-pixel-wide grey copy and compared
with the previous one. The pixels that changed are counted in cells of 4x4, and the cells that
changed over the last 10 s are grouped; the group with the most motion of the last few seconds is
the action. The box is where it went over those 10 s, to the pixel of the grey copy, and no more:
a Kinetics clip is framed around its whole action over its 10 s, not around the hands of the last
moment, and the room around the action is no part of it (as wide as high when it is taller, so
that the model's centre square keeps a raised arm). The model takes its usual centre crop of the
box.

The first box is chosen a second after a start or a new limit: the first moments of a gesture
would give a box too small for the rest of it. Going from the whole picture to a box (or back) is
a cut, as in the clips the model learned from: a zoom over seconds would be a picture no clip
looks like, and the stream model would remember it. From box to box, the box moves smoothly,
not in jumps that the stream model would take for a scene cut. It falls back to the whole picture
(or the limit) when nothing moves, when most of it moves (a light switched on, the camera moved,
an action that fills the picture), and when the box would hardly enlarge what the model sees: a
full-frame action is seen as it was without a region.
"""

from __future__ import annotations

import cv2
import numpy as np

from video_classifier.data import Region

SMALL_WIDTH = 160  # the grey copy compared from frame to frame
CELL = 4  # small pixels per cell side
CHANGE = 16  # grey levels a pixel must change by to count (camera noise and compression are below)
CELL_CHANGED = 0.06  # fraction of a cell's pixels that must change for the cell to count
MEMORY_S = 3.0  # a cell that changed counts this long as recent: which motion is the action now
EXTENT_S = 10.0  # the box covers where that motion went over this long (a Kinetics clip's length)
MOST = 0.5  # more than this fraction of the cells recent: everything moves, watch the whole
FIRST_S = 1.0  # seconds of changes seen before the first box
LARGE = 0.6  # a box whose shorter side is more than this of the picture's: watch the whole
FOLLOW = 0.4  # per model frame, the share of the way the box moves towards where it should be
STILL = 0.12  # a new target within this fraction of the box's side of the old one is ignored
NEIGHBOURS = np.ones((3, 3), np.uint8)  # cells a cell apart are one group


class MotionRegion:
    """Follows where the picture changes; :meth:`update` once per model frame."""

    def __init__(self, fps: float = 5.0, least_side: int = 86) -> None:
        self.least_side = least_side  # never a region smaller than the model can use
        frames = max(1.0, MEMORY_S * fps)
        self._first_frames = max(1, round(FIRST_S * fps))
        self._extent_frames = max(1, round(EXTENT_S * fps))
        self._decay = np.float32(0.05 ** (1.0 / frames))  # a changed cell fades to 5% in MEMORY_S
        self.reset()

    def reset(self) -> None:
        """Forget the pictures seen (a new limit, a new camera picture)."""
        self._previous: np.ndarray | None = None
        self._recent: np.ndarray | None = None
        self._changed_at: np.ndarray | None = None  # per pixel of the grey copy: the frame it last changed
        self._cell_changed_at: np.ndarray | None = None  # the same per cell
        self._box: np.ndarray | None = None  # x0, y0, x1, y1 in the limit's pixels, smoothed
        self._target: np.ndarray | None = None
        self._whole = self._target_whole = True  # the box, the target: the whole picture (or limit)
        self._seen = 0  # model frames compared since the reset

    def update(self, image: np.ndarray, limit: Region) -> Region:
        """The region of ``image`` (a BGR picture) the model should see now, within ``limit``."""
        view = limit.crop(image)
        whole = np.array([0, 0, limit.w, limit.h], np.float32)
        rows = max(CELL, round(SMALL_WIDTH * limit.h / limit.w / CELL) * CELL)
        # Bilinear to twice the size, then an exact 2:1 area average: the noise averaged out as
        # INTER_AREA would, at a third of its cost on a colour picture.
        half = cv2.resize(view, (2 * SMALL_WIDTH, 2 * rows), interpolation=cv2.INTER_LINEAR)
        half = cv2.cvtColor(half, cv2.COLOR_BGR2GRAY) if half.ndim == 3 else half
        grey = cv2.resize(half, (SMALL_WIDTH, rows), interpolation=cv2.INTER_AREA)
        previous, self._previous = self._previous, grey
        if previous is None:
            self._box = self._target = whole
            self._changed_at = np.full(grey.shape, -self._extent_frames, np.int32)
            self._cell_changed_at = np.full((rows // CELL, SMALL_WIDTH // CELL), -self._extent_frames, np.int32)
            return limit
        changed = cv2.compare(cv2.absdiff(grey, previous), CHANGE, cv2.CMP_GT)  # 255 where it changed
        cells = cv2.resize(changed, (SMALL_WIDTH // CELL, rows // CELL), interpolation=cv2.INTER_AREA)
        now = (cells > CELL_CHANGED * 255).astype(np.float32)
        self._recent = now if self._recent is None else np.maximum(self._recent * self._decay, now)
        self._seen += 1
        self._changed_at[changed > 0] = self._seen
        self._cell_changed_at[now > 0] = self._seen
        # Not from the first moment of a gesture: it is a part of it.
        target = self._where(self._recent, limit, whole) if self._seen >= self._first_frames else whole
        on_whole = target is whole
        if on_whole != self._target_whole or np.abs(target - self._target).max() > STILL * (self._target[2] - self._target[0]):
            self._target, self._target_whole = target, on_whole
        if self._target_whole != self._whole:
            self._box, self._whole = self._target, self._target_whole  # from the whole to a box, or back: a cut
        else:
            self._box = self._box + FOLLOW * (self._target - self._box)
        x0, y0, x1, y1 = (int(round(v)) for v in self._box)
        return Region(limit.x + x0, limit.y + y0, max(1, x1 - x0), max(1, y1 - y0))

    def _where(self, recent: np.ndarray, limit: Region, whole: np.ndarray) -> np.ndarray:
        """Where the box should be (x0, y0, x1, y1 in the limit's pixels): where the action (the
        group of changed cells with the most recent motion) went over EXTENT_S, else the whole limit."""
        active = recent > 0.05
        moving = np.count_nonzero(active)
        if not moving or moving > MOST * active.size:
            return whole
        # The cells that changed over EXTENT_S, those a cell apart joined into one group (an arm
        # and the body that moved with it): the group with the most recent motion is the action,
        # and where it went (a gesture's hands now, and the whole body before).
        since = self._seen - self._extent_frames
        extent = (self._cell_changed_at > since).astype(np.uint8)
        count, groups, boxes, _ = cv2.connectedComponentsWithStats(cv2.dilate(extent, NEIGHBOURS), connectivity=8)
        heat = np.bincount(groups.ravel(), weights=recent.ravel(), minlength=count)
        left, top, w, h = boxes[int(np.argmax(heat[1:])) + 1, :4] * CELL
        # To the pixel of the grey copy: where the pixels of those cells changed.
        window = self._changed_at[top : top + h, left : left + w]
        x, y, w, h = cv2.boundingRect(cv2.compare(window, since, cv2.CMP_GT))
        sx, sy = limit.w / self._changed_at.shape[1], limit.h / self._changed_at.shape[0]
        x0, x1, y0, y1 = (left + x) * sx, (left + x + w) * sx, (top + y) * sy, (top + y + h) * sy
        w, h = x1 - x0, y1 - y0
        # Taller than wide: as wide as high, so that the model's centre square keeps a raised arm
        # and the feet (a landscape clip of a standing person has them); wider: the centre square,
        # as the model takes of any clip. Never smaller than the model can use.
        w = max(w, h, self.least_side)
        h = max(h, self.least_side)
        if min(w, h) > LARGE * min(limit.w, limit.h):
            return whole  # the model's centre square hardly closer than the whole's: as without a region
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        left = min(max(cx - w / 2, 0.0), limit.w - w)
        top = min(max(cy - h / 2, 0.0), limit.h - h)
        return np.array([left, top, left + w, top + h], np.float32)
