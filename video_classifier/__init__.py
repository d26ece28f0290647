"""Real-time action recognition with MoViNet stream models on TensorFlow Lite."""

import os

__version__ = "0.9.0"

# Before numpy loads (the package is imported first by classify.py, the tests and the benchmarks):
# the app's products are small (a pooled vector against the taught examples), for which BLAS
# threads cost more CPU than they save and compete with the model's own threads (measured with
# the classifier head's products: 1.6 s of CPU more per 300 frames with them, 0.4 s without).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
