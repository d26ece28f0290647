"""Find a TensorFlow Lite interpreter: LiteRT first, then tflite-runtime."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from video_classifier.errors import UserError

# (runtime name, module holding Interpreter, distribution whose version we report)
_CANDIDATES = {
    "litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite-runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
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
    # The package's own __version__ when it has one: importlib.metadata costs 30 ms at start-up.
    version = getattr(importlib.import_module(module_name.split(".")[0]), "__version__", None)
    if version is None:
        from importlib import metadata

        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "unknown"
    return Runtime(name, version, module.Interpreter)


def load_runtime(choice: str = "auto") -> Runtime:
    """Import the runtime named by ``choice`` (``auto`` tries LiteRT, then tflite-runtime).

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
    raise UserError(f"no TFLite runtime could be imported ({'; '.join(failures)}): {_INSTALL[choice]}")


# How to get each runtime: ./setup.sh installs LiteRT only.
_INSTALL = {
    "auto": "run ./setup.sh (it installs ai-edge-litert into .venv) or .venv/bin/pip install ai-edge-litert",
    "litert": "run ./setup.sh (it installs ai-edge-litert into .venv) or .venv/bin/pip install ai-edge-litert",
    "tflite-runtime": ".venv/bin/pip install tflite-runtime (wheels exist for Python 3.9 to 3.11 only), "
    "or leave out --runtime to use ai-edge-litert, which ./setup.sh installs",
}
