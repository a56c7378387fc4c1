"""Image-quality statistics per split, and a check that training and test images were processed alike.

A download whose training images were blurred, re-encoded or contrast-stretched differently from
its test images trains models on one image domain and tests them on another; accuracy then drops
without any error. The check compares median sharpness (mean absolute Laplacian) and contrast (pixel
standard deviation) of a seeded random sample drawn from every class of each split.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from helpers import config

#: Train/evaluation ratio of median sharpness outside this range means differently processed images.
SHARPNESS_RATIO_RANGE = (0.67, 1.5)
#: Train/evaluation ratio of median contrast (pixel standard deviation) outside this range, likewise.
CONTRAST_RATIO_RANGE = (0.85, 1.18)


def sharpness(images: np.ndarray) -> np.ndarray:
    """Mean absolute Laplacian per image: high for sharp detail, low for blurred images."""
    return np.array([np.abs(cv2.Laplacian(im.astype(np.float32), cv2.CV_32F)).mean() for im in images])


def contrast(images: np.ndarray) -> np.ndarray:
    """Pixel standard deviation per image."""
    return images.reshape(len(images), -1).std(axis=1)


def sample_indices(labels: np.ndarray, splits: np.ndarray, split: str, n: int, seed: int = 0) -> np.ndarray:
    """Seeded random sample of at most ``n`` images of ``split``, stratified by class (never the first ``n`` files)."""
    idx = np.flatnonzero(splits == split)
    if len(idx) <= n:
        return idx
    try:
        chosen, _ = train_test_split(idx, train_size=n, stratify=labels[idx], random_state=seed)
    except ValueError:  # a class with a single image cannot be stratified: plain random sample
        chosen = np.random.default_rng(seed).choice(idx, size=n, replace=False)
    return np.sort(chosen)


@dataclass
class ProcessingCheck:
    """Per split: statistics of the sample, each sampled image's sharpness, and any train/test warnings."""

    stats: pd.DataFrame
    sharpness: dict[str, np.ndarray]
    warnings: list[str]


def check(
    images: np.ndarray, labels: np.ndarray, splits: np.ndarray, n_per_split: int = 2000, seed: int = 0
) -> ProcessingCheck:
    """Images sampled, median and 99th-percentile sharpness and median contrast per split, and the warnings."""
    rows, sharp_by_split = {}, {}
    for s in config.SPLITS:
        idx = sample_indices(labels, splits, s, n_per_split, seed)
        if len(idx):
            sharp = sharp_by_split[s] = sharpness(images[idx])
            rows[s] = {
                "sampled": len(idx),
                "median_sharpness": float(np.median(sharp)),
                "p99_sharpness": float(np.percentile(sharp, 99)),
                "median_contrast": float(np.median(contrast(images[idx]))),
            }
    stats = pd.DataFrame(rows).T.astype({"sampled": int})
    return ProcessingCheck(stats, sharp_by_split, processing_warnings(stats))


def processing_warnings(stats: pd.DataFrame) -> list[str]:
    """One sentence per evaluation split whose images look differently processed from the training images."""
    if "train" not in stats.index:
        return []
    out = []
    train = stats.loc["train"]
    for s in stats.index.drop("train"):
        for col, what, (lo, hi) in (
            ("median_sharpness", "sharpness", SHARPNESS_RATIO_RANGE),
            ("median_contrast", "contrast", CONTRAST_RATIO_RANGE),
        ):
            ratio = float(train[col]) / max(float(stats.loc[s, col]), 1e-9)
            if not lo <= ratio <= hi:
                hint = " (blurred training images?)" if what == "sharpness" and ratio < lo else ""
                out.append(
                    f"WARNING: training images look differently processed than {s} images: median {what} "
                    f"{float(train[col]):.2f} vs {float(stats.loc[s, col]):.2f} (ratio {ratio:.2f}, expected "
                    f"{lo}-{hi}){hint}. Models trained on them meet a different image domain at test time; "
                    "re-download the dataset or check how it was converted."
                )
    return out
