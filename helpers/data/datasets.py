"""Dataset types (FerDataset, the load report in which nothing is lost), subsets, splits, prepared data on disk."""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from helpers import config
from helpers.artifacts import atomic_write_bytes


class DatasetError(RuntimeError):
    """A fatal problem with a dataset: nothing sensible can be loaded."""


@dataclass
class LoadReport:
    """What a load saw: every item is either loaded or skipped with a reason."""

    source: str
    layout: str
    seen: int = 0
    loaded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def skip(self, item: str, reason: str) -> None:
        """Record one item that was seen but not loaded."""
        self.seen += 1
        self.skipped.append((item, reason))

    def reject(self, item: str, reason: str) -> None:
        """An item already counted as loaded, turned away afterwards (a label rule, say): loaded -> skipped."""
        self.loaded -= 1
        self.skipped.append((item, reason))

    def ok(self, n: int = 1) -> None:
        """Record ``n`` items seen and loaded."""
        self.seen += n
        self.loaded += n

    @property
    def balanced(self) -> bool:
        """True when seen == loaded + skipped (always, by construction)."""
        return self.seen == self.loaded + len(self.skipped)

    def skipped_frame(self) -> pd.DataFrame:
        """Skipped items as a table (item, reason)."""
        return pd.DataFrame(self.skipped, columns=["item", "reason"])

    def skip_reasons(self) -> dict[str, int]:
        """Number of skipped items per reason kind (the text before any ':')."""
        return dict(Counter(r.split(":")[0] for _, r in self.skipped))

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "layout": self.layout,
            "seen": self.seen,
            "loaded": self.loaded,
            "skipped": [list(s) for s in self.skipped],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: dict) -> LoadReport:
        return cls(d["source"], d["layout"], d["seen"], d["loaded"], [tuple(s) for s in d["skipped"]], list(d["notes"]))


@dataclass
class FerDataset:
    """Images in memory: uint8 ``N x 48 x 48`` with labels, split and a source id per image."""

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    sources: np.ndarray
    report: LoadReport
    class_names: tuple[str, ...] = config.CLASS_NAMES
    synthetic: bool = False
    fingerprint: str = ""
    name: str = "FER-2013"
    votes: np.ndarray | None = None  # FER+: the 10 taggers' votes per face (N x 10; helpers.data.ferplus.VOTE_COLUMNS)
    targets: np.ndarray | None = None  # soft training targets (N x classes, rows sum to 1); None: one-hot labels

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of one split ('train', 'val' or 'test')."""
        m = self.splits == name
        return self.images[m], self.labels[m]

    def training_targets(self, name: str) -> np.ndarray:
        """What training fits on ``name``: the soft targets where the dataset has them, else the labels."""
        m = self.splits == name
        return self.labels[m] if self.targets is None else self.targets[m]

    def subset(self, mask: np.ndarray) -> FerDataset:
        """A dataset holding only the rows where ``mask`` is true (same report)."""
        return FerDataset(
            self.images[mask],
            self.labels[mask],
            self.splits[mask],
            self.sources[mask],
            self.report,
            self.class_names,
            self.synthetic,
            self.fingerprint,
            self.name,
            None if self.votes is None else self.votes[mask],
            None if self.targets is None else self.targets[mask],
        )

    def counts(self) -> pd.DataFrame:
        """Images per class (rows) and split (columns), with totals."""
        df = pd.crosstab(
            pd.Categorical(np.asarray(self.class_names)[self.labels], self.class_names),
            pd.Categorical(self.splits, list(config.SPLITS)),
            dropna=False,
        )
        df.index.name, df.columns.name = "class", "split"
        df.loc["total"] = df.sum()
        return df

    def identity(self) -> dict:
        """What the data is, for metrics files: name, layout, path, fingerprint and counts."""
        return {
            "name": config.SYNTHETIC_LABEL if self.synthetic else self.name,
            "class_names": list(self.class_names),
            "synthetic": self.synthetic,
            "layout": self.report.layout,
            "source": self.report.source,
            "fingerprint": self.fingerprint,
            "counts": {s: int((self.splits == s).sum()) for s in config.SPLITS},
            "skipped": len(self.report.skipped),
        }


_ARRAYS = ("images", "labels", "splits", "sources", "votes", "targets")
_FIELDS = ("report", "class_names", "name")


def write_npz(path: Path, ds: FerDataset, **extra: str) -> Path:
    """Write a dataset (and ``extra`` string fields) as one .npz, atomically; no pickles."""
    buf = io.BytesIO()
    optional = {k: v for k, v in (("votes", ds.votes), ("targets", ds.targets)) if v is not None}
    np.savez(
        buf,
        images=ds.images,
        labels=ds.labels,
        splits=ds.splits.astype(str),
        sources=ds.sources.astype(str),
        report=json.dumps(ds.report.to_dict()),
        class_names=json.dumps(list(ds.class_names)),
        name=ds.name,
        **optional,
        **extra,
    )
    return atomic_write_bytes(path, buf.getvalue())


def read_npz(path: Path, **kwargs) -> tuple[FerDataset, dict[str, str]]:
    """Read what :func:`write_npz` wrote: the dataset and its extra string fields."""
    with np.load(path, allow_pickle=False) as z:
        report = LoadReport.from_dict(json.loads(str(z["report"])))
        if "class_names" in z.files:
            kwargs = {"class_names": tuple(json.loads(str(z["class_names"]))), "name": str(z["name"]), **kwargs}
        optional = {k: z[k] for k in ("votes", "targets") if k in z.files}
        ds = FerDataset(
            z["images"], z["labels"], z["splits"], z["sources"].astype(object), report, **optional, **kwargs
        )
        extra = {k: str(z[k]) for k in z.files if k not in _ARRAYS + _FIELDS}
    return ds, extra


# --------------------------------------------------------------------------- subsets + prepared data


def stratified_sample(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` items drawn in proportion to their labels (seeded); plain random when a class is too small."""
    idx = np.arange(len(labels))
    if n >= len(labels):
        return idx
    counts = np.unique(labels, return_counts=True)[1]
    strat = labels if counts.min() >= 2 and n >= len(counts) and len(labels) - n >= len(counts) else None
    return np.sort(train_test_split(idx, train_size=n, stratify=strat, random_state=seed)[0])


def limit_split(ds: FerDataset, split: str, max_n: int | None, seed: int = 0) -> np.ndarray:
    """Mask keeping at most ``max_n`` images of ``split`` (stratified by class, seeded); other splits kept."""
    keep = np.ones(len(ds), bool)
    idx = np.flatnonzero(ds.splits == split)
    if max_n is None or len(idx) <= max_n:
        return keep
    keep[idx] = False
    keep[idx[stratified_sample(ds.labels[idx], max_n, seed)]] = True
    return keep


def stratified_split(
    labels: np.ndarray, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0
) -> np.ndarray:
    """Seeded stratified assignment of items to 'train'/'val'/'test' (70/15/15 as in the seed project)."""
    labels = np.asarray(labels)
    out = np.full(len(labels), "test", dtype=object)
    train = stratified_sample(labels, int(round(fractions[0] * len(labels))), seed)
    out[train] = "train"
    rest = np.flatnonzero(out == "test")
    n_val = int(round(fractions[1] / (fractions[1] + fractions[2]) * len(rest)))
    out[rest[stratified_sample(labels[rest], n_val, seed)]] = "val"
    return out.astype(str)


def subsample(ds: FerDataset, max_train: int | None = None, max_eval: int | None = None, seed: int = 0) -> FerDataset:
    """Stratified, seeded subset for fast profiles: at most ``max_train`` train and ``max_eval`` val/test images."""
    mask = limit_split(ds, "train", max_train, seed)
    for split in ("val", "test"):
        mask &= limit_split(ds, split, max_eval, seed)
    return ds.subset(mask)


PREPARED = "fer_prepared.npz"


def save_prepared(ds: FerDataset, meta: dict) -> Path:
    """Write the prepared splits (and where they came from) for notebooks 03-06, atomically."""
    meta = {**meta, "synthetic": ds.synthetic, "fingerprint": ds.fingerprint}
    return write_npz(config.PREPARED_DIR / PREPARED, ds, meta=json.dumps(meta))


def load_prepared() -> tuple[FerDataset, dict]:
    """The data prepared by notebook 02, with its metadata (profile, seed, class weights, ...)."""
    path = config.PREPARED_DIR / PREPARED
    if not path.exists():
        raise DatasetError(f"{path} not found: run notebook 02 first (make run NB=02, or make run-all)")
    ds, extra = read_npz(path)
    meta = json.loads(extra["meta"])
    ds.synthetic, ds.fingerprint = meta["synthetic"], meta["fingerprint"]
    return ds, meta


def format_report(ds: FerDataset, max_skipped: int = 20) -> str:
    """Human-readable load report: counts per split and class, notes, skipped items."""
    r = ds.report
    lines = []
    if ds.synthetic:
        lines.append(f"*** {config.SYNTHETIC_LABEL} ***")
    lines += [
        f"source: {r.source}  (layout: {r.layout})",
        f"seen {r.seen} = loaded {r.loaded} + skipped {len(r.skipped)}  [{'OK' if r.balanced else 'MISMATCH'}]",
        "",
        ds.counts().to_string(),
        "",
    ]
    lines += [f"note: {n}" for n in r.notes]
    if r.skipped:
        lines.append(f"skipped {len(r.skipped)} item(s): {r.skip_reasons()}")
        lines += [f"  {item}: {why}" for item, why in r.skipped[:max_skipped]]
        if len(r.skipped) > max_skipped:
            lines.append(f"  ... and {len(r.skipped) - max_skipped} more")
    return "\n".join(lines)
