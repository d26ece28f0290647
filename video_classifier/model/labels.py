"""Class names: from the model's embedded metadata when present, else from a text file."""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

from video_classifier.errors import LabelsError

# Byte-order marks of the other Unicode encodings, longest first (UTF-32's begins as UTF-16's does).
UNICODE_MARKS = (("utf-32", (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)), ("utf-16", (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)))


def parse_labels(data: bytes, source: str) -> list[str]:
    """Parse a label file: one label per line; BOM, CRLF and a missing final newline are fine.

    Blank lines are ignored. Raises :class:`LabelsError` for binary, UTF-16 or UTF-32, or empty content.
    """
    for encoding, marks in UNICODE_MARKS:  # Notepad's "Unicode" is UTF-16
        if data.startswith(marks) and _decodes(data, encoding):
            raise LabelsError(f"label file {source} is {encoding.upper()} text: save it as UTF-8, one label per line")
    if b"\x00" in data:
        raise LabelsError(f"label file {source} is binary, not text: pass a text file with one label per line")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LabelsError(f"label file {source} is not UTF-8 text: pass a text file with one label per line") from None
    labels = [line.strip() for line in text.splitlines()]
    labels = [label for label in labels if label]
    if not labels:
        raise LabelsError(f"label file {source} has no labels: pass a text file with one label per line")
    return labels


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def embedded_labels(model_path: str | Path) -> list[str] | None:
    """Labels packed in the model's TFLite metadata (a zip appended to the file), if any."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".txt")]
            if not names:
                return None
            return parse_labels(archive.read(names[0]), f"{model_path}:{names[0]}")
    except (zipfile.BadZipFile, OSError):
        return None


def read_label_file(path: str | Path) -> list[str]:
    """Read labels from ``path``; a missing or unreadable file is a :class:`LabelsError`."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "is not a regular file" if path.exists() else "not found"
        raise LabelsError(f"label file {what}: {path}: pass --labels PATH or run ./setup.sh to fetch the label map")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabelsError(f"cannot read label file {path}: {exc.strerror}") from None
    return parse_labels(data, str(path))


def load_labels(
    model_path: str | Path,
    labels_path: str | Path | None,
    num_classes: int,
    default_path: str | Path | None = None,
) -> list[str]:
    """The labels for a model: an explicit ``labels_path`` first, then labels embedded in the
    model's metadata, then ``default_path``.

    Raises :class:`LabelsError` when the count does not match the model's ``num_classes``.
    """
    labels = embedded_labels(model_path) if labels_path is None else None
    source = f"metadata of {model_path}"
    if labels is None:
        path = labels_path if labels_path is not None else default_path
        if path is None:
            raise LabelsError(f"model {model_path} embeds no labels: pass --labels PATH")
        labels = read_label_file(path)
        source = str(path)
    if len(labels) != num_classes:
        raise LabelsError(
            f"{source} has {len(labels)} labels but the model outputs {num_classes} classes: "
            "pass the label file that belongs to this model with --labels"
        )
    return labels
