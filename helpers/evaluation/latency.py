"""Timing: the one median wall-time helper, and single-image latency of a model."""

from __future__ import annotations

import time

import keras
import numpy as np

from helpers import backend
from helpers.data.pipeline import to_model_input


def median_ms(fn, repeats: int = 50) -> float:
    """Median wall time of ``fn()`` in milliseconds, after one warm-up call."""
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1000)


def latency_ms(model: keras.Model, image: np.ndarray, repeats: int = 50) -> dict[str, float]:
    """Median single-image latency (ms) of ``model.predict`` vs a compiled forward call."""
    size, channels = model.input_shape[1], model.input_shape[3]
    x = to_model_input(image[None], size, channels)
    fn = backend.compiled_forward(model)
    return {
        "predict_ms": median_ms(lambda: model.predict(x, verbose=0), repeats),
        "compiled_ms": median_ms(lambda: fn(x), repeats),
    }
