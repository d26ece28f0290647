"""``--help`` and docs/cli.md describe the same flags, in the same words."""

import re
import subprocess
import sys

from conftest import ROOT

import classify
from video_classifier.flag_parser import HelpFormatter
from video_classifier.options import build_parser

CLI = (ROOT / "docs" / "cli.md").read_text()


def section(title: str) -> str:
    """The text of docs/cli.md's section ``## title``, up to the next one."""
    start = CLI.index(f"## {title}\n")
    end = CLI.find("\n## ", start + 1)
    return CLI[start : end if end != -1 else len(CLI)]


def synopsis(width: int = 100) -> str:
    """The usage line of ``--help`` at ``width`` columns: docs/cli.md's *Synopsis* block is this text."""
    parser = build_parser()
    parser.prog = "python classify.py"
    parser.formatter_class = lambda prog: HelpFormatter(prog, width=width)
    first, *rest = parser.format_usage().removeprefix("usage: ").rstrip("\n").split("\n")
    return "\n".join([first, *(line.removeprefix(" " * len("usage: ")) for line in rest)])


def parser_flags() -> set[str]:
    """Every flag a user can give (the test hooks hidden from --help left out)."""
    return {
        option
        for action in build_parser()._actions
        if action.help != "==SUPPRESS==" and action.dest != "help"
        for option in action.option_strings
    }


def test_the_documented_synopsis_is_the_usage_of_help():
    block = section("Synopsis").split("```\n")[1]
    assert block.rstrip("\n") == synopsis()


def test_the_documented_table_has_a_row_for_every_flag_and_no_other():
    rows = [line.split("|")[1] for line in section("Flags").splitlines() if line.startswith("| `--")]
    in_table = {flag for cell in rows for flag in re.findall(r"--[a-z0-9-]+", cell)}
    assert in_table == parser_flags()


def test_help_is_grouped_by_task_with_relative_defaults_and_examples():
    result = subprocess.run(
        [sys.executable, classify.__file__, "--help"], capture_output=True, text=True, env={"COLUMNS": "100"}, check=True
    )
    text = result.stdout
    headings = re.findall(r"^(\S[^\n]*):$", text, re.MULTILINE)
    assert headings == [
        "options",
        "camera or video",
        "model",
        "display",
        "output and events",
        "teach mode: your own actions",
        "MQTT (Home Assistant)",
        "browser live view",
        "examples",
    ]
    assert str(ROOT) not in text
    assert "(default: models/movinet_a0_stream_int8.tflite)" in " ".join(text.split())
    assert not re.search(r"--[a-z-]+ [A-Z]+_[A-Z]+", text)  # placeholders such as NUM_THREADS
    assert "tensorflow" not in text
    examples = text.split("\nexamples:\n")[1].splitlines()
    assert len(examples) >= 4 and all(line.startswith("  classify.py") for line in examples)


def test_docs_cli_lists_every_environment_variable_the_app_reads():
    from video_classifier.environment import VARIABLES

    listed = dict(re.findall(r"^\| `(\w+)` \| (.+) \|$", section("Environment variables"), re.M))
    assert listed == VARIABLES
