"""Data audit: exact duplicates within and across splits (pixel hash), near-blank images, class imbalance, and
image quality per split with a check that training and test images were processed alike.

A download whose training images were blurred, re-encoded or contrast-stretched differently from
its test images trains models on one image domain and tests them on another; accuracy then drops
without any error. The check compares median sharpness (mean absolute Laplacian) and contrast (pixel
standard deviation) of a seeded random sample drawn from every class of each split.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from helpers import config
from helpers.data.datasets import FerDataset
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from helpers import config


def pixel_hashes(images: np.ndarray) -> np.ndarray:
    """Hex digest of each image's raw pixels."""
    return np.array([hashlib.blake2b(im.tobytes(), digest_size=12).hexdigest() for im in images])


def duplicate_groups(ds: FerDataset) -> pd.DataFrame:
    """One row per image that shares its exact pixels with another: hash, group size, split, class, source."""
    h = pixel_hashes(ds.images)
    df = pd.DataFrame(
        {
            "hash": h,
            "split": ds.splits,
            "label": np.asarray(ds.class_names)[ds.labels],
            "source": ds.sources,
            "index": np.arange(len(h)),
        }
    )
    df["group_size"] = df.groupby("hash")["hash"].transform("size")
    return df[df["group_size"] > 1].sort_values(["hash", "split"]).reset_index(drop=True)


def duplicate_summary(dups: pd.DataFrame) -> pd.DataFrame:
    """Counts of duplicate pairs within each split and across each pair of splits.

    ``extra_copies`` counts images beyond the first of each group inside a split; ``groups``
    counts distinct pixel patterns shared; ``conflicting_labels`` counts groups with more than one label.
    """
    rows = []
    for split in config.SPLITS:
        d = dups[dups["split"] == split]
        g = d.groupby("hash")
        sizes = g.size()
        rows.append(
            {
                "where": f"within {split}",
                "groups": int((sizes > 1).sum()),
                "extra_copies": int((sizes[sizes > 1] - 1).sum()),
                "conflicting_labels": int((g["label"].nunique()[sizes > 1] > 1).sum()),
            }
        )
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        ha, hb = set(dups.loc[dups["split"] == a, "hash"]), set(dups.loc[dups["split"] == b, "hash"])
        shared = ha & hb
        lab = dups[dups["hash"].isin(shared)].groupby("hash")["label"].nunique()
        rows.append(
            {
                "where": f"{a} & {b}",
                "groups": len(shared),
                "extra_copies": int(dups[dups["hash"].isin(shared) & (dups["split"] == b)].shape[0]),
                "conflicting_labels": int((lab > 1).sum()),
            }
        )
    return pd.DataFrame(rows)


def seen_elsewhere(images: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """Mask of ``images`` whose exact pixels also occur in any of ``others`` (e.g. Training, PublicTest)."""
    seen = set(np.concatenate([pixel_hashes(o) for o in others])) if others else set()
    return np.array([h in seen for h in pixel_hashes(images)], dtype=bool)


def near_blank(ds: FerDataset, max_std: float = 5.0) -> pd.DataFrame:
    """Images whose pixel standard deviation is below ``max_std`` (blank or nearly uniform frames)."""
    std = ds.images.reshape(len(ds.images), -1).std(axis=1)
    idx = np.flatnonzero(std < max_std)
    return pd.DataFrame(
        {
            "index": idx,
            "std": std[idx].round(2),
            "split": ds.splits[idx],
            "label": np.asarray(ds.class_names)[ds.labels[idx]],
            "source": ds.sources[idx],
        }
    )


def imbalance(ds: FerDataset) -> pd.DataFrame:
    """Per-class share of the training split and ratio to the largest class."""
    _, y = ds.split("train")
    counts = pd.Series(np.bincount(y, minlength=len(ds.class_names)), index=list(ds.class_names), name="train")
    return pd.DataFrame(
        {
            "train": counts,
            "share": (counts / counts.sum()).round(4),
            "ratio_to_largest": (counts / counts.max()).round(3),
        }
    )


def cross_split_examples(dups: pd.DataFrame, k: int = 8) -> pd.DataFrame:
    """Up to ``k`` duplicate groups that span more than one split (rows: every member of those groups)."""
    spans = dups.groupby("hash")["split"].nunique()
    hashes = spans[spans > 1].index[:k]
    return dups[dups["hash"].isin(hashes)]


def pixel_stats(ds: FerDataset) -> pd.DataFrame:
    """Mean and standard deviation of pixel values per split (0-255 scale)."""
    rows = {
        s: {
            "images": int((ds.splits == s).sum()),
            "mean": float(ds.images[ds.splits == s].mean()),
            "std": float(ds.images[ds.splits == s].std()),
        }
        for s in config.SPLITS
        if (ds.splits == s).any()
    }
    return pd.DataFrame(rows).T


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


def processing_check(
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
