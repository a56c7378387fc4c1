"""The 7-class FER-2013 model that ships inside the package, checked against its SHA-256 before use.

``helpers/shipped/emotion_model.keras`` is written by ``make release-model`` (:mod:`helpers.cli.release`), with
``emotion_model.json`` beside it: the file's SHA-256, its class names, the test-time augmentation chosen on
validation, where the model came from, and its training curve (validation accuracy against training minutes).
Prediction uses it when no model is named.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from helpers import config

SHIPPED_DIR = config.PACKAGE_DIR / "shipped"
MODEL_FILE = SHIPPED_DIR / "emotion_model.keras"
MANIFEST_FILE = SHIPPED_DIR / "emotion_model.json"
REBUILD = "make release-model FER2013_PATH=/path/to/fer2013 (or restore it: git checkout -- helpers/shipped/)"


class ShippedModelError(RuntimeError):
    """The shipped model is missing, truncated or altered; the message names the file and how to rebuild it."""


@dataclass(frozen=True)
class Shipped:
    """The verified shipped model file and what its manifest says about it."""

    path: Path
    sha256: str
    class_names: tuple[str, ...]
    tta: str  # "flip" or "none": what prediction uses by default (chosen on validation)
    manifest: dict


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(model_file: Path | None = None, manifest_file: Path | None = None) -> Shipped:
    """The shipped model (default :data:`MODEL_FILE`), after checking its bytes against its manifest's SHA-256."""
    model_file, manifest_file = model_file or MODEL_FILE, manifest_file or MANIFEST_FILE
    if not model_file.is_file():
        raise ShippedModelError(f"the shipped model {model_file} is missing; rebuild it with {REBUILD}")
    try:
        manifest = json.loads(manifest_file.read_text())
        expected = manifest["sha256"]
    except (OSError, ValueError, KeyError) as e:
        raise ShippedModelError(f"the shipped model's manifest {manifest_file} is missing or unreadable ({e}); "
                                f"rebuild it with {REBUILD}") from e  # fmt: skip
    actual = sha256_of(model_file)
    if actual != expected:
        size = model_file.stat().st_size
        raise ShippedModelError(
            f"the shipped model {model_file} ({size:,} bytes) does not match its SHA-256 (expected {expected[:16]}..., "
            f"found {actual[:16]}...): it is truncated or altered; rebuild it with {REBUILD}"
        )
    return Shipped(model_file, actual, tuple(manifest["class_names"]), manifest.get("tta", "none"), manifest)


def training_curve(info: Shipped) -> dict[str, list[float]]:
    """Validation accuracy against training minutes, one entry per epoch, as the release run recorded it.

    Empty lists when the manifest has no curve (a model shipped before curves were recorded).
    """
    curve = info.manifest.get("curve") or {}
    return {"minutes": list(curve.get("minutes", [])), "val_accuracy": list(curve.get("val_accuracy", []))}
