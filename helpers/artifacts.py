"""Atomic file writes and run provenance (params, seed, git SHA, package versions)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from helpers import config

TRACKED_PACKAGES = (
    "tensorflow",
    "tensorflow-cpu",
    "jax",
    "jaxlib",
    "torch",
    "keras",
    "numpy",
    "pandas",
    "scikit-learn",
    "opencv-python-headless",
    "matplotlib",
    "seaborn",
    "papermill",
)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ordinary_mode(path: str | Path) -> None:
    """Give a file made by ``mkstemp`` (mode 0600) the mode any new file gets under the user's umask."""
    os.chmod(path, 0o666 & ~_umask())


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, fsync, then rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        ordinary_mode(tmp)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_json(path: str | Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (numpy values converted)."""
    return atomic_write_bytes(path, json.dumps(obj, indent=2, default=_default).encode())


def git_sha() -> str:
    """Commit of the project checkout, with '-dirty' when it has uncommitted changes; 'unknown' outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=config.ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=config.ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def keras_backend() -> str:
    """The Keras backend of this process (``KERAS_BACKEND``; TensorFlow by default), without importing Keras."""
    keras = sys.modules.get("keras")
    return keras.backend.backend() if keras is not None else os.environ.get("KERAS_BACKEND", "tensorflow")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide the numbers."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def provenance(params: dict | None = None, seed: int | None = None, dataset: dict | None = None) -> dict:
    """Everything needed to tell where a metrics file came from."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "packages": package_versions(),
        "keras_backend": keras_backend(),
        "platform": platform.platform(),
        "seed": seed,
        "params": params or {},
        "dataset": dataset or {},
    }


def save_metrics(
    name: str, metrics: dict, *, params: dict | None = None, seed: int | None = None, dataset: dict | None = None
) -> Path:
    """Write ``outputs/metrics/<name>.json`` with metrics plus provenance, atomically."""
    body = {"metrics": metrics, **provenance(params, seed, dataset)}
    if dataset and dataset.get("synthetic"):
        body["label"] = config.SYNTHETIC_LABEL
    return save_json(config.METRICS_DIR / f"{name}.json", body)
