"""docs/extending.md's examples, run as written: a new output is one module and one line in
``OUTPUTS``, a new source one module and one line in ``KINDS``, a new control one method of
``Controls`` and one line in ``COMMANDS``."""

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
BELL_MODULE, OUTPUTS_LINE, PATTERN_MODULE, KINDS_LINE, CONTROL_METHOD, COMMANDS_LINE = BLOCKS


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


def test_the_restart_control_is_one_method_and_one_line_and_every_surface_offers_it(monkeypatch):
    import json
    import textwrap
    import urllib.request

    import video_classifier.controls as controls
    from video_classifier.display.window import Viewer
    from video_classifier.home_assistant.discovery import Device, discovery_configs
    from video_classifier.home_assistant.publisher import MqttPublisher, MqttSettings, parse_command
    from video_classifier.live_view.server import LiveView

    method = {}
    exec(compile(textwrap.dedent(CONTROL_METHOD), "docs/extending.md:Controls", "exec"), {}, method)
    monkeypatch.setattr(controls.Controls, "restart", method["restart"], raising=False)
    (statement,) = ast.parse(COMMANDS_LINE).body
    rows = [eval(compile(ast.Expression(e), "docs/extending.md", "eval"), vars(controls)) for e in statement.value.elts
            if not (isinstance(e, ast.Constant) and e.value is Ellipsis)]  # fmt: skip
    (row,) = [r for r in rows if r.name not in {c.name for c in controls.COMMANDS}]
    monkeypatch.setattr(controls, "COMMANDS", (*controls.COMMANDS, row))
    clip = str(media_path("carving_ice.mp4"))
    app = app_module.App(Settings(camera=clip, model=model_path(), labels=model_path(KINETICS_LABELS), no_display=True))
    pipeline, token = app.pipeline, "a-token-for-the-tests"
    view = LiveView(pipeline, None, "127.0.0.1", 0, token, False, controls=app.controls)
    publisher = MqttPublisher(MqttSettings("127.0.0.1", 1, topic="movinet/pi"))  # not connected: handed a message as by paho
    publisher.control(app.controls)
    view.start()
    try:
        done = []
        for ask in (
            lambda: Viewer(pipeline, "a0", screen=None, controls=app.controls)._handle_key(ord("R")),  # the window
            lambda: publisher._on_command(types.SimpleNamespace(payload=b"restart", retain=False, topic="movinet/pi/command")),
            lambda: urllib.request.urlopen(  # the live view
                urllib.request.Request(f"http://127.0.0.1:{view.port}/restart", b"{}", {"Authorization": f"Bearer {token}"})
            ).read(),
        ):
            pipeline.set_paused(True)
            pipeline._reset_requested.clear()
            answer = ask()
            done.append((pipeline.paused, pipeline._reset_requested.is_set()))
    finally:
        view.close()
        app.close()
    assert done == [(False, True)] * 3  # reset and going on, from each surface
    assert json.loads(answer) == {"message": row.does}
    button = discovery_configs(Device("pi", "movinet/pi", "a0"), corrections=False, taught=[])
    assert button["homeassistant/button/pi/restart/config"]["payload_press"] == "restart"
    assert parse_command("restart")[0] is row
