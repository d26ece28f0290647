"""Benchmarks: scripts that measure speed and memory and print a table (never run as tests)."""

import os

# The environment the benchmark was started in, before the app's package adjusts it: the programs
# a benchmark compares run in it, as each would from a shell (benchmarks/pipeline.py --versus-naive).
STARTED_ENV = dict(os.environ)

import video_classifier  # noqa: E402, F401  (next: it sets the app's BLAS threads before numpy loads)
