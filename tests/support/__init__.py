"""Test-only code the tests and the benchmarks share: camera servers, frame stamps, paced clips."""
