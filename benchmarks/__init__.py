"""Benchmarks: scripts that measure speed and memory and print a table (never run as tests)."""
