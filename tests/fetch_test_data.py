#!/usr/bin/env python3
"""Get the clips and models the tests use, each checked against the SHA-256 pinned in
``tests/test_data.txt`` before it lands in ``media/`` or ``models/`` (the tests' default folders).

    .venv/bin/python tests/fetch_test_data.py                   # from their public sources
    .venv/bin/python tests/fetch_test_data.py --from ../shared  # copied from a mirror folder (offline)
    .venv/bin/python tests/fetch_test_data.py --url http://host/dir   # from a mirror served over HTTP

A mirror holds the same paths (``media/carving_ice.mp4``, ``models/standin/...``). A file that
fails its checksum is not written; files already present and correct are kept. Files made for
this project's tests have no public source: without a mirror they are left out, and the tests
needing them skip (outside CI).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from install.fetch_models import FetchError, download  # noqa: E402
from utils.checksum import sha256_of  # noqa: E402

MANIFEST = Path(__file__).with_name("test_data.txt")


@dataclass(frozen=True)
class DataFile:
    sha256: str
    path: str  # relative, e.g. media/carving_ice.mp4
    url: str | None  # public source, None when only a mirror has it


def read_manifest(path: Path = MANIFEST) -> list[DataFile]:
    """The pinned files: ``SHA256  PATH  URL`` lines (``-`` for no public source)."""
    files = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name, url = line.split()
            files.append(DataFile(digest, name, None if url == "-" else url))
    return files


def fetch_one(item: DataFile, dest: Path, mirror: Path | None, base_url: str | None, timeout: float) -> str:
    """Put ``item`` under ``dest``, verified; a one-line report. Raises :class:`FetchError`."""
    target = dest / item.path
    if target.is_file() and sha256_of(target) == item.sha256:
        return f"ok       {item.path} (already present)"
    if mirror is not None:
        try:
            data = (mirror / item.path).read_bytes()
        except OSError as exc:
            raise FetchError(f"cannot read {mirror / item.path} ({exc.strerror})") from None
    elif base_url is not None:
        data = download(f"{base_url.rstrip('/')}/{item.path}", timeout)
    elif item.url is None:
        return f"skipped  {item.path} (made for these tests: only a mirror has it, see --from)"
    else:
        data = download(item.url, timeout)
    digest = hashlib.sha256(data).hexdigest()
    if digest != item.sha256:
        raise FetchError(f"{item.path} has sha256 {digest}, expected {item.sha256}: not the pinned file; nothing written")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, target)  # whole and checked, or not there at all
    return f"fetched  {item.path}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = p.add_mutually_exclusive_group()
    source.add_argument("--from", dest="mirror", type=Path, metavar="DIR", help="copy from this mirror folder (offline)")
    source.add_argument("--url", metavar="URL", help="download from this mirror address instead of the public sources")
    p.add_argument("--dest", type=Path, default=ROOT, metavar="DIR", help="where media/ and models/ go (default: the repository)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS")
    args = p.parse_args(argv)
    if args.mirror is not None and not args.mirror.is_dir():
        print(f"error: --from {args.mirror}: no such folder; give the mirror folder holding media/ and models/", file=sys.stderr)
        return 2
    if args.mirror is not None and not any((args.mirror / part).is_dir() for part in ("media", "models")):
        hint = f"; {args.mirror.parent} may be it" if args.mirror.name in ("media", "models") else ""
        problem = f"--from {args.mirror}: no media/ or models/ in it"
        print(f"error: {problem}: give the mirror folder holding both{hint}", file=sys.stderr)
        return 2
    failed = 0
    for item in read_manifest():
        try:
            print(fetch_one(item, args.dest, args.mirror, args.url, args.timeout))
        except FetchError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
        except OSError as exc:
            failed += 1
            print(f"error: cannot write {args.dest / item.path} ({exc.strerror})", file=sys.stderr)
    if failed:
        print(f"error: {failed} file(s) missing: run again, or copy them from a mirror with --from DIR", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
