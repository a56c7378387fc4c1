"""Project paths and constants, anchored on the package location (never the working directory)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
DATA_DIR = Path(os.environ.get("FER_DATA_DIR", ROOT / "data")).resolve()
CACHE_DIR = DATA_DIR / "cache"  # decoded datasets, beside the data (FER_DATA_DIR moves both)
NOTEBOOKS_DIR = ROOT / "notebooks"
OUTPUTS_DIR = Path(os.environ.get("FER_OUTPUTS", ROOT / "outputs")).resolve()
FIGURES_DIR = OUTPUTS_DIR / "figures"
METRICS_DIR = OUTPUTS_DIR / "metrics"
MODELS_DIR = OUTPUTS_DIR / "models"
EXECUTED_DIR = OUTPUTS_DIR / "notebooks"
REPORT_DIR = OUTPUTS_DIR / "report"
BENCH_DIR = OUTPUTS_DIR / "bench"
PREPARED_DIR = OUTPUTS_DIR / "prepared"

#: Environment variable naming a FER-2013 download (CSV, image folders, or the zip).
DATASET_ENV = "FER2013_PATH"

#: Environment variable naming a file where training writes a one-line progress report (set by the runner).
PROGRESS_ENV = "FER_PROGRESS_FILE"

#: FER-2013 label order of the original CSV: 0=Angry ... 6=Neutral.
CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
IMAGE_SIZE = 48
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE

#: Official protocol: CSV ``Usage`` value / file-name prefix -> our split name.
USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SPLITS: tuple[str, ...] = ("train", "val", "test")

#: Keras backends the workbook runs on; TensorFlow is the default (``KERAS_BACKEND`` chooses).
KERAS_BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch")


def backend_venv(backend: str) -> Path:
    """The virtual environment that ``make setup BACKEND=<backend>`` makes (TensorFlow's is ``.venv``)."""
    return ROOT / (".venv" if backend == "tensorflow" else f".venv-{backend}")


SYNTHETIC_LABEL = "embedded synthetic sample - not FER-2013"

KAGGLE_HINT = (
    "Download FER-2013 from Kaggle, either the original CSV (dataset 'deadskull7/fer2013' or the "
    "'challenges-in-representation-learning-facial-expression-recognition-challenge' competition: "
    "fer2013.csv with columns emotion,pixels,Usage) or the image folders (dataset 'msambare/fer2013': "
    "train/<class>/*.jpg and test/<class>/*.jpg, the .zip works as downloaded). Put it at "
    f"{DATA_DIR}/fer2013.csv, {DATA_DIR}/fer2013/ (holding train/ and test/), or {DATA_DIR}/fer2013.zip, "
    f"or point the environment variable {DATASET_ENV} at it."
)


def ensure_dirs() -> None:
    """Create the output folders."""
    for d in (FIGURES_DIR, METRICS_DIR, MODELS_DIR, EXECUTED_DIR, REPORT_DIR, BENCH_DIR, PREPARED_DIR):
        d.mkdir(parents=True, exist_ok=True)
