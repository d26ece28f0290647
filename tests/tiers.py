"""The suite's two tiers: ``pytest -m "not slow"`` answers in a minute or two, plain ``pytest`` runs
everything (as ``.ci/run`` does).

A test is slow when it needs an X server, a browser, a broker, Home Assistant or GStreamer, or runs
the app in real time. Nobody has to remember to mark it:

- at collection, a test is marked ``slow`` when its code, its fixtures' code, or the test-suite
  functions and classes these use, name one of ``SLOW``: a program that is such a thing (as a
  string, ``require_program("chromium", ...)``, or the file a path of the suite points at) or a
  helper that runs the app in real time;
- while a test runs, a test not marked ``slow`` that starts one of those programs fails, saying to
  mark it, whatever way it found to start it.

Tests that take long for another reason carry ``@pytest.mark.slow`` (or a module ``pytestmark``),
with a comment saying why: the app waiting out a time-out or on a camera streaming in real time,
hundreds of model frames, lessons taught through the app, many app starts, tflite-runtime's long
import. The run names the unmarked tests that took over ``LONG_S`` seconds.
"""

from __future__ import annotations

import inspect
import os
import sys
import types
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# A name in a test's code (or the program a process is started with) -> what makes it slow.
SLOW = {
    "Xvfb": "an X server",
    "openbox": "an X server (its window manager)",
    "mosquitto": "a broker (mosquitto)",
    "chromium": "a browser (Chromium)",
    "chromedriver": "a browser (Chromium)",
    "hass": "Home Assistant",
    "rtsp_camera.py": "GStreamer (the RTSP test server)",
    "start_live_app": "the app in real time (the live view on the picamera2 stand-in)",
    "FAKES_DIR": "the app in real time (on the picamera2 stand-in, in its own process)",
}


def _of_the_suite(value: object) -> bool:
    """Whether ``value`` is a function or class written in tests/ (whose code is read too)."""
    if not (inspect.isfunction(value) or inspect.isclass(value)):
        return False
    module = sys.modules.get(getattr(value, "__module__", ""), None)
    return Path(getattr(module, "__file__", None) or "/").resolve().is_relative_to(TESTS)


def _codes(code: types.CodeType):
    """``code`` and the code nested in it (inner functions, lambdas, comprehensions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def slow_because(value: object, seen: set[int] | None = None) -> str | None:
    """What slow thing ``value`` (a test, a fixture, or a function or class of the suite) needs,
    reading its code and that of the suite's functions and classes it names; None when nothing."""
    seen = set() if seen is None else seen
    value = inspect.unwrap(value)
    if id(value) in seen:
        return None
    seen.add(id(value))
    if inspect.isclass(value):
        methods = [m for m in vars(value).values() if inspect.isfunction(m)]
        return next((why for m in methods if (why := slow_because(m, seen))), None)
    code, names = getattr(value, "__code__", None), getattr(value, "__globals__", {})
    if code is None:
        return None
    for part in _codes(code):
        for name in part.co_names:
            if name in SLOW:
                return SLOW[name]
            found = names.get(name)
            if isinstance(found, (str, Path)) and Path(found).name in SLOW:  # a program's path
                return SLOW[Path(found).name]
            if _of_the_suite(found) and (why := slow_because(found, seen)):
                return why
        for const in part.co_consts:
            if isinstance(const, str) and const in SLOW:
                return SLOW[const]
    return None


def item_slow_because(item: pytest.Item) -> str | None:
    """What slow thing the test ``item`` needs through its own code or its fixtures'."""
    seen: set[int] = set()
    fixtures = getattr(item, "_fixtureinfo", None)
    definitions = [d for ds in (fixtures.name2fixturedefs.values() if fixtures else ()) for d in ds]
    for value in [getattr(item, "obj", None), *(d.func for d in definitions)]:
        if value is not None and (why := slow_because(value, seen)):
            return why
    return None


@pytest.hookimpl(tryfirst=True)  # before -m picks the tests
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that needs one of ``SLOW``."""
    for item in items:
        if item.get_closest_marker("slow") is None and (why := item_slow_because(item)):
            item.add_marker(pytest.mark.slow(reason=f"needs {why}"))


# A test not marked slow that takes longer than this (setup included) is named at the end of the
# run, as one to mark: a long test cannot be found from its code.
LONG_S = 10.0


def pytest_terminal_summary(terminalreporter) -> None:
    """Name the tests not marked slow that took over ``LONG_S`` seconds."""
    took: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) in ("setup", "call") and "slow" not in report.keywords:
                took[report.nodeid] = took.get(report.nodeid, 0.0) + report.duration
    long = sorted(((s, nodeid) for nodeid, s in took.items() if s > LONG_S), reverse=True)
    if long:
        terminalreporter.write_sep("-", f"not marked slow, yet over {LONG_S:g} s (mark them @pytest.mark.slow?)")
        for seconds, nodeid in long:
            terminalreporter.write_line(f"{seconds:5.1f} s  {nodeid}")


# The test running in this process when it is not marked slow (None between tests).
_fast_test: pytest.Item | None = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Note whether the running test (its fixtures included) may start slow programs."""
    global _fast_test
    _fast_test = None if item.get_closest_marker("slow") else item
    try:
        return (yield)
    finally:
        _fast_test = None


def _program_names(executable, args) -> set[str]:
    """The names of what a new process runs: its program and first argument (a script)."""
    argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
    firsts = [executable, *argv[:2]]
    return {Path(os.fsdecode(part)).name for part in firsts if part is not None}


def _refuse_slow_programs_in_fast_tests(event: str, args: tuple) -> None:
    """An audit hook: a test not marked slow that starts a program of ``SLOW`` fails."""
    if event != "subprocess.Popen" or _fast_test is None:
        return
    for name in _program_names(args[0], args[1]) & SLOW.keys():
        pytest.fail(
            f"{_fast_test.nodeid} starts {name} ({SLOW[name]}) but is not marked slow: "
            "use the suite's fixture or helper for it, or mark the test @pytest.mark.slow",
            pytrace=False,
        )


sys.addaudithook(_refuse_slow_programs_in_fast_tests)
