"""FER+ loading: FER-2013's faces with 10 taggers' votes each, in FER+'s two forms, and the FER+ paper's label rules.

Entry point: :func:`load_ferplus`. Two forms of the download:

1. ``folders``: FER+'s own ``FER2013Train/``, ``FER2013Valid/``, ``FER2013Test/``, each with PNGs and a
   ``label.csv`` (rows ``image,box,10 vote counts``), as FER+'s ``generate_training_data.py`` writes them;
2. ``csv``: the original ``fer2013.csv`` with ``fer2013new.csv`` beside it (same row order: ``Usage,Image name,10 vote
   counts``; an empty image name is a face FER+ dropped as not a face).

Votes come from the folders' ``label.csv`` files, or from ``fer2013new.csv`` (``label_source``); the two published
files disagree on about 1,000 faces. Label rules, as in FER+'s ``ferplus.py`` (``_process_data``): a single vote for
an emotion is an outlier and is removed first, then

- ``majority``: the face's label is the emotion with more than half of the remaining votes; a face with no such
  emotion, or whose majority is "unknown" or "not a face", is dropped;
- ``probability``: the soft target is the distribution over the top emotions (at most three, ties included) that
  together reach 75% of the votes; a face whose top emotions hold half the votes or less, that needs more than three,
  or whose top vote is "unknown" or "not a face", is dropped. (FER+'s code calls training on this distribution
  ``crossentropy``; its ``probability`` mode draws one label from it per step.)

Validation (PublicTest) and test (PrivateTest) always use the majority rule, so every mode is scored on the same faces.
Every row and file is loaded or listed in the report's skipped items with its reason (a face a rule drops included).
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import config
from helpers.data.datasets import DatasetError, FerDataset, LoadReport, read_npz, write_npz
from helpers.data.fer2013 import decode_gray48, explicit_path, fingerprint, load_csv

#: The vote columns of FER+'s label files, in order (8 emotions, then "unknown" and "not a face").
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
N_EMOTIONS = len(config.FERPLUS_CLASS_NAMES)
LABEL_MODES = ("majority", "probability")
LABEL_SOURCES = ("auto", "label.csv", "fer2013new.csv")
FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
NEW_LABELS = "fer2013new.csv"
CACHE_VERSION = 1

_DROPPED_BY_RULE = {8: "mostly unknown", 9: "mostly not a face"}


# --------------------------------------------------------------------------- label rules


def _without_single_votes(votes: np.ndarray) -> np.ndarray:
    """Votes with every count of one set to zero (FER+'s outlier removal)."""
    v = np.asarray(votes, np.float64).copy()
    v[v <= 1] = 0
    return v


def majority(votes: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The majority rule for each row of ``votes`` (N x 10): (label or -1, reason it is dropped or '')."""
    v = _without_single_votes(np.atleast_2d(votes))
    top, peak, total = v.argmax(1), v.max(1), v.sum(1)
    has_majority = peak > 0.5 * total
    labels = np.where(has_majority & (top < N_EMOTIONS), top, -1)
    reasons = [
        "" if lab >= 0 else (_DROPPED_BY_RULE[t] if ok else "no majority (no emotion has more than half the votes)")
        for lab, t, ok in zip(labels, top, has_majority)
    ]
    return labels, reasons


def _probability_row(raw: np.ndarray) -> tuple[np.ndarray | None, str]:
    """FER+'s distribution rule for one face's votes: (8 probabilities, '') or (None, reason)."""
    v = _without_single_votes(raw)
    total, out = v.sum(), np.zeros(len(VOTE_COLUMNS))
    part, count, valid = 0.0, 0, True
    while part < 0.75 * total and count < 3 and valid:
        peak = v.max()
        for i in range(len(v)):
            if v[i] == peak:
                out[i], v[i] = peak, 0
                part += peak
                count += 1
                if i >= N_EMOTIONS:  # unknown or not-a-face ties with the top votes
                    valid = False
                    if out.sum() > peak:  # an emotion came first: keep that, drop this
                        out[i], count = 0, count - 1
                    break
    if out.sum() <= 0.5 * total or count > 3:
        return None, "no clear emotion (the top emotions hold half the votes or less, or more than three tie)"
    if out.argmax() >= N_EMOTIONS:
        return None, _DROPPED_BY_RULE[int(out.argmax())]
    return out[:N_EMOTIONS] / out[:N_EMOTIONS].sum(), ""


def probability(votes: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The distribution rule for each row of ``votes``: (N x 8 float32, NaN rows where dropped; reasons)."""
    rows = [_probability_row(r) for r in np.atleast_2d(votes)]
    dist = np.array([r if r is not None else np.full(N_EMOTIONS, np.nan) for r, _ in rows], np.float32)
    return dist.reshape(-1, N_EMOTIONS), [why for _, why in rows]


def apply_rule(votes: np.ndarray, splits: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Labels, soft targets and drop reasons: ``mode`` on the train split, the majority rule on the others."""
    if mode not in LABEL_MODES:
        raise ValueError(f"label_mode must be one of {', '.join(LABEL_MODES)}, got {mode!r}")
    labels, reasons = majority(votes)
    targets = np.eye(N_EMOTIONS, dtype=np.float32)[np.maximum(labels, 0)]
    if mode == "probability":
        train = np.flatnonzero(splits == "train")
        dist, why = probability(votes[train])
        kept = ~np.isnan(dist).any(1)
        targets[train] = np.nan_to_num(dist)
        labels[train] = np.where(kept, dist.argmax(1), -1)
        for i, w in zip(train, why):
            reasons[i] = w
    return labels, targets, reasons


def agreement(votes: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]) -> pd.DataFrame:
    """Faces per class (rows) by how many of the 10 taggers chose the face's label (columns)."""
    agree = np.asarray(votes)[np.arange(len(labels)), labels]
    table = pd.crosstab(pd.Categorical(np.asarray(class_names)[labels], class_names), agree, dropna=False)
    table.index.name, table.columns.name = "class", "taggers agreeing"
    return table


# --------------------------------------------------------------------------- reading votes


def _parse_votes(cells: list[str]) -> tuple[np.ndarray | None, str]:
    """Ten non-negative integer counts with at least one vote, or (None, reason)."""
    if len(cells) != len(VOTE_COLUMNS):
        return None, f"bad votes: {len(cells)} vote columns (expected {len(VOTE_COLUMNS)})"
    try:
        v = np.array([int(c) for c in cells], np.int16)
    except ValueError:
        return None, f"bad votes: not whole numbers: {','.join(cells)}"
    if (v < 0).any() or v.sum() == 0:
        return None, f"bad votes: {'negative count' if (v < 0).any() else 'no votes'}: {','.join(cells)}"
    return v, ""


def _by_name(rows: list[tuple[str, str, np.ndarray]], report: LoadReport) -> tuple[dict, dict]:
    """({image name: votes}, {image name: reason}) from (item, name, votes) rows; a name on several rows is ambiguous:
    those rows are skipped, and so will be the image (which face it holds cannot be told from the labels).
    """
    items: dict[str, list[str]] = {}
    for item, name, _ in rows:
        items.setdefault(name, []).append(item)
    ambiguous = {n: f"ambiguous votes: named by {' and '.join(i)}" for n, i in items.items() if len(i) > 1}
    for name in ambiguous:
        for item in items[name]:
            report.skip(item, f"duplicate image name: {name} is on several rows, all skipped")
    return {n: v for _, n, v in rows if n not in ambiguous}, ambiguous


def _read_label_csv(path: Path, report: LoadReport) -> tuple[dict, dict]:
    """:func:`_by_name` of one ``label.csv``; bad rows are skipped into ``report``."""
    rows = []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            item = f"{path}:row {line}"
            if not row or not row[0].strip():
                report.skip(item, "malformed row: no image name")
                continue
            votes, why = _parse_votes([c.strip() for c in row[2:]])
            if votes is None:
                report.skip(item, why)
            else:
                rows.append((item, row[0].strip(), votes))
    return _by_name(rows, report)


def _read_new_labels(path: Path) -> pd.DataFrame:
    """``fer2013new.csv`` as a frame (Usage, Image name, 10 vote columns as text)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DatasetError(f"{path}: cannot parse as CSV ({e}). {config.FERPLUS_HINT}") from e
    missing = [c for c in ("Usage", "Image name", *VOTE_COLUMNS) if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: lacks column(s) {missing}; found {list(df.columns)}. {config.FERPLUS_HINT}")
    return df


def _new_labels_by_name(path: Path, report: LoadReport) -> dict[str, tuple[dict, dict]]:
    """Per split, :func:`_by_name` of ``fer2013new.csv``; bad rows are skipped into ``report``."""
    rows: dict[str, list] = {s: [] for s in config.SPLITS}
    for i, row in enumerate(_read_new_labels(path).itertuples(index=False), start=2):
        name, split = row[1].strip(), config.USAGE_TO_SPLIT.get(row[0].strip())
        if not name:
            continue  # a face FER+ dropped: it has no PNG in the folders, so nothing to count here
        votes, why = _parse_votes([c.strip() for c in row[2:]])
        if split is None or votes is None:
            report.skip(f"{path}:row {i}", why or f"unknown Usage: {row[0]!r}")
        else:
            rows[split].append((f"{path}:row {i}", name, votes))
    return {s: _by_name(r, report) for s, r in rows.items()}


# --------------------------------------------------------------------------- the two forms


def _decode_file(path: Path) -> tuple[np.ndarray | None, str]:
    try:
        return decode_gray48(path.read_bytes())
    except OSError as e:
        return None, f"unreadable file: {e.strerror or e}"


def _load_folders(root: Path, label_source: str) -> tuple:
    """Images and votes from FER+'s split folders; returns (images, votes, splits, sources, report)."""
    report = LoadReport(str(root), "ferplus-folders")
    use_new = label_source == NEW_LABELS
    new = _new_labels_by_name(root / NEW_LABELS, report) if use_new else {}
    images, votes, splits, sources = [], [], [], []
    for split, folder in FOLDERS.items():
        d = root / folder
        if not d.is_dir():
            continue
        rows, ambiguous = new[split] if use_new else _read_label_csv(d / "label.csv", report)
        pngs = sorted(p.name for p in d.iterdir() if p.suffix.lower() == ".png")
        for name in sorted(set(rows) - set(pngs)):
            report.skip(f"{d / name}", "missing image: a label row names it but the file is not there")
        for name in sorted(set(pngs) - set(rows)):
            report.skip(f"{d / name}", ambiguous.get(name, f"image with no label row in {label_source}"))
        named = [n for n in pngs if n in rows]
        with ThreadPoolExecutor(4) as pool:
            decoded = list(pool.map(lambda n, d=d: _decode_file(d / n), named))
        for name, (img, why) in zip(named, decoded):
            if img is None:
                report.skip(f"{d / name}", why)
                continue
            report.ok()
            images.append(img), votes.append(rows[name]), splits.append(split), sources.append(f"{folder}/{name}")
    report.notes.append(f"votes from {label_source}")
    return images, votes, splits, sources, report


def _load_csv_pair(fer_csv: Path, new_csv: Path) -> tuple:
    """Images from ``fer2013.csv`` and votes from ``fer2013new.csv`` (same row order)."""
    images, _, splits, sources, report = load_csv(fer_csv)
    report.layout = "ferplus-csv"
    new = _read_new_labels(new_csv)
    n_rows = report.seen
    if len(new) != n_rows:
        raise DatasetError(
            f"{new_csv} has {len(new):,} rows but {fer_csv} has {n_rows:,}: FER+'s label file must have one row per "
            f"fer2013.csv row, in the same order. {config.FERPLUS_HINT}"
        )
    keep, kept_votes = [], []
    for k, source in enumerate(sources):
        i = int(source.rsplit("row ", 1)[1]) - 2  # the fer2013.csv line -> the matching fer2013new.csv row
        row = new.iloc[i]
        item = f"{new_csv}:row {i + 2}"
        votes, why = _parse_votes([row[c].strip() for c in VOTE_COLUMNS])
        if not row["Image name"].strip():
            why = "dropped by FER+: not a face (empty image name)"
        elif config.USAGE_TO_SPLIT.get(row["Usage"].strip()) != splits[k]:
            why = f"Usage differs between the files: {row['Usage']!r}"
        if why:
            report.reject(item, why)  # load_csv counted this face as loaded
        else:
            keep.append(k)
            kept_votes.append(votes)
    report.notes.append(f"votes from {new_csv.name}")
    keep = np.asarray(keep, int)
    return list(images[keep]), kept_votes, list(splits[keep]), list(sources[keep]), report


# --------------------------------------------------------------------------- discovery, cache, entry point


def find_source(path: str | Path | None = None) -> Path | None:
    """A FER+ download: argument, then $FERPLUS_PATH, then data/ferplus/, then data/; None if absent."""
    p = explicit_path(path, config.FERPLUS_ENV, "FER+", config.FERPLUS_HINT)
    if p is not None:
        return p.parent if p.is_file() else p
    for cand in (config.DATA_DIR / "ferplus", config.DATA_DIR):
        if cand.is_dir() and (any((cand / f).is_dir() for f in FOLDERS.values()) or (cand / NEW_LABELS).is_file()):
            return cand
    return None


def form_of(root: Path, label_source: str = "auto") -> tuple[str, str, list[str]]:
    """(form, label source, notes): which of FER+'s forms ``root`` holds and which votes will be used."""
    folders = [f for f in FOLDERS.values() if (root / f).is_dir()]
    new, fer = (root / NEW_LABELS).is_file(), (root / "fer2013.csv").is_file()
    if label_source not in LABEL_SOURCES:
        raise ValueError(f"label_source must be one of {', '.join(LABEL_SOURCES)}, got {label_source!r}")
    notes = []
    if folders:
        source = "label.csv" if label_source == "auto" else label_source
        if source == NEW_LABELS and not new:
            raise DatasetError(f"{root}: label_source={NEW_LABELS} but there is no {root / NEW_LABELS}")
        if new and source == "label.csv":
            notes.append(f"{NEW_LABELS} is here too; the folders' label.csv votes are used (label_source picks)")
        if new and fer:
            notes.append("fer2013.csv is here too; the images come from the FER+ folders")
        return "folders", source, notes
    if new and fer:
        return "csv", NEW_LABELS, notes
    if new:
        raise DatasetError(f"{root}: {NEW_LABELS} holds only votes; put the original fer2013.csv beside it. "
                           f"{config.FERPLUS_HINT}")  # fmt: skip
    raise DatasetError(f"{root}: no FER+ here (expected {', '.join(FOLDERS.values())} or {NEW_LABELS}). "
                       f"{config.FERPLUS_HINT}")  # fmt: skip


def _raw(root: Path, form: str, source: str) -> tuple:
    if form == "folders":
        return _load_folders(root, source)
    return _load_csv_pair(root / "fer2013.csv", root / NEW_LABELS)


def _drop_by_rule(raw: tuple, mode: str) -> FerDataset:
    """Apply the label rule: faces it drops move to the report's skipped items with the rule's reason."""
    images, votes, splits, sources, report = raw
    votes = np.asarray(votes, np.int16).reshape(-1, len(VOTE_COLUMNS))
    splits = np.asarray(splits, dtype=str)
    labels, targets, reasons = apply_rule(votes, splits, mode)
    kept = labels >= 0
    for src, why in zip(np.asarray(sources)[~kept], np.asarray(reasons, dtype=object)[~kept]):
        report.reject(src, f"label rule: {why}")
    report.notes.append(
        f"label mode {mode}: train faces by the {mode} rule, validation and test by the majority rule "
        f"(helpers/data/ferplus.py)"
    )
    return FerDataset(
        np.stack(images)[kept] if images else np.zeros((0, 48, 48), np.uint8),
        labels[kept].astype(np.int8),
        splits[kept],
        np.asarray(sources, dtype=object)[kept],
        report,
        class_names=config.FERPLUS_CLASS_NAMES,
        name="FER+",
        votes=votes[kept].astype(np.uint8),
        targets=targets[kept] if mode == "probability" else None,
    )


def load_ferplus(
    path: str | Path | None = None, *, label_mode: str = "majority", label_source: str = "auto", use_cache: bool = True
) -> FerDataset:
    """Load FER+ from ``path``, $FERPLUS_PATH, data/ferplus/ or data/, with ``label_mode`` on the train split.

    Raises :class:`DatasetError` saying what was expected and where to put it.
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode must be one of {', '.join(LABEL_MODES)}, got {label_mode!r}")
    root = find_source(path)
    if root is None:
        raise DatasetError(f"No FER+ found. {config.FERPLUS_HINT}")
    root = root.resolve()
    form, source, notes = form_of(root, label_source)
    key = hashlib.sha256(f"{CACHE_VERSION}|{root}|{form}|{source}|{label_mode}|{fingerprint(root)}".encode())
    key = key.hexdigest()[:16]
    cache = config.CACHE_DIR / f"ferplus-{hashlib.sha256(str(root).encode()).hexdigest()[:8]}-{label_mode}-{key}.npz"
    if use_cache and cache.exists():
        try:
            return read_npz(cache, fingerprint=key)[0]
        except (OSError, ValueError, KeyError):
            cache.unlink(missing_ok=True)
    ds = _drop_by_rule(_raw(root, form, source), label_mode)
    ds.report.notes[:0] = notes
    ds.fingerprint = key
    missing = [s for s in config.SPLITS if not (ds.splits == s).any()]
    if missing:
        raise DatasetError(f"{root}: incomplete FER+: no faces in split(s) {missing} ({FOLDERS} or the Usage column "
                           f"of {NEW_LABELS}). {config.FERPLUS_HINT}")  # fmt: skip
    if use_cache:
        for old in cache.parent.glob(f"ferplus-{cache.name.split('-')[1]}-{label_mode}-*.npz"):
            old.unlink(missing_ok=True)
        write_npz(cache, ds)
    return ds


def skipped_by_reason(ds: FerDataset) -> pd.DataFrame:
    """Skipped items per reason and split folder (or file), for the load summary of notebook 01."""
    rows = Counter((why.split(":")[0] if not why.startswith("label rule") else why, _where(item))
                   for item, why in ds.report.skipped)  # fmt: skip
    table = pd.Series(rows, dtype=int).rename_axis(["reason", "where"]).unstack(fill_value=0)
    return table


def _where(item: str) -> str:
    for split, folder in FOLDERS.items():
        if folder in item:
            return split
    return Path(item.split(":")[0]).name


def load_any(
    dataset: str, path: str | Path | None = None, *, seed: int = 0, label_mode: str = "majority"
) -> FerDataset:
    """The named dataset ('fer2013' or 'ferplus'); FER-2013 falls back to the embedded sample when absent."""
    if dataset == "ferplus":
        return load_ferplus(path, label_mode=label_mode)
    if dataset != "fer2013":
        raise ValueError(f"dataset must be one of {', '.join(config.DATASETS)}, got {dataset!r}")
    from helpers.data.fer2013 import load_fer2013

    return load_fer2013(path, seed=seed)
