"""Small statistics shared by the benchmarks."""

from __future__ import annotations

import resource
from collections.abc import Sequence

import numpy as np


def summarize_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of timings in milliseconds (rounded to 0.01 ms)."""
    if not samples:
        raise ValueError("no samples")
    values = np.asarray(samples, np.float64)
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "mean": round(float(values.mean()), 3)}


def fps_from_ms(ms_per_frame: float) -> float:
    """Frames per second sustainable at ``ms_per_frame``."""
    return 1000.0 / ms_per_frame if ms_per_frame > 0 else float("inf")


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Rows as a Markdown table; ``columns`` are (key, heading) pairs."""
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(k, "")) for k, _ in columns) + " |")
    return "\n".join(lines)
