"""FER-2013 loaders: the Kaggle CSV, the image-folder layout and zips of either, and the load cache.

Entry point: :func:`load_fer2013`. Every file or CSV row seen is either loaded or listed in
``report.skipped`` with its reason, and ``report.seen == report.loaded + len(report.skipped)``.
The first load of a source is cached under ``data/cache/`` (keyed by its content) as one ``.npz``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
import zipfile
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pandas as pd

from helpers import config
from helpers.data.datasets import DatasetError, FerDataset, LoadReport, read_npz, stratified_sample, write_npz

CLASS_INDEX = {name: i for i, name in enumerate(config.CLASS_NAMES)}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
CSV_COLUMNS = ("emotion", "pixels", "Usage")
CACHE_VERSION = 1


# --------------------------------------------------------------------------- decoding


def decode_gray48(data: bytes) -> tuple[np.ndarray | None, str]:
    """Decode an encoded image to 48x48 uint8 grayscale; returns (image, '') or (None, reason)."""
    if len(data) == 0:
        return None, "empty file"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        for magic, fmt in ((b"\xff\xd8", "JPEG"), (b"\x89PNG", "PNG"), (b"BM", "BMP"), (b"RIFF", "WebP")):
            if data.startswith(magic):
                return None, f"corrupt image: {fmt} data cannot be decoded"
        return None, "not an image: content is not a recognised image format"
    if img.shape != (config.IMAGE_SIZE, config.IMAGE_SIZE):
        img = cv2.resize(img, (config.IMAGE_SIZE, config.IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return img, ""


# --------------------------------------------------------------------------- CSV layout


def _read_csv_frame(src: str | Path | io.BytesIO, name: str) -> tuple[pd.DataFrame, dict[int, str]]:
    """The CSV's rows, and {line number: reason} for lines with too many fields (skipped, not fatal)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            df = pd.read_csv(src, keep_default_na=False, on_bad_lines="warn")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DatasetError(f"{name}: cannot parse as CSV ({e}). {config.KAGGLE_HINT}") from e
    bad = {}
    for w in caught:
        for m in re.finditer(r"Skipping line (\d+): ([^\n]+)", str(w.message)):
            bad[int(m.group(1))] = f"malformed row: {m.group(2).strip()}"
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{name}: CSV lacks required column(s) {missing}; found {list(df.columns)}. "
            f"Expected the original Kaggle fer2013.csv with columns emotion,pixels,Usage. {config.KAGGLE_HINT}"
        )
    return df, bad


_NOT_PIXEL_CHAR = np.ones(256, bool)
_NOT_PIXEL_CHAR[[32, *range(48, 58)]] = False  # space and digits


def _parse_chunk(rows: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse stripped pixel rows; returns (pixels of the rows with 2304 values, their mask, token counts).

    One C-level scan (``np.fromstring`` on the joined bytes).
    Rows with characters other than digits and spaces get token count -1.
    """
    raw = " ".join(rows).encode("ascii", "replace")
    if b"  " in raw:  # rare: runs of spaces inside rows; normalise so spaces count tokens
        rows = [" ".join(r.split()) for r in rows]
        raw = " ".join(rows).encode("ascii", "replace")
    n_tokens = np.fromiter((r.count(" ") + 1 if r else 0 for r in rows), dtype=np.int64, count=len(rows))
    bad_pos = np.flatnonzero(_NOT_PIXEL_CHAR[np.frombuffer(raw, np.uint8)])
    if len(bad_pos):  # rare: locate the offending rows, then parse the others only
        ends = np.cumsum(np.fromiter(map(len, rows), np.int64, len(rows)) + 1)
        n_tokens[np.unique(np.searchsorted(ends, bad_pos, side="right"))] = -1
        raw = " ".join(r for r, n in zip(rows, n_tokens) if n > 0).encode("ascii")
    good = n_tokens > 0
    values = np.fromstring(raw, dtype=np.int32, sep=" ") if good.any() else np.zeros(0, np.int32)  # noqa: NPY201
    keep = good & (n_tokens == config.N_PIXELS)
    if not keep[good].all():
        values = values[np.repeat(keep[good], n_tokens[good])]
    return values.reshape(-1, config.N_PIXELS), keep, n_tokens


def parse_pixels(pixels: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Parse space-separated pixel strings in one vectorised pass (no per-row split or float conversion).

    Returns (images for the valid rows, boolean mask of valid rows, reason per row or '').
    """
    rows = [r.strip() if isinstance(r, str) else str(r) for r in pixels.tolist()]
    arr, valid, n_tokens = _parse_chunk(rows)
    reasons = np.full(len(rows), "", dtype=object)
    reasons[n_tokens <= 0] = "malformed pixels: not space-separated integers"
    bad_count = (n_tokens > 0) & ~valid
    reasons[bad_count] = [f"wrong pixel count: {n} (expected {config.N_PIXELS})" for n in n_tokens[bad_count]]
    idx_valid = np.flatnonzero(valid)
    over = arr.max(axis=1) > 255 if len(arr) else np.zeros(0, bool)
    reasons[idx_valid[over]] = "pixel value out of range 0-255"
    valid[idx_valid[over]] = False
    images = arr[~over].astype(np.uint8).reshape(-1, config.IMAGE_SIZE, config.IMAGE_SIZE)
    return images, valid, reasons.tolist()


def load_csv(src: str | Path | io.BytesIO, name: str | None = None) -> tuple[np.ndarray, ...]:
    """Load the original ``fer2013.csv``; returns (images, labels, splits, sources, report)."""
    name = name or str(src)
    df, bad = _read_csv_frame(src, name)
    report = LoadReport(name, "csv")
    for line, why in sorted(bad.items()):
        report.skip(f"{name}:row {line}", why)
    lines = np.arange(2, 2 + len(df) + len(bad))  # 1-based line numbers, header is line 1
    rows = lines[~np.isin(lines, list(bad))]  # the lines pandas kept, in order
    images, valid, reasons = parse_pixels(df["pixels"])
    emotion, usage_text = df["emotion"].astype(str).str.strip(), df["Usage"].astype(str).str.strip()
    emo = pd.to_numeric(emotion, errors="coerce").to_numpy()
    label_ok = np.isin(emo, np.arange(len(config.CLASS_NAMES)))
    usage = usage_text.map(config.USAGE_TO_SPLIT)
    usage_ok = usage.notna().to_numpy()
    keep_in_valid = (label_ok & usage_ok)[valid]
    keep = valid & label_ok & usage_ok
    for i in np.flatnonzero(~keep):  # messages only for the (few) rejected rows
        if not label_ok[i]:
            why = f"label out of range: {emotion.iat[i]!r} (expected 0-6)"
        elif not usage_ok[i]:
            why = f"unknown Usage: {usage_text.iat[i]!r} (expected Training/PublicTest/PrivateTest)"
        else:
            why = reasons[i]
        report.skip(f"{name}:row {rows[i]}", why)
    report.ok(int(keep.sum()))
    sources = np.array([f"{name}:row {r}" for r in rows[keep]], dtype=object)
    return (images[keep_in_valid], emo[keep].astype(np.int8), usage.to_numpy()[keep].astype(str), sources, report)


# --------------------------------------------------------------------------- folder / zip layout


def _split_from_name(top: str, filename: str) -> str | None:
    """Split of a file from its top folder and name prefix, or None to assign later."""
    top = top.lower()
    if top in ("train", "training"):
        return "train"
    if top in ("val", "validation", "publictest"):
        return "val"
    for prefix, split in config.USAGE_TO_SPLIT.items():
        if filename.startswith(prefix + "_"):
            return split
    if top == "privatetest":
        return "test"
    return None


def _stratified_val_test(labels: np.ndarray, seed: int) -> np.ndarray:
    """Split items 50/50 into 'val' and 'test', stratified by label, deterministically."""
    out = np.full(len(labels), "test", dtype=object)
    out[stratified_sample(labels, (len(labels) + 1) // 2, seed)] = "val"
    return out


def _structure_problem(parts: tuple[str, ...]) -> str:
    """Why a path cannot hold a labelled image ('' when it can)."""
    if len(parts) != 3:
        return "not in a <split>/<class>/ folder"
    top, cls, fname = parts
    if top.lower() not in ("train", "training", "test", "val", "validation", "publictest", "privatetest"):
        return f"unknown split folder: {top!r} (expected train/ or test/)"
    if cls.lower() not in CLASS_INDEX:
        return f"unknown class folder: {cls!r} (expected one of {', '.join(config.CLASS_NAMES)})"
    suffix = PurePosixPath(fname).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        return f"not an image: unsupported file type {suffix or '(none)'!r}"
    return ""


def _read_decode(read) -> tuple[np.ndarray | None, str]:
    try:
        data = read()
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:  # a damaged member of a zip
        return None, f"corrupt zip member: {e}"
    except OSError as e:
        return None, f"unreadable: {e}"
    return decode_gray48(data)


def _load_entries(
    entries: list[tuple[str, callable]], root_name: str, layout: str, seed: int
) -> tuple[np.ndarray, ...]:
    """Shared folder/zip logic. ``entries``: (relative posix path, reader returning bytes)."""
    report = LoadReport(root_name, layout)
    imgs, labels, splits, sources = [], [], [], []
    class_files: Counter = Counter()
    candidates = []
    for rel, read in entries:
        parts = PurePosixPath(rel).parts
        item = f"{root_name}/{rel}"
        why = _structure_problem(parts)
        if why:
            report.skip(item, why)
        else:
            candidates.append((item, parts, read))
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        decoded = pool.map(lambda c: _read_decode(c[2]), candidates)
        for (item, (top, cls, fname), _), (img, why) in zip(candidates, decoded):
            if img is None:
                report.skip(item, why)
                continue
            report.ok()
            class_files[(top.lower(), cls.lower())] += 1
            imgs.append(img)
            labels.append(CLASS_INDEX[cls.lower()])
            splits.append(_split_from_name(top, fname))
            sources.append(item)
    splits_arr = np.array(splits, dtype=object)
    labels_arr = np.array(labels, dtype=np.int8)
    unassigned = np.array([s is None for s in splits], dtype=bool)
    if unassigned.any():
        splits_arr[unassigned] = _stratified_val_test(labels_arr[unassigned], seed)
        report.notes.append(
            f"{int(unassigned.sum())} test images carry no PublicTest_/PrivateTest_ prefix: split 50/50 "
            f"into validation and test, stratified by class, with seed {seed}."
        )
    images = np.stack(imgs) if imgs else np.zeros((0, config.IMAGE_SIZE, config.IMAGE_SIZE), np.uint8)
    return images, labels_arr, splits_arr.astype(str), np.array(sources, dtype=object), report, class_files


def _note_empty_class_folders(report: LoadReport, class_dirs: list[tuple[str, str]], found: Counter) -> None:
    for top, cls in class_dirs:
        if cls.lower() in CLASS_INDEX and found[(top.lower(), cls.lower())] == 0:
            report.notes.append(f"class folder {top}/{cls}/ holds no loadable image")


def _find_layout_root(rel_paths: list[str]) -> str:
    """Prefix under which train/ and test/ live (handles a wrapping top folder)."""
    for rel in rel_paths:
        parts = PurePosixPath(rel).parts
        for i, p in enumerate(parts[:-1]):
            if p.lower() in ("train", "test") and i + 2 < len(parts):
                return "/".join(parts[:i])
    return ""


def load_folders(root: Path, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Load ``train/<class>/*.jpg`` + ``test/<class>/*.jpg`` under ``root``."""
    root = Path(root)
    entries, class_dirs = [], []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for cls_dir in sorted(split_dir.iterdir()):
            rel_cls = f"{split_dir.name}/{cls_dir.name}"
            if not cls_dir.is_dir():
                entries.append((rel_cls, cls_dir.read_bytes))
                continue
            class_dirs.append((split_dir.name, cls_dir.name))
            with os.scandir(cls_dir) as it:
                for f in sorted(it, key=lambda e: e.name):
                    entries.append((f"{rel_cls}/{f.name}", Path(f.path).read_bytes))
    for f in sorted(p for p in root.iterdir() if p.is_file()):
        entries.append((f.name, f.read_bytes))
    *arrays, report, found = _load_entries(entries, str(root), "folders", seed)
    _note_empty_class_folders(report, class_dirs, found)
    return (*arrays, report)


def load_zip(path: Path, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Load the image-folder layout (or a fer2013.csv) inside a ``.zip`` as downloaded."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise DatasetError(f"{path}: not a readable zip file ({e}). {config.KAGGLE_HINT}") from e
    with zf:
        names = [n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n]
        csvs = [n for n in names if PurePosixPath(n).name.lower() == "fer2013.csv"]
        if csvs:
            try:
                data = zf.read(csvs[0])
            except (zipfile.BadZipFile, zlib.error, EOFError) as e:
                raise DatasetError(f"{path}: {csvs[0]} inside the zip is damaged ({e}); download it again") from e
            return load_csv(io.BytesIO(data), f"{path}:{csvs[0]}")
        prefix = _find_layout_root(names)
        entries = []
        for n in sorted(names):
            rel = n[len(prefix) + 1 :] if prefix else n
            entries.append((rel, lambda n=n: zf.read(n)))
        *arrays, report, found = _load_entries(entries, str(path), "zip", seed)
        dirs = {
            tuple(PurePosixPath(n[len(prefix) + 1 :] if prefix else n).parts[:2])
            for n in zf.namelist()
            if n.endswith("/")
        }
        _note_empty_class_folders(report, [d for d in dirs if len(d) == 2], found)
    return (*arrays, report)


# --------------------------------------------------------------------------- discovery + cache


def explicit_path(path: str | Path | None, env: str, what: str, hint: str) -> Path | None:
    """``path``, else the environment variable ``env``, as a Path; None if neither is set. One that does not exist
    is a :class:`DatasetError` naming where it came from."""
    explicit = path if path is not None else os.environ.get(env) or None
    if explicit is None:
        return None
    p = Path(explicit).expanduser()
    if not p.exists():
        origin = "argument" if path is not None else f"${env}"
        raise DatasetError(f"{what} not found at {p} (from {origin}). {hint}")
    return p


def find_source(path: str | Path | None = None) -> Path | None:
    """Locate a FER-2013 download: argument, then $FER2013_PATH, then data/; None if absent.

    An explicit argument or environment variable that does not exist is a fatal error.
    """
    p = explicit_path(path, config.DATASET_ENV, "FER-2013", config.KAGGLE_HINT)
    if p is not None:
        return p
    for cand in (
        config.DATA_DIR / "fer2013.csv",
        config.DATA_DIR / "fer2013",
        config.DATA_DIR / "fer2013.zip",
        config.DATA_DIR / "archive.zip",
    ):
        if cand.exists():
            return cand
    if (config.DATA_DIR / "train").is_dir():
        return config.DATA_DIR
    return None


def fingerprint(path: Path) -> str:
    """Content key of a source: sha256 of a file, or of (name, size, mtime) of every file in a folder."""
    h = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        return h.hexdigest()[:16]
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            st = os.stat(os.path.join(dirpath, name))
            h.update(f"{os.path.relpath(os.path.join(dirpath, name), path)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _load_uncached(path: Path, seed: int) -> tuple[np.ndarray, ...]:
    if path.is_dir():
        if (path / "fer2013.csv").is_file():
            return load_csv(path / "fer2013.csv")
        subdirs = {p.name.lower() for p in path.iterdir() if p.is_dir()}
        if not subdirs & {"train", "test"}:
            raise DatasetError(
                f"{path}: expected train/ and test/ class folders or fer2013.csv inside. {config.KAGGLE_HINT}"
            )
        return load_folders(path, seed)
    if path.suffix.lower() == ".zip":
        return load_zip(path, seed)
    if path.suffix.lower() == ".csv":
        return load_csv(path)
    raise DatasetError(f"{path}: unsupported dataset file (expected .csv, .zip or a folder). {config.KAGGLE_HINT}")


#: Where each split comes from, per layout, for the error that names a missing one.
_SPLIT_SOURCES = {
    "csv": {"train": "rows with Usage=Training", "val": "rows with Usage=PublicTest",
            "test": "rows with Usage=PrivateTest"},
    "folders": {"train": "train/<class>/ images", "val": "test/<class>/ images (PublicTest_* or unprefixed)",
                "test": "test/<class>/ images (PrivateTest_* or unprefixed)"},
}  # fmt: skip


def _require_every_split(src: Path, splits: np.ndarray, layout: str) -> None:
    """Raise :class:`DatasetError` naming each official split with no loadable image, and where it belongs."""
    where = _SPLIT_SOURCES["csv" if layout == "csv" else "folders"]
    missing = [s for s in config.SPLITS if not (splits == s).any()]
    if missing:
        what = "; ".join(f"no {s} split ({where[s]})" for s in missing)
        raise DatasetError(
            f"{src}: incomplete FER-2013: {what}. A complete download has Training, PublicTest and PrivateTest "
            f"faces. {config.KAGGLE_HINT}"
        )


def _cache_path(src: Path, key: str) -> Path:
    return config.CACHE_DIR / f"fer2013-{hashlib.sha256(str(src).encode()).hexdigest()[:8]}-{key}.npz"


def _prune_stale_caches(current: Path) -> None:
    """Delete caches of the same source whose content key is out of date."""
    prefix = current.name.rsplit("-", 1)[0]
    for old in current.parent.glob(f"{prefix}-*.npz"):
        if old != current:
            old.unlink(missing_ok=True)


def _save_cache(path: Path, ds: FerDataset) -> None:
    write_npz(path, ds)


def _read_cache(path: Path, key: str) -> FerDataset:
    return read_npz(path, fingerprint=key)[0]


def load_fer2013(
    path: str | Path | None = None, *, seed: int = 0, use_cache: bool = True, allow_synthetic: bool = True
) -> FerDataset:
    """Load FER-2013 from ``path``, $FER2013_PATH, or data/; else the embedded synthetic sample.

    Raises :class:`DatasetError` with what was expected and where to put the download.
    """
    src = find_source(path)
    if src is None:
        if not allow_synthetic:
            raise DatasetError(f"No FER-2013 found. {config.KAGGLE_HINT}")
        from helpers.data.synthetic import make_synthetic_dataset

        return make_synthetic_dataset(seed=seed)
    src = src.resolve()
    key = hashlib.sha256(f"{CACHE_VERSION}|{src}|{seed}|{fingerprint(src)}".encode()).hexdigest()[:16]
    cache = _cache_path(src, key)
    if use_cache and cache.exists():
        try:
            return _read_cache(cache, key)
        except (OSError, ValueError, KeyError):
            cache.unlink(missing_ok=True)  # unreadable cache: rebuild it
    images, labels, splits, sources, report = _load_uncached(src, seed)
    if len(labels) == 0:
        raise DatasetError(f"{src}: no loadable images ({report.seen} items seen, all skipped). {config.KAGGLE_HINT}")
    _require_every_split(src, splits, report.layout)
    ds = FerDataset(images, labels, splits, sources, report, fingerprint=key)
    if use_cache:
        _save_cache(cache, ds)
        _prune_stale_caches(cache)
    return ds
