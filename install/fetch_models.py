"""Download (or copy) the official MoViNet stream models and the Kinetics-600 label map,
checking each file's SHA-256 before it lands in ``models/``.

    python -m install.fetch_models [--dest models] [--from DIR] [--all] [--pin NAME=SHA256] [--pins FILE]

``--from DIR`` copies from a local folder instead of downloading. The environment variable
``MOVINET_MODELS_URL`` replaces the official addresses with ``$MOVINET_MODELS_URL/<file>``
(a mirror, or a local server in the tests). A file is written under a temporary name and
renamed only once it checks out, so a failed or tampered download leaves nothing behind:
every model must carry the TFLite file identifier and have a plausible size (an HTML error page
or an unexpected archive is refused), and its SHA-256 must match the one published, or the one
pinned with ``--pin`` or in a ``sha256sum``-style ``--pins`` file (A1 and A2 have none
published). The SHA-256 of every file fetched is printed, ready to be pinned.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from utils.checksum import sha256_of

KAGGLE = "https://www.kaggle.com/api/v1/models/google/movinet/tfLite/{}/1/download"
LABELS_URL = "https://raw.githubusercontent.com/tensorflow/models/master/official/projects/movinet/files/kinetics_600_labels.txt"


@dataclass(frozen=True)
class ModelFile:
    name: str
    url: str
    sha256: str | None  # None: upstream publishes no checksum we could pin
    default: bool = True


MANIFEST = (
    ModelFile(
        "movinet_a0_stream_int8.tflite",
        KAGGLE.format("a0-stream-kinetics-600-classification-tflite-int8"),
        "6125b36e2485eeb5cc1fd6206cf5e5d70235593fbc84610d1dce97fe3aa9c2ac",
    ),
    ModelFile("kinetics600_label_map.txt", LABELS_URL, "8dfca4202520ea8291ce0242ef33b006d0a0772b409663c090a2876bc1978dcf"),
    ModelFile(
        "movinet_a1_stream_int8.tflite", KAGGLE.format("a1-stream-kinetics-600-classification-tflite-int8"), None, default=False
    ),
    ModelFile(
        "movinet_a2_stream_int8.tflite", KAGGLE.format("a2-stream-kinetics-600-classification-tflite-int8"), None, default=False
    ),
)


class FetchError(Exception):
    """A file could not be fetched or failed its checksum."""


def download(url: str, timeout: float) -> bytes:
    """The body at ``url``; a :class:`FetchError` with one line for any failure."""
    request = urllib.request.Request(url, headers={"User-Agent": "movinet-pi-setup"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot reach {url} ({reason})") from None


MODEL_SIZE = (500_000, 200_000_000)  # bytes: MoViNet A0 int8 is 3.3 MB, A5 float about 100 MB


def check_model_bytes(name: str, data: bytes) -> None:
    """A :class:`FetchError` unless ``data`` looks like a TFLite model (identifier and size)."""
    if not name.endswith(".tflite"):
        return
    if data[4:8] != b"TFL3":
        start = data[:40].decode("ascii", "replace").strip().splitlines()[0] if data.strip() else "nothing"
        raise FetchError(f"{name} is not a TFLite model (it starts with {start!r}): nothing was written")
    if not MODEL_SIZE[0] <= len(data) <= MODEL_SIZE[1]:
        raise FetchError(f"{name} is {len(data):,} bytes, not a plausible MoViNet model: nothing was written")


def read_pins(path: Path) -> dict[str, str]:
    """``sha256sum`` lines (``HEX  NAME``) as {name: hex}."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, _, name = line.strip().partition(" ")
            pins[name.strip().lstrip("*")] = digest.lower()
    return pins


def _unpack(data: bytes, name: str) -> bytes:
    """Kaggle serves models as .tar.gz archives: take the one .tflite inside."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.endswith(Path(name).suffix)]
        if len(members) != 1:
            raise FetchError(f"the archive for {name} holds {len(members)} candidate files, expected 1")
        return archive.extractfile(members[0]).read()


def fetch_one(
    item: ModelFile,
    dest: Path,
    source_dir: Path | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
    pinned: str | None = None,
) -> str:
    """Put ``item`` into ``dest`` (verified against ``pinned`` or its published checksum);
    returns a one-line report."""
    expected = (pinned or item.sha256 or "").lower() or None
    target = dest / item.name
    if target.is_file() and expected and sha256_of(target) == expected:
        return f"ok       {item.name} (already present)"
    if source_dir is not None:
        origin = source_dir / item.name
        if not origin.is_file():
            raise FetchError(f"{origin} not found")
        data = origin.read_bytes()
    else:
        url = f"{base_url.rstrip('/')}/{item.name}" if base_url else item.url
        data = _unpack(download(url, timeout), item.name)
    digest = hashlib.sha256(data).hexdigest()
    if expected and digest != expected:
        raise FetchError(
            f"{item.name} has sha256 {digest}, expected {expected}: the file is corrupt "
            "or not the official one; nothing was written"
        )
    check_model_bytes(item.name, data)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest, prefix=f".{item.name}.", delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, 0o644)  # mkstemp's 0600 would hide the model from other users (a service user)
    os.replace(tmp.name, target)
    note = "" if expected else " (nothing to check it against: pin it with --pin)"
    verb = "copied " if source_dir is not None else "fetched"  # --from a folder: nothing was downloaded
    return f"{verb}  {item.name} sha256 {digest}{note}"


def fetch(
    dest: Path, include_optional: bool = False, source_dir: Path | None = None, base_url: str | None = None, timeout: float = 60.0
) -> list[str]:
    """Fetch every default file (and A1/A2 with ``include_optional``); raises on the first failure."""
    items = [m for m in MANIFEST if m.default or include_optional]
    return [fetch_one(m, dest, source_dir, base_url, timeout) for m in items]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dest", type=Path, default=Path(__file__).resolve().parent.parent / "models")
    p.add_argument("--from", dest="source_dir", type=Path, default=None, help="copy from this folder")
    p.add_argument("--all", action="store_true", help="also fetch A1 and A2")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--pin", action="append", default=[], metavar="NAME=SHA256", help="expect this checksum for NAME")
    p.add_argument("--pins", type=Path, default=None, metavar="FILE", help="checksums to expect, sha256sum format")
    args = p.parse_args(argv)
    base_url = os.environ.get("MOVINET_MODELS_URL") or None
    try:
        pins = read_pins(args.pins) if args.pins else {}
    except OSError as exc:
        print(f"error: cannot read --pins {args.pins}: {exc.strerror}", file=sys.stderr)
        return 2
    for pin in args.pin:
        name, _, digest = pin.partition("=")
        if len(digest) != 64:
            print(f"error: --pin {pin}: give NAME=SHA256 with the 64 hex digits of the checksum", file=sys.stderr)
            return 2
        pins[name] = digest.lower()
    items = [m for m in MANIFEST if m.default or args.all]
    failed = False
    for item in items:
        try:
            print(fetch_one(item, args.dest, args.source_dir, base_url, args.timeout, pins.get(item.name)))
        except FetchError as exc:
            failed = True
            print(f"error: {exc}", file=sys.stderr)
        except OSError as exc:
            failed = True
            print(f"error: cannot write {args.dest / item.name}: {exc.strerror}", file=sys.stderr)
    if failed:
        print(
            "Some files are missing. Offline, copy them from a folder: ./setup.sh --models-from DIR"
            " (DIR holds the .tflite and label files); or fetch them by hand: docs/models.md.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
