"""Calibration: expected calibration error, reliability tables, temperature scaling."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """ECE: confidence-weighted gap between accuracy and confidence over equal-width bins."""
    conf, pred = probs.max(1), probs.argmax(1)
    correct = pred == y_true
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def reliability_table(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """Per-bin confidence, accuracy and count, for a reliability diagram."""
    conf, correct = probs.max(1), probs.argmax(1) == y_true
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    rows = [
        {
            "bin_low": b / n_bins,
            "bin_high": (b + 1) / n_bins,
            "count": int((bins == b).sum()),
            "confidence": float(conf[bins == b].mean()) if (bins == b).any() else np.nan,
            "accuracy": float(correct[bins == b].mean()) if (bins == b).any() else np.nan,
        }
        for b in range(n_bins)
    ]
    return pd.DataFrame(rows)


def fit_temperature(y_val: np.ndarray, probs_val: np.ndarray) -> float:
    """Temperature T minimising validation NLL of softmax(log p / T)."""
    logits = np.log(np.clip(probs_val, 1e-12, 1))

    def nll(t: float) -> float:
        return -np.mean(_log_softmax(logits / t)[np.arange(len(y_val)), y_val])

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def apply_temperature(probs: np.ndarray, t: float) -> np.ndarray:
    """Rescale probabilities by temperature ``t``."""
    return np.exp(_log_softmax(np.log(np.clip(probs, 1e-12, 1)) / t))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))
