"""Data audit: exact duplicates within and across splits (pixel hash), near-blank images, class imbalance."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from helpers import config
from helpers.datasets import FerDataset


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
