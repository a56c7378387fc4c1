"""The on-disk run format: one folder per committed epoch, made current by one atomic pointer swap."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from helpers.artifacts import atomic_write_bytes

STATE, CHECKPOINT, BEST, HISTORY, LATEST = "state.json", "checkpoint.keras", "best.keras", "history.csv", "LATEST"


def data_fingerprint(*arrays: np.ndarray) -> str:
    """Short hash of arrays' shapes, dtypes and bytes (the training and validation data of a run)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:12]


def committed_dir(run_dir: Path) -> Path | None:
    """The run's current ``epoch-NNNN/`` folder (named by ``LATEST``), or None before the first epoch."""
    with contextlib.suppress(OSError):
        d = Path(run_dir) / (Path(run_dir) / LATEST).read_text().strip()
        if (d / STATE).exists():
            return d
    return None


def read_state(run_dir: Path) -> dict | None:
    """The run's committed ``state.json``, or None."""
    d = committed_dir(run_dir)
    return json.loads((d / STATE).read_text()) if d else None


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def commit_epoch(run_dir: Path, epoch: int, model: keras.Model, state: dict, improved: bool) -> Path:
    """Write checkpoint, best model, state and history to ``epoch-NNNN/`` and make it current atomically."""
    name = f"epoch-{epoch:04d}"
    previous = committed_dir(run_dir)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=f".{name}."))
    try:
        model.save(tmp / CHECKPOINT)
        if improved:
            _link_or_copy(tmp / CHECKPOINT, tmp / BEST)
        elif previous is not None and (previous / BEST).exists():
            _link_or_copy(previous / BEST, tmp / BEST)
        (tmp / STATE).write_text(json.dumps(state, indent=1, default=float))
        pd.DataFrame(state["history"]).to_csv(tmp / HISTORY, index=False)
        final = run_dir / name
        if final.exists():  # left by a run killed between the rename and the pointer update; redone now
            shutil.rmtree(final)
        os.rename(tmp, final)
        atomic_write_bytes(run_dir / LATEST, name.encode())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in run_dir.glob("epoch-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final
