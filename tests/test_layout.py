"""The house rules, read from the source: families in sub-packages, small modules and functions,
imports that only point down (no circle, no arrow back up), ``utils/`` on its own."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "video_classifier"
MAX_TOP_LEVEL_MODULES = 16
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
DECLARATIVE: set[tuple[str, str]] = set()  # (module, function) of a table longer than a function may be

# Who may import whom: a module imports only modules of its own rank or below. Plain data and
# errors at the bottom; the model and the sources; the core loop; the features; the assembly.
RANKS = {  # modules, by name
    "video_classifier": 0,
    "video_classifier.errors": 0,
    "video_classifier.data": 0,
    "video_classifier.settings": 0,
    "video_classifier.environment": 0,
    "video_classifier.pacer": 1,
    "video_classifier.handoff": 1,
    "video_classifier.region": 1,  # what part of the picture the model sees
    "video_classifier.motion_region": 1,
    "video_classifier.controls": 2,
    "video_classifier.events": 2,
    "video_classifier.outputs": 2,  # the package itself: the outputs' base class
    "video_classifier.pipeline": 3,
    "video_classifier.options": 5,
    "video_classifier.flag_parser": 5,  # argparse in the app's words, for options only
    "video_classifier.flag_checks": 5,  # the flags checked against each other, for options only
    "video_classifier.app": 5,
}
FAMILIES = {  # sub-packages: every module in them
    "video_classifier.model": 1,
    "video_classifier.sources": 1,
    "video_classifier.outputs": 4,
    "video_classifier.display": 4,
    "video_classifier.teach": 4,
    "video_classifier.live_view": 4,
    "video_classifier.home_assistant": 4,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(*folders: str) -> dict[str, Path]:
    return {module_name(p): p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports anywhere in its file (at the top or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: from the module's package
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + [node.module])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    # A module's own package is imported on the way to it: that is not an arrow of its own.
    return {t for t in found if not name.startswith(t + ".")} if found else found


def rank(name: str) -> int:
    if name in RANKS:
        return RANKS[name]
    families = [family for family in FAMILIES if name == family or name.startswith(family + ".")]
    assert families, f"{name} has no rank in tests/test_layout.py: give its family one"
    return FAMILIES[max(families, key=len)]


def graph() -> dict[str, set[str]]:
    modules = package_modules("video_classifier", "utils")
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def test_the_package_top_level_holds_at_most_16_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in package_modules("video_classifier", "utils").items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}  # fmt: skip
    assert long == {}


def test_no_function_is_over_60_lines():
    long = {}
    for name, path in package_modules("video_classifier", "utils").items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or (name, node.name) in DECLARATIVE:
                continue
            if (lines := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES:
                long[f"{name}.{node.name}"] = lines
    assert long == {}


def test_utils_never_imports_the_package():
    arrows = {name: sorted(t for t in targets if t.startswith("video_classifier"))
              for name, targets in graph().items() if name.startswith("utils")}  # fmt: skip
    assert {name: targets for name, targets in arrows.items() if targets} == {}


def test_imports_point_down_never_back_up():
    up = [f"{name} -> {target}" for name, targets in graph().items() if name.startswith("video_classifier")
          for target in targets if target.startswith("video_classifier") and rank(target) > rank(name)]  # fmt: skip
    assert up == []


def test_no_import_circle():
    edges = graph()
    circles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                circles.append(" -> ".join(trail[trail.index(target) :] + [target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_the_layout_check_sees_a_circle_and_an_arrow_up(tmp_path):
    """The checks above would fail on a tree that breaks them (they read what they claim to)."""
    assert rank("video_classifier.pipeline") > rank("video_classifier.model.movinet")
    assert rank("video_classifier.outputs.json_log") > rank("video_classifier.outputs") == 2
    modules = {"video_classifier.a": tmp_path / "a.py", "video_classifier.b": tmp_path / "b.py"}
    modules["video_classifier.a"].write_text("from video_classifier.b import x\n")
    modules["video_classifier.b"].write_text("def f():\n    import video_classifier.a\n")
    assert imports_of("video_classifier.a", modules["video_classifier.a"], set(modules)) == {"video_classifier.b"}
    assert imports_of("video_classifier.b", modules["video_classifier.b"], set(modules)) == {"video_classifier.a"}
