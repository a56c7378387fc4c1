"""Shared fixtures: tiny FER-2013 look-alikes built in a temp folder (nothing from the real dataset)."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")  # figures are written, never shown

REAL = os.environ.get("FER2013_PATH")


def face(seed: int) -> np.ndarray:
    """A deterministic 48x48 uint8 test image."""
    return np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8)


def jpeg(seed: int) -> bytes:
    return cv2.imencode(".jpg", face(seed))[1].tobytes()


def png(seed: int) -> bytes:
    return cv2.imencode(".png", face(seed))[1].tobytes()


@pytest.fixture
def folder_layout(tmp_path: Path) -> Path:
    """train/test class folders with 9 good images and 6 bad items of every kind."""
    root = tmp_path / "fer"
    files = {
        "train/happy/Training_1.jpg": jpeg(1),
        "train/happy/Training_2.jpg": jpeg(2),
        "train/sad/Training_3.png": png(3),
        "train/angry/Training_4.jpg": jpeg(4),
        "test/happy/PublicTest_5.jpg": jpeg(5),
        "test/happy/PrivateTest_6.jpg": jpeg(6),
        "test/sad/PublicTest_7.jpg": jpeg(7),
        "test/sad/PrivateTest_8.jpg": jpeg(8),
        "test/angry/PrivateTest_9.jpg": jpeg(9),
        # bad inputs
        "train/happy/corrupt.jpg": jpeg(10)[:200],  # JPEG cut inside its header
        "train/happy/truncated.jpg": jpeg(12)[:-2],  # JPEG missing its end-of-image marker
        "train/sad/empty.jpg": b"",  # zero-byte file
        "train/sad/notes.jpg": b"this is a text file, not an image\n",  # text named .jpg
        "train/contempt/Training_11.jpg": jpeg(11),  # unknown class folder
        "train/happy/readme.txt": b"hello",  # not an image type
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "test" / "disgust").mkdir(parents=True)  # empty class folder
    return root


@pytest.fixture
def zip_layout(folder_layout: Path, tmp_path: Path) -> Path:
    """The folder layout zipped inside a wrapping top folder, as Kaggle downloads can be."""
    zpath = tmp_path / "archive.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(folder_layout.rglob("*")):
            arc = "fer2013/" + p.relative_to(folder_layout).as_posix() + ("/" if p.is_dir() else "")
            if p.is_dir():
                zf.writestr(arc, b"")
            else:
                zf.write(p, arc)
    return zpath


def csv_row(label: object, pixels: str, usage: str) -> str:
    return f'{label},"{pixels}",{usage}'


def pix(seed: int, n: int = 2304) -> str:
    return " ".join(map(str, np.random.default_rng(seed).integers(0, 256, n)))


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    rows = [
        "emotion,pixels,Usage",
        csv_row(0, pix(1), "Training"),  # line 2
        csv_row(3, pix(2), "Training"),  # line 3
        csv_row(3, pix(3, 2303), "Training"),  # line 4: 2303 pixels
        csv_row(9, pix(4), "Training"),  # line 5: label 9
        csv_row(4, pix(5), "PublicTest"),  # line 6
        csv_row(6, pix(6), "PrivateTest"),  # line 7
        csv_row(5, "12 abc 7", "PrivateTest"),  # line 8: not integers
        csv_row(2, pix(8), "Holdout"),  # line 9: unknown usage
        csv_row(1, "300 " + pix(9, 2303), "Training"),  # line 10: pixel value 300
    ]
    p = tmp_path / "fer2013.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


@pytest.fixture
def photo_folders(tmp_path: Path) -> Path:
    """happy/ + sad/ folders of 'photos': colour, gray, odd sizes, PNG/BMP/WebP, EXIF-rotated, and broken files."""
    from PIL import Image

    root = tmp_path / "photos"
    for cls in ("happy", "sad"):
        (root / cls).mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)).save(root / "happy" / "a.jpg")
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(root / "happy" / "b.png")
    Image.fromarray(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(root / "sad" / "c.bmp")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / "sad" / "d.webp")
    im = Image.fromarray(np.zeros((20, 60, 3), np.uint8))  # wide image tagged "rotate 90"
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(root / "sad" / "rotated.jpg", exif=exif)
    (root / "sad" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    (root / "sad" / "empty.png").write_bytes(b"")
    (root / "sad" / "notes.txt").write_text("hi")
    return root


@pytest.fixture
def real_path() -> Path:
    if not REAL:
        pytest.skip("FER2013_PATH is not set: real-data tests need a FER-2013 download (see README)")
    return Path(REAL)


@pytest.fixture
def isolated_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point outputs/ and data/cache/ at a temp folder for the duration of a test."""
    from helpers import config

    out = tmp_path / "outputs"
    base = config.OUTPUTS_DIR
    for name in (
        "OUTPUTS_DIR",
        "FIGURES_DIR",
        "METRICS_DIR",
        "MODELS_DIR",
        "EXECUTED_DIR",
        "REPORT_DIR",
        "BENCH_DIR",
        "PREPARED_DIR",
    ):
        monkeypatch.setattr(config, name, out / getattr(config, name).relative_to(base))
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    yield out
    shutil.rmtree(out, ignore_errors=True)


#: The registered models the per-architecture tests train and load: every one but the two large ImageNet backbones
#: (VGG16 and ResNet50 share their builder with MobileNetV2, which stands for all three).
TESTED_MODELS = ("baseline_cnn", "dcnn", "efficient_cnn", "binary_seed_cnn", "binary_compact_cnn", "pretrained",
                 "mobilenet_v2")  # fmt: skip


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory) -> dict[str, Path]:
    """Every registered architecture after one training step through ``training.train``, saved as notebooks save it."""
    from helpers import models, training
    from helpers.data.synthetic import make_synthetic_dataset

    out = tmp_path_factory.mktemp("trained")
    ds = make_synthetic_dataset(seed=0, sizes={"train": 32, "val": 32, "test": 16})
    (x, y), val = ds.split("train"), ds.split("val")
    paths = {}
    for name in TESTED_MODELS:
        kw: dict = dict(model=name, epochs=1, batch_size=32, lr=1e-3, seed=1, augment="none")
        if name in models.IMAGENET:
            kw.update(model_kwargs={"weights": None})  # no download in tests
        tr, va = (x, y), val
        if name.startswith("binary"):
            kw.update(n_classes=1, monitor="val_auc")
            tr, va = (x, (y == 3).astype(int)), (val[0], (val[1] == 3).astype(int))
        if name == "binary_seed_cnn":
            kw.update(input_size=256, channels=3)
        r = training.train(training.TrainConfig(**kw), tr, va, name=name, models_dir=out, verbose=0)
        paths[name] = r.model_path
    return paths


#: A real Chromium for the browser checks (the report, the live page); None skips them.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
#: Flags every headless Chromium of the tests starts with: no sandbox (root) and no GPU, and none of the background
#: connections that this machine's closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
