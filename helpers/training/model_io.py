"""Saving and loading models: atomic ``.keras`` writes that carry the model's class names."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import keras

from helpers.artifacts import ordinary_mode

CLASS_NAMES_ENTRY = "class_names.json"


def save_model_atomic(model: keras.Model, path: str | Path, class_names: Sequence[str] | None = None) -> Path:
    """Save a ``.keras`` (or ``.h5``) file via a temp file and rename: never half-written.

    ``class_names`` (a ``.keras`` file only) are stored inside the archive, in output order; a binary model's
    are (negative, positive). :func:`read_class_names` reads them back.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        model.save(tmp)
        if class_names is not None:
            n_out = model.output_shape[-1]
            if len(class_names) != max(n_out, 2):
                raise ValueError(f"{len(class_names)} class names for a model with {n_out} output(s)")
            with zipfile.ZipFile(tmp, "a") as archive:
                archive.writestr(CLASS_NAMES_ENTRY, json.dumps(list(class_names)))
        ordinary_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_class_names(path: str | Path) -> tuple[str, ...] | None:
    """The class names stored in a ``.keras`` file by :func:`save_model_atomic`, or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            if CLASS_NAMES_ENTRY in archive.namelist():
                return tuple(json.loads(archive.read(CLASS_NAMES_ENTRY)))
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    return None


def load_model(path: str | Path) -> keras.Model:
    """Load a saved ``.keras`` model safely (no Lambda layers or pickled code are needed)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path} (run the training notebook first)")
    return keras.models.load_model(path, safe_mode=True)
