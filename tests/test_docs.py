"""README.md and docs/: every relative link leads to a file (and a heading) that exists, and every
flag a command shows is one its program takes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

from video_classifier.options import build_parser

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
INLINE = re.compile(r"``(.+?)``|`([^`]+)`")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# A program the docs run, and where the flags after it are defined.
PROGRAM = re.compile(r"classify\.py|setup\.sh|-m ((?:install|benchmarks)\.\w+)|((?:benchmarks|install|tests|utils)/\w+\.py)")


def prose(text: str) -> str:
    """A page without its fenced blocks (their lines are not headings, links or inline code)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", prose(page.read_text()), re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    links = LINK.findall(prose(page.read_text()))
    assert links or page.name != "README.md"
    broken = []
    for target in links:
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert not broken, broken


def classify_flags() -> set[str]:
    return {option for action in build_parser()._actions for option in action.option_strings if option.startswith("--")}


def flags_of(program: str) -> set[str]:
    """The flags ``program`` (``classify.py``, ``setup.sh``, a module or a script) takes."""
    if program == "classify.py":
        return classify_flags()
    if program == "setup.sh":
        return set(re.findall(r"(--[a-z][a-z-]*)(?=[|)])", (ROOT / "setup.sh").read_text()))
    path = ROOT / program if program.endswith(".py") else ROOT / (program.replace(".", "/") + ".py")
    assert path.exists(), f"the docs run {program}, which is not there"
    return set(re.findall(r'"(--[a-z][a-z0-9-]*)"', path.read_text()))


def every_known_flag() -> set[str]:
    scripts = [
        p.relative_to(ROOT).as_posix() for d in ("benchmarks", "install", "tests", "utils") for p in (ROOT / d).glob("*.py")
    ]
    return set().union(*(flags_of(p) for p in ["classify.py", "setup.sh", *scripts]))


def unknown_flags(command: str, known: set[str]) -> list[str]:
    """The flags in one command line that its program does not take. After ``--``, setup.sh and
    install.service pass the flags on to classify.py; a flag with no program must exist somewhere."""
    code, *comment = re.split(r"(?:^|\s)#", command, maxsplit=1)
    unknown = [flag for flag in FLAG.findall("".join(comment)) if flag not in known]
    for segment in re.split(r"&&|;| \| ", code):
        match = PROGRAM.search(segment)
        if not match:
            unknown += [flag for flag in FLAG.findall(segment) if flag not in known]
            continue
        program = match.group(1) or match.group(2) or match.group(0)
        own, passed_on = (re.split(r"\s--\s", segment[match.end() :], maxsplit=1) + [""])[:2]
        unknown += [flag for flag in FLAG.findall(own) if flag not in flags_of(program)]
        unknown += [flag for flag in FLAG.findall(passed_on) if flag not in classify_flags()]
    return unknown


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_flag_a_command_shows_exists(page):
    text = page.read_text()
    known = every_known_flag() | {"--help"}
    blocks = [block for lang, block in FENCE.findall(text) if lang not in ("yaml", "json", "text")]  # no commands in those
    commands = [line for block in blocks for line in block.splitlines()]
    commands += [a or b for a, b in INLINE.findall(prose(text))]
    unknown = {
        f"{flag} in {command.strip()!r}"
        for command in commands
        if not command.lstrip().startswith("error:")  # the app's own words, checked by the tests that cause them
        for flag in unknown_flags(command, known)
    }
    assert not unknown, sorted(unknown)


def test_a_wrong_flag_or_link_would_be_found():
    """The checks above can fail: a flag classify.py does not take, one passed on after --, and a
    heading that does not exist."""
    known = every_known_flag()
    assert unknown_flags(".venv/bin/python classify.py --camera 0 --no-such-flag", known) == ["--no-such-flag"]
    assert unknown_flags("./setup.sh --install-service door -- --dry-run", known) == ["--dry-run"]
    assert unknown_flags("python -m benchmarks.teach --sweep --threads 2", known) == ["--threads"]
    assert "continuous-use" in anchors(ROOT / "docs" / "how-it-works.md")
    assert "no-such-heading" not in anchors(ROOT / "docs" / "how-it-works.md")
