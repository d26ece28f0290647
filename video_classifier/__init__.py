"""Real-time action recognition with MoViNet stream models on TensorFlow Lite."""

__version__ = "0.9.0"
