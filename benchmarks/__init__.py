"""Benchmarks: scripts that measure speed and memory and print a table (never run as tests)."""

import video_classifier  # noqa: F401  (first: it sets the app's BLAS threads before numpy loads)
