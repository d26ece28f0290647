"""utils.fast_exit: the program ends as a normal exit would leave it, without the teardown."""

import subprocess
import sys

from conftest import ROOT

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
