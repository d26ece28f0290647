"""utils.quiet: native chatter silenced, and the app's own stderr always given back."""

import os
import subprocess
import sys

from conftest import ROOT

# In a child process: fd 2 is what the test reads, and a lost fd 2 cannot harm pytest.
CHILD = r"""
import sys
from utils.quiet import native_stderr_silenced

class InterruptedFlush:
    "sys.stderr whose flush is interrupted by a Ctrl-C once the block is over."
    def __init__(self, real):
        self.real, self.calls = real, 0
    def write(self, text):
        return self.real.write(text)
    def flush(self):
        self.calls += 1
        self.real.flush()
        if self.calls == 2:
            raise KeyboardInterrupt

real = sys.stderr
sys.stderr = InterruptedFlush(real)
try:
    with native_stderr_silenced():
        import os
        os.write(2, b"native chatter\n")
except KeyboardInterrupt:
    pass
sys.stderr = real
print("stopping", file=sys.stderr, flush=True)
"""


def test_a_ctrl_c_as_native_stderr_is_given_back_leaves_stderr_working():
    """A Ctrl-C in the flush before fd 2 was restored left it in the sink for good: the app then
    said nothing more, not even 'stopping'."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "stopping\n"
