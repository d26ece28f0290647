"""The loop most published MoViNet TFLite examples run, as a program of its own: the yardstick
the app's CPU and wall time are compared with (``benchmarks/pipeline.py --versus-naive``).

    python benchmarks/naive_loop.py CLIP MODEL LABELS [--threads 1]

Reads every frame of CLIP, gives the model 5 per second (by the clip's frame times), squashes
each to the model size, calls the signature runner with a dict of every state, reuses the
outputs as the next states, exp-softmax, full sort, prints the top-1 label.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np


class NaiveLoop:
    """What typical published MoViNet TFLite loops do each frame, in three timed parts."""

    def __init__(self, interpreter, size: tuple[int, int]) -> None:
        self.runner = interpreter.get_signature_runner()
        inputs = self.runner.get_input_details()
        self.states = {n: np.zeros(d["shape"], d["dtype"]) for n, d in inputs.items() if n != "image"}
        self.size = size

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """Squash the whole frame to the model size (no crop), RGB, float in [0, 1]."""
        image = cv2.cvtColor(cv2.resize(frame, self.size), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        return image[np.newaxis, np.newaxis]

    def call(self, image: np.ndarray) -> np.ndarray:
        """Signature runner with a dict of every state; the outputs become the next states."""
        outputs = self.runner(image=image, **self.states)
        logits = outputs.pop("logits")[0]
        self.states = outputs
        return logits

    @staticmethod
    def rank(logits: np.ndarray) -> np.ndarray:
        """exp-softmax and a full sort of all classes."""
        probs = np.exp(logits) / np.sum(np.exp(logits))
        return np.argsort(probs)[::-1][:3]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("clip")
    p.add_argument("model")
    p.add_argument("labels")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=args.model, num_threads=args.threads)
    shape = interpreter.get_signature_runner().get_input_details()["image"]["shape"]
    loop = NaiveLoop(interpreter, (int(shape[3]), int(shape[2])))
    labels = Path(args.labels).read_text(encoding="utf-8").splitlines()
    capture = cv2.VideoCapture(args.clip)
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    index, due = 0, 0.0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        time_s, index = index / fps, index + 1
        if time_s + 1e-3 < due:
            continue
        due += 0.2
        print(labels[loop.rank(loop.call(loop.prepare(frame)))[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
