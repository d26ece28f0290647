"""What a MoViNet stream model's file and signature must hold, and the role of each tensor.

The image input, the logits and the state pairs are found from the signature itself (no
hard-coded names or counts), so A0/A1/A2 and fine-tuned exports all work.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from video_classifier.errors import ModelError

_TFLITE_MAGIC = b"TFL3"


@dataclass(frozen=True)
class TensorSpec:
    """What the wrapper needs to know about one signature tensor."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, name: str, details: dict[str, Any]) -> TensorSpec:
        scale, zero_point = details.get("quantization", (0.0, 0))
        return cls(
            name,
            details["index"],
            tuple(int(d) for d in details["shape"]),
            np.dtype(details["dtype"]),
            float(scale),
            int(zero_point),
        )

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0

    @property
    def nbytes(self) -> int:
        return self.dtype.itemsize * int(np.prod(self.shape))


@dataclass(frozen=True)
class StreamSignature:
    """The roles of a stream model's tensors, found from one signature."""

    key: str
    image: TensorSpec
    logits: TensorSpec
    states: tuple[tuple[TensorSpec, TensorSpec], ...]  # (input, output) pairs, same name


def check_model_file(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"model file not found: {path}: run ./setup.sh to download the models or pass --model PATH")
    if path.is_dir():
        raise ModelError(f"model path is a directory: {path}: pass the .tflite file inside it with --model")
    if not path.is_file():  # a FIFO would block the start for good
        raise ModelError(f"model path is not a regular file (a device or a FIFO): {path}: pass a .tflite file with --model")
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror}") from None
    if len(head) < 8 or head[4:8] != _TFLITE_MAGIC:
        what = "empty" if not head else "not a TFLite model"
        # A .tflite that is not one was cut short; anything else is the wrong path.
        advice = (
            "download it again (./setup.sh fetches the default model)"
            if path.suffix == ".tflite"
            else "check the path given to --model: it should name a MoViNet stream .tflite file"
        )
        raise ModelError(f"model file {path} is {what}: {advice}")
    problem = _subgraphs_problem(path)  # the runtime reads such a file to a segmentation fault, without a word
    if problem:
        raise ModelError(f"model file {path} is {problem}: download it again (./setup.sh fetches the default model)")


_SUBGRAPHS_FIELD = 2  # the Model table's fields in TFLite's schema: version, operator_codes, subgraphs, ...


def _subgraphs_problem(path: Path) -> str | None:
    """What is wrong with the model's table of subgraphs, or None when its root table has one of
    at least one subgraph inside the file: the flatbuffer read as far as that (a few of its
    first bytes and that table's place), not verified whole."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        size = len(data)

        def number(fmt: str, at: int) -> int | None:
            return struct.unpack_from(fmt, data, at)[0] if 0 <= at <= size - struct.calcsize(fmt) else None

        table = number("<I", 0)
        back = None if table is None else number("<i", table)
        vtable = None if back is None else table - back
        vtable_size = None if vtable is None else number("<H", vtable)
        slot = 4 + 2 * _SUBGRAPHS_FIELD
        field = number("<H", vtable + slot) if vtable_size is not None and slot + 2 <= vtable_size else None
        if not field:  # absent, or the root table itself out of the file
            return "damaged (its table of subgraphs is missing)"
        at = table + field + (number("<I", table + field) or 0)
        count = number("<I", at)
        if count is not None and at + 4 + 4 * count <= size:
            return None if count else "damaged (its table of subgraphs is empty)"
        return "cut short (it ends before its table of subgraphs)"


def find_stream_signature(signatures: dict[str, tuple[dict, dict]], path: Path) -> StreamSignature:
    """Pick the signature that looks like a MoViNet stream model and pair its states.

    ``signatures`` maps a signature key to its (input details, output details) by name.
    Raises :class:`ModelError` naming what is missing when no signature fits.
    """
    if not signatures:
        raise ModelError(f"{path} is not a MoViNet stream model: it has no signature; export it with one")
    problems = []
    # Official models use 'serving_default'; fine-tuned exports often use 'call'.
    for key in sorted(signatures, key=lambda k: k != "serving_default"):
        inputs, outputs = signatures[key]
        try:
            return _match_roles(key, inputs, outputs)
        except ValueError as exc:
            problems.append(f"signature {key!r}: {exc}")
    raise ModelError(f"{path} is not a MoViNet stream model ({'; '.join(problems)}): pass a MoViNet *stream* .tflite")


def _match_roles(key: str, inputs: dict, outputs: dict) -> StreamSignature:
    specs_in = {n: TensorSpec.from_details(n, d) for n, d in inputs.items()}
    specs_out = {n: TensorSpec.from_details(n, d) for n, d in outputs.items()}
    images = [s for s in specs_in.values() if len(s.shape) == 5 and s.shape[1] == 1 and s.shape[4] == 3]
    if not images:
        raise ValueError("no [1, 1, H, W, 3] image input")
    image = next((s for s in images if s.name == "image"), images[0])
    states = []
    for name, spec in specs_in.items():
        if spec is image:
            continue
        out = specs_out.get(name)
        if out is None:
            raise ValueError(f"input {name!r} has no output of the same name to feed back")
        if out.shape != spec.shape or out.dtype != spec.dtype:
            raise ValueError(f"state {name!r} is {spec.shape} {spec.dtype} in but {out.shape} {out.dtype} out")
        states.append((spec, out))
    if not states:
        raise ValueError("no state inputs (is this a base model rather than a stream model?)")
    heads = [s for n, s in specs_out.items() if n not in specs_in and len(s.shape) == 2]
    if not heads:
        raise ValueError("no [1, classes] logits output")
    logits = next((s for s in heads if s.name == "logits"), heads[0])
    return StreamSignature(key, image, logits, tuple(states))
