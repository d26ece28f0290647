"""Files in folders that someone else may write to. Reading: only regular files, only up to a
size, and JSON whose numbers and nesting cannot overflow or exhaust the reader. Writing: never
through a symbolic link planted where a file is made or replaced (it would make the app create or
overwrite the link's target), and a file is whole or not there at all.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from pathlib import Path

MAX_NUMBER_LENGTH = 40  # characters in one JSON number: a float needs ~25, an int far less


class UnsafeFile(ValueError):
    """The file is not a regular file, or larger than allowed; the message says which."""


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of ``path``. Raises :class:`FileNotFoundError` when it does not exist,
    :class:`UnsafeFile` for a FIFO, device, socket or folder, or a file over ``max_bytes``, and
    :class:`OSError` for anything else. Opening never blocks: a FIFO is refused, not waited on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise UnsafeFile(f"is {kind}")
        if info.st_size > max_bytes:
            raise UnsafeFile(f"is {info.st_size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB allowed")
        # One read of the size it has (chunks and their join copy it twice: 3 ms of a 2.6 MB file),
        # then on until the end: it may grow while read.
        chunks, left, size = [], max_bytes + 1, info.st_size + 1
        while left > 0 and (chunk := os.read(fd, min(left, size))):
            chunks.append(chunk)
            left -= len(chunk)
            size = 1 << 20
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise UnsafeFile(f"is over the {max_bytes / 1e6:.0f} MB allowed")
        return data
    finally:
        os.close(fd)


def open_regular(path: str | Path, flags: int, mode: int = 0o644) -> int:
    """``os.open(path, flags, mode)`` for a regular file only, never through a link: a symbolic
    link at ``path`` is not followed (``O_NOFOLLOW``) and, like a FIFO, a device, a socket or a
    folder there, raises :class:`UnsafeFile` and is left as it is. Other failures raise
    :class:`OSError`. Opening never blocks (a FIFO is refused, not waited on)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile("is a symbolic link") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile("is not a regular file")
    return fd


def replace_file(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash, ``kill -9`` or a full disk leaves either the
    old or the new file whole: written to a new temporary file beside it (created exclusively, so
    never through a link), fsynced, renamed over ``path`` (which replaces a link there instead of
    following it), the folder synced. The file keeps the permissions of the one it replaces; a
    new one gets those any new file gets there (the umask's, not mkstemp's 0600, which hid a
    clip's sidecar from whoever may see the clip). On failure the temporary file is removed and
    the :class:`OSError` raised."""
    path = Path(path)
    fd, temporary = _new_temporary(path)
    try:
        with contextlib.suppress(OSError):
            _take_permissions(fd, os.lstat(path))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:  # a half-written file is never left behind, whatever stopped the write
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a power cut once the folder is synced
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _new_temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path``, created exclusively (never through a link), with the
    permissions a new file gets there; its descriptor and name."""
    while True:
        name = str(path.parent / f".{path.name}.{os.urandom(4).hex()}.tmp")
        try:
            return open_regular(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), name
        except FileExistsError:
            continue


def _take_permissions(fd: int, replaced: os.stat_result) -> None:
    """Give the file ``fd`` the permissions of the regular file it replaces (never a set-id bit)
    and its group. When that group cannot be kept (not one of this user's), the group bits are
    dropped: the file's own group would otherwise get what the replaced file's had."""
    if not stat.S_ISREG(replaced.st_mode):
        return
    mode = stat.S_IMODE(replaced.st_mode) & 0o777
    if replaced.st_gid != os.fstat(fd).st_gid:
        try:
            os.fchown(fd, -1, replaced.st_gid)
        except OSError:
            mode &= ~0o070
    os.fchmod(fd, mode)


def _integer(text: str) -> int:
    if len(text) > MAX_NUMBER_LENGTH:  # Python would parse it, slowly, and overflow on float()
        raise ValueError(f"a number of {len(text)} characters")
    return int(text)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def loads_strict(data: bytes | str):
    """JSON without NaN or Infinity, without integers too long to be real (a 400-digit integer
    would overflow float conversion later), and without nesting deep enough to exhaust the
    parser. Raises :class:`ValueError` (with a short reason) for all of them. Floats need no
    check: however long, they parse to a float (``1e999`` to infinity, which callers refuse), and
    only integers go through Python code, so a library of thousands of floats parses at C speed."""
    try:
        return json.loads(data, parse_int=_integer, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
