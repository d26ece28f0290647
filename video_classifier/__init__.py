"""Real-time action recognition with MoViNet stream models on TensorFlow Lite."""
