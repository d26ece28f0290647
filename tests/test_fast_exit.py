"""utils.fast_exit: the program ends as a normal exit would leave it, without the teardown."""

import os
import subprocess
import sys

import pytest
from conftest import A0, ROOT, model_path

CHILD = r"""
import atexit, sys, threading, time
from pathlib import Path
from utils.fast_exit import exit_without_teardown

out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.3)
    (out / "thread").write_text("done")
threading.Thread(target=late).start()  # not a daemon: a normal exit waits for it
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()  # a daemon: it does not
sys.stdout.write("no newline, still buffered")
exit_without_teardown(3)
print("never")
"""


def test_threads_atexit_handlers_and_buffered_output_are_seen_to_before_the_exit_status(tmp_path):
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 3
    assert done.stdout == "no newline, still buffered"
    assert done.stderr == ""
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"


CHILD_PRINTS = """
import time
from utils.fast_exit import exit_without_teardown
time.sleep(0.3)
print("x" * 100)
exit_without_teardown(0)
"""


def buffered_env() -> dict[str, str]:
    """stdout block-buffered, as most users have it (the tests' environment turns that off)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def test_what_stdout_could_not_take_is_said_and_makes_the_status_an_error():
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-c", CHILD_PRINTS], cwd=ROOT, env=buffered_env(), stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert done.returncode == 2
    assert done.stderr == "error: cannot write to standard output (No space left on device)\n"


def test_a_closed_stdout_or_a_reader_gone_is_no_error():
    closed = subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -c "$0" >&-', CHILD_PRINTS],
        cwd=ROOT,
        env=buffered_env(),
        capture_output=True,
        text=True,
    )
    assert (closed.returncode, closed.stderr) == (0, "")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_PRINTS], cwd=ROOT, env=buffered_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    child.stdout.close()  # the reader is gone before the child writes (prog | head -0)
    assert child.wait(timeout=30) == 0 and child.stderr.read() == b""


@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_a_list_into_a_full_disk_is_one_error_line_with_or_without_a_buffer(tmp_path, unbuffered):
    """``--list-actions > /dev/full``: with PYTHONUNBUFFERED (services often set it) the write
    failed inside the job, a traceback; without, at the exit. Either way: one line, status 2."""
    env = {**buffered_env(), **({"PYTHONUNBUFFERED": unbuffered} if unbuffered else {})}
    command = [
        sys.executable,
        "classify.py",
        "--model",
        str(model_path(A0)),
        "--actions",
        str(tmp_path / "a.json"),
        "--list-actions",
    ]
    with open("/dev/full", "w") as full:
        done = subprocess.run(command, cwd=ROOT, env=env, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == "error: cannot write to standard output (No space left on device)\n"
