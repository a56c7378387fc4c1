"""Dataset types: images in memory (:class:`FerDataset`) and the load report in which nothing is lost."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from helpers import config


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

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of one split ('train', 'val' or 'test')."""
        m = self.splits == name
        return self.images[m], self.labels[m]

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
            "name": config.SYNTHETIC_LABEL if self.synthetic else "FER-2013",
            "synthetic": self.synthetic,
            "layout": self.report.layout,
            "source": self.report.source,
            "fingerprint": self.fingerprint,
            "counts": {s: int((self.splits == s).sum()) for s in config.SPLITS},
            "skipped": len(self.report.skipped),
        }
