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

#: Environment variable naming a FER+ download (FER+'s split folders, or fer2013.csv with fer2013new.csv).
FERPLUS_ENV = "FERPLUS_PATH"

#: The datasets the workbook runs on (``make run-all DATASET=...``, notebook 02's ``dataset``).
DATASETS: tuple[str, ...] = ("fer2013", "ferplus")

#: FER+'s eight emotions in its label order (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt),
#: named with FER-2013's words where the emotion is the same.
FERPLUS_CLASS_NAMES: tuple[str, ...] = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt")

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


FERPLUS_HINT = (
    "FER+ is FER-2013 relabelled by 10 taggers per face (github.com/microsoft/FERPlus). Either run FER+'s "
    "generate_training_data.py, which writes FER2013Train/, FER2013Valid/ and FER2013Test/ (PNGs + label.csv each), "
    "or put fer2013new.csv beside the original fer2013.csv. Put either at "
    f"{DATA_DIR}/ferplus/ or point the environment variable {FERPLUS_ENV} at it."
)


def use_outputs(path: str | Path) -> None:
    """Point every output folder at ``path`` (this process, and the notebook kernels it starts, via FER_OUTPUTS)."""
    global OUTPUTS_DIR, FIGURES_DIR, METRICS_DIR, MODELS_DIR, EXECUTED_DIR, REPORT_DIR, BENCH_DIR, PREPARED_DIR
    OUTPUTS_DIR = Path(path).resolve()
    os.environ["FER_OUTPUTS"] = str(OUTPUTS_DIR)
    FIGURES_DIR, METRICS_DIR, MODELS_DIR = OUTPUTS_DIR / "figures", OUTPUTS_DIR / "metrics", OUTPUTS_DIR / "models"
    EXECUTED_DIR, REPORT_DIR, BENCH_DIR = OUTPUTS_DIR / "notebooks", OUTPUTS_DIR / "report", OUTPUTS_DIR / "bench"
    PREPARED_DIR = OUTPUTS_DIR / "prepared"


def ensure_dirs() -> None:
    """Create the output folders."""
    for d in (FIGURES_DIR, METRICS_DIR, MODELS_DIR, EXECUTED_DIR, REPORT_DIR, BENCH_DIR, PREPARED_DIR):
        d.mkdir(parents=True, exist_ok=True)
