"""Test-time augmentation: flip and ten-crop views, averaged probabilities, results with and without."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from helpers.evaluation.metrics import accuracy_and_macro_f1, predict_proba


def tta_views(images: np.ndarray, mode: str) -> list[np.ndarray]:
    """Views for TTA: 'flip' (original + mirror) or 'tencrop' (4 corners + centre at 42px, and mirrors)."""
    if mode == "none":
        return [images]
    flipped = images[:, :, ::-1]
    if mode == "flip":
        return [images, flipped]
    if mode != "tencrop":
        raise ValueError(f"unknown TTA mode {mode!r}: choose none, flip or tencrop")
    n, h, w = images.shape[:3]
    c = int(round(h * 0.875))
    offs = [(0, 0), (0, w - c), (h - c, 0), (h - c, w - c), ((h - c) // 2, (w - c) // 2)]
    views = []
    for src in (images, flipped):
        for dy, dx in offs:
            crop = src[:, dy : dy + c, dx : dx + c]
            resized = keras.ops.image.resize(crop[..., None].astype("float32"), (h, w))
            views.append(keras.ops.convert_to_numpy(resized)[..., 0])
    return views


def predict_tta(model: keras.Model, images: np.ndarray, mode: str = "flip") -> np.ndarray:
    """Average probabilities over the TTA views."""
    return np.mean([predict_proba(model, v) for v in tta_views(images, mode)], axis=0)


def with_and_without(y_true: np.ndarray, probs: dict[str, np.ndarray], exclude: np.ndarray) -> pd.DataFrame:
    """Accuracy and macro-F1 of each model on all images and on those not flagged in ``exclude``."""
    keep, rows = ~exclude, {}
    for n, p in probs.items():
        pred = p.argmax(1)
        acc_all, f1_all = accuracy_and_macro_f1(y_true, pred)
        acc_without, f1_without = accuracy_and_macro_f1(y_true[keep], pred[keep])
        rows[n] = {
            "accuracy_all": acc_all,
            "accuracy_without": acc_without,
            "macro_f1_all": f1_all,
            "macro_f1_without": f1_without,
            "n_all": int(len(y_true)),
            "n_without": int(keep.sum()),
        }
    return pd.DataFrame(rows).T
