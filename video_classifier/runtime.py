"""Find a TensorFlow Lite interpreter: LiteRT first, then tflite-runtime, then TensorFlow."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from video_classifier.errors import UserError

# (runtime name, module holding Interpreter, distribution whose version we report)
_CANDIDATES = {
    "litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite-runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
    "tensorflow": ("tensorflow.lite", "tensorflow"),
}
RUNTIME_CHOICES = ("auto", *_CANDIDATES)


@dataclass(frozen=True)
class Runtime:
    """An importable TFLite runtime: its ``Interpreter`` class, name and version."""

    name: str
    version: str
    interpreter_class: Any

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def _import(name: str) -> Runtime:
    module_name, dist = _CANDIDATES[name]
    module = importlib.import_module(module_name)
    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        version = "unknown"
    return Runtime(name, version, module.Interpreter)


def load_runtime(choice: str = "auto") -> Runtime:
    """Import the runtime named by ``choice`` (``auto`` tries LiteRT, tflite-runtime, TensorFlow).

    LiteRT comes first: on the int8 MoViNet it runs several times faster than tflite-runtime
    2.14 (XNNPACK handles its int8 ops; ``benchmarks/models.py`` measures both) and it is the
    only one with wheels for Python 3.12+.
    """
    if choice not in RUNTIME_CHOICES:
        raise UserError(f"unknown runtime {choice!r}: choose one of {', '.join(RUNTIME_CHOICES)}")
    names = list(_CANDIDATES) if choice == "auto" else [choice]
    failures = []
    for name in names:
        try:
            return _import(name)
        except (ImportError, AttributeError) as exc:  # a numpy ABI mismatch raises either
            failures.append(f"{name}: {exc}")
    hint = "pip install ai-edge-litert" if choice in ("auto", "litert") else f"pip install {_CANDIDATES[choice][1]}"
    raise UserError(f"no TFLite runtime could be imported ({'; '.join(failures)}): run ./setup.sh or {hint}")
