"""Uncertainty: bootstrap intervals and paired bootstraps of accuracy and macro-F1."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import bootstrap
from sklearn.metrics import (
    f1_score,
)


def _accuracy_macro_f1(labels: np.ndarray):
    def stat(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        f1 = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        return np.array([np.mean(y_true == y_pred), f1])

    return stat


def bootstrap_ci(
    y_true: np.ndarray, y_pred: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float, float]]:
    """Percentile bootstrap (point, low, high) for accuracy and macro-F1 (``scipy.stats.bootstrap``, paired)."""
    stat = _accuracy_macro_f1(np.unique(y_true))
    res = bootstrap(
        (y_true, y_pred),
        stat,
        paired=True,
        vectorized=False,
        n_resamples=n_boot,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    point = stat(y_true, y_pred)
    lo, hi = res.confidence_interval
    return {k: (float(point[i]), float(lo[i]), float(hi[i])) for i, k in enumerate(("accuracy", "macro_f1"))}


def paired_bootstrap(
    y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Does A beat B on the same images? Paired bootstrap of the accuracy and macro-F1 differences (A - B).

    Resamples images (each with both models' predictions), so the comparison keeps its pairing. Returns the
    differences, their 95% percentile intervals, and the share of resamples in which A does not beat B
    (a one-sided bootstrap p-value).
    """
    labels = np.unique(y_true)
    stat_one = _accuracy_macro_f1(labels)

    def diff(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return stat_one(y, a) - stat_one(y, b)

    res = bootstrap(
        (y_true, pred_a, pred_b),
        diff,
        paired=True,
        vectorized=False,
        n_resamples=n_boot,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    point, dist = diff(y_true, pred_a, pred_b), res.bootstrap_distribution
    lo, hi = res.confidence_interval
    return {
        "accuracy_diff": float(point[0]),
        "accuracy_diff_low": float(lo[0]),
        "accuracy_diff_high": float(hi[0]),
        "macro_f1_diff": float(point[1]),
        "macro_f1_diff_low": float(lo[1]),
        "macro_f1_diff_high": float(hi[1]),
        "p_accuracy_not_better": float(np.mean(dist[0] <= 0)),
        "p_macro_f1_not_better": float(np.mean(dist[1] <= 0)),
    }


def paired_table(
    y_true: np.ndarray, preds: dict[str, np.ndarray], reference: str, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """:func:`paired_bootstrap` of every model in ``preds`` against ``reference``, one row each (empty without it)."""
    if reference not in preds:
        return pd.DataFrame()
    rows = {n: paired_bootstrap(y_true, p, preds[reference], n_boot, seed) for n, p in preds.items() if n != reference}
    return pd.DataFrame(rows).T


def ci_row(y_true: np.ndarray, probs: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Accuracy and macro-F1 with their bootstrap 95% interval, as one table row."""
    ci = bootstrap_ci(y_true, probs.argmax(1), n_boot, seed)
    return {
        "accuracy": ci["accuracy"][0],
        "acc_low": ci["accuracy"][1],
        "acc_high": ci["accuracy"][2],
        "macro_f1": ci["macro_f1"][0],
        "f1_low": ci["macro_f1"][1],
        "f1_high": ci["macro_f1"][2],
    }
