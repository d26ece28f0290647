"""docs/extending.md's examples, run as written: a new output is one module and one line in
``OUTPUTS``, a new source one module and one line in ``KINDS``."""

from __future__ import annotations

import ast
import re
import sys
import types
from dataclasses import dataclass

import numpy as np
from conftest import KINETICS_LABELS, ROOT, media_path, model_path

import video_classifier.app as app_module
import video_classifier.sources as sources
from video_classifier.settings import Settings

DOC = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, re.S)
BELL_MODULE, OUTPUTS_LINE, PATTERN_MODULE, KINDS_LINE = BLOCKS


def install(monkeypatch, name: str, source: str) -> types.ModuleType:
    """The module ``name`` made from ``source``, importable as if its file were in the package."""
    module = types.ModuleType(name)
    exec(compile(source, f"docs/extending.md:{name}", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def new_row(block: str, table: tuple) -> tuple:
    """The one row the page's ``TABLE = (..., row, ...)`` block adds to ``table``."""
    (statement,) = ast.parse(block).body
    rows = [eval(compile(ast.Expression(element), "docs/extending.md", "eval")) for element in statement.value.elts
            if not (isinstance(element, ast.Constant) and element.value is Ellipsis)]  # fmt: skip
    (row,) = [row for row in rows if row[0] not in {existing[0] for existing in table}]
    return row


@dataclass(frozen=True)
class BellSettings(Settings):
    bell: bool = True  # the --bell flag the page adds


def test_the_bell_output_is_one_module_and_one_line(monkeypatch, capsys):
    install(monkeypatch, "video_classifier.outputs.bell", BELL_MODULE)
    row = new_row(OUTPUTS_LINE, app_module.OUTPUTS)
    assert row[0] == "bell" and row[2] == "video_classifier.outputs.bell"
    monkeypatch.setattr(app_module, "OUTPUTS", (*app_module.OUTPUTS, row))
    clip = str(media_path("carving_ice.mp4"))
    settings = BellSettings(camera=clip, model=model_path(), labels=model_path(KINETICS_LABELS), no_display=True, num_threads=1)
    app = app_module.App(settings)
    app.run()
    assert app.bell.rung >= 1  # carving ice is an event
    assert capsys.readouterr().out.count("\a") == app.bell.rung


def test_the_pattern_source_is_one_module_and_one_line(monkeypatch):
    install(monkeypatch, "video_classifier.sources.pattern", PATTERN_MODULE)
    row = new_row(KINDS_LINE, sources.KINDS)
    monkeypatch.setattr(sources, "KINDS", (*sources.KINDS[:-1], row, sources.KINDS[-1]))
    source = sources.open_source("pattern", width=320, height=240, camera_fps=50)
    frames = [source.read() for _ in range(3)]
    assert source.name == "test pattern" and source.live
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    assert [f.index for f in frames] == [0, 1, 2] and frames[0].timestamp < frames[1].timestamp < frames[2].timestamp
    assert not np.array_equal(frames[0].image, frames[2].image)  # the bars move
    assert type(sources.open_source(str(media_path("carving_ice.mp4")))).__name__ == "VideoFileSource"  # the others stay
