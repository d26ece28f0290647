"""Real-time action recognition with MoViNet stream models on TensorFlow Lite."""

import os

__version__ = "0.9.0"

# Before numpy loads (the package is imported first by classify.py, the tests and the benchmarks):
# numpy's OpenBLAS would start a thread per core at import, 0.1 s of CPU at each start here (a
# third of a start), for matrix products the app never gives it: the model runs in its runtime,
# and the app's own products (a pooled vector against the taught examples) are small.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
