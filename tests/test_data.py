"""Data layer: every loader path, every bad input, exact load reports, cache, discovery, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import config
from helpers.cli import check
from helpers.data import datasets, fer2013
from helpers.inference import photos


def reasons(report: datasets.LoadReport) -> dict[str, str]:
    """Skipped item (file name or row) -> reason."""
    return {
        Path(item.split(":row ")[0]).name + (":row " + item.split(":row ")[1] if ":row " in item else ""): why
        for item, why in report.skipped
    }


def test_folder_layout_exact_report(folder_layout, isolated_outputs):
    ds = fer2013.load_fer2013(folder_layout, use_cache=False)
    r = ds.report
    assert (r.seen, r.loaded, len(r.skipped)) == (15, 9, 6)
    assert r.balanced
    got = reasons(r)
    assert got["corrupt.jpg"] == "corrupt image: JPEG data cannot be decoded"
    assert got["truncated.jpg"] == "corrupt image: JPEG data cannot be decoded"
    assert got["empty.jpg"] == "empty file"
    assert got["notes.jpg"] == "not an image: content is not a recognised image format"
    assert got["Training_11.jpg"].startswith("unknown class folder: 'contempt'")
    assert got["readme.txt"] == "not an image: unsupported file type '.txt'"
    assert "class folder test/disgust/ holds no loadable image" in r.notes
    assert ds.images.shape == (9, 48, 48) and ds.images.dtype == np.uint8
    assert {s: int((ds.splits == s).sum()) for s in config.SPLITS} == {"train": 4, "val": 2, "test": 3}
    # every image traces back to its file, and pixels survive the round trip
    i = list(ds.sources).index(f"{folder_layout}/test/sad/PublicTest_7.jpg")
    assert ds.splits[i] == "val" and config.CLASS_NAMES[ds.labels[i]] == "sad"


def test_zip_layout_same_as_folders(zip_layout, isolated_outputs):
    ds = fer2013.load_fer2013(zip_layout, use_cache=False)
    r = ds.report
    assert r.layout == "zip"
    assert (r.seen, r.loaded, len(r.skipped)) == (15, 9, 6)
    assert {s: int((ds.splits == s).sum()) for s in config.SPLITS} == {"train": 4, "val": 2, "test": 3}
    assert sorted(reasons(r).values()) == sorted(
        reasons(fer2013.load_fer2013(zip_layout.parent / "fer", use_cache=False).report).values()
    )


def test_csv_exact_report(csv_file, isolated_outputs):
    ds = fer2013.load_fer2013(csv_file, use_cache=False)
    r = ds.report
    assert (r.seen, r.loaded) == (9, 4) and r.balanced
    got = reasons(r)
    assert got["fer2013.csv:row 4"] == "wrong pixel count: 2303 (expected 2304)"
    assert got["fer2013.csv:row 5"] == "label out of range: '9' (expected 0-6)"
    assert got["fer2013.csv:row 8"] == "malformed pixels: not space-separated integers"
    assert got["fer2013.csv:row 9"].startswith("unknown Usage: 'Holdout'")
    assert got["fer2013.csv:row 10"] == "pixel value out of range 0-255"
    assert list(ds.labels) == [0, 3, 4, 6]
    assert list(ds.splits) == ["train", "train", "val", "test"]
    assert ds.sources[2] == f"{csv_file}:row 6"
    expected = np.array(list(map(int, csv_file.read_text().splitlines()[5].split('"')[1].split())))
    np.testing.assert_array_equal(ds.images[2].ravel(), expected)


def test_csv_missing_usage_column_is_fatal(tmp_path):
    p = tmp_path / "fer2013.csv"
    p.write_text('emotion,pixels\n0,"1 2 3"\n')
    with pytest.raises(datasets.DatasetError, match=r"lacks required column\(s\) \['Usage'\].*Kaggle"):
        fer2013.load_fer2013(p, use_cache=False)


def test_missing_path_says_where_to_put_it(tmp_path):
    with pytest.raises(datasets.DatasetError, match="not found.*fer2013.csv.*FER2013_PATH"):
        fer2013.load_fer2013(tmp_path / "nope")


def test_env_var_pointing_nowhere_is_fatal(monkeypatch, tmp_path):
    monkeypatch.setenv(config.DATASET_ENV, str(tmp_path / "missing"))
    with pytest.raises(datasets.DatasetError, match=r"\$FER2013_PATH"):
        fer2013.load_fer2013()


def test_all_items_bad_is_fatal(tmp_path):
    (tmp_path / "train" / "happy").mkdir(parents=True)
    (tmp_path / "train" / "happy" / "x.jpg").write_bytes(b"")
    with pytest.raises(datasets.DatasetError, match="no loadable images.*1 items seen"):
        fer2013.load_fer2013(tmp_path, use_cache=False)


def test_unprefixed_test_files_split_stratified(tmp_path, isolated_outputs):
    from tests.conftest import jpeg

    for cls in ("happy", "sad"):
        for i in range(10):
            p = tmp_path / "test" / cls / f"{cls}{i}.jpg"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(jpeg(i))
    (tmp_path / "train" / "happy").mkdir(parents=True)
    (tmp_path / "train" / "happy" / "t.jpg").write_bytes(jpeg(99))
    ds = fer2013.load_fer2013(tmp_path, use_cache=False, seed=3)
    for c in (3, 4):
        assert ((ds.splits == "val") & (ds.labels == c)).sum() == 5
        assert ((ds.splits == "test") & (ds.labels == c)).sum() == 5
    assert any("stratified" in n and "seed 3" in n for n in ds.report.notes)
    again = fer2013.load_fer2013(tmp_path, use_cache=False, seed=3)
    assert list(again.splits) == list(ds.splits)


def test_cache_is_used_and_invalidated(folder_layout, isolated_outputs):
    first = fer2013.load_fer2013(folder_layout)
    caches = list(config.CACHE_DIR.glob("*.npz"))
    assert len(caches) == 1
    again = fer2013.load_fer2013(folder_layout)
    np.testing.assert_array_equal(first.images, again.images)
    assert again.report.to_dict() == first.report.to_dict()
    from tests.conftest import jpeg

    (folder_layout / "train" / "sad" / "Training_new.jpg").write_bytes(jpeg(50))
    changed = fer2013.load_fer2013(folder_layout)
    assert changed.report.loaded == first.report.loaded + 1
    assert len(list(config.CACHE_DIR.glob("*.npz"))) == 1  # the stale cache was pruned


def test_discovery_falls_back_to_synthetic(monkeypatch, tmp_path):
    monkeypatch.delenv(config.DATASET_ENV, raising=False)
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    ds = fer2013.load_fer2013()
    assert ds.synthetic and ds.identity()["name"] == config.SYNTHETIC_LABEL
    assert config.SYNTHETIC_LABEL in datasets.format_report(ds)
    with pytest.raises(datasets.DatasetError, match="No FER-2013 found"):
        fer2013.load_fer2013(allow_synthetic=False)


def test_discovery_finds_data_dir(monkeypatch, folder_layout, isolated_outputs):
    monkeypatch.delenv(config.DATASET_ENV, raising=False)
    monkeypatch.setattr(config, "DATA_DIR", folder_layout.parent)
    folder_layout.rename(folder_layout.parent / "fer2013")
    assert fer2013.find_source() == folder_layout.parent / "fer2013"


def test_cli_check(folder_layout, capsys, isolated_outputs):
    assert check.main([str(folder_layout), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "seen 15 = loaded 9 + skipped 6  [OK]" in out
    assert "empty.jpg: empty file" in out
    assert check.main([str(folder_layout / "missing")]) == 2
    assert "error: FER-2013 not found" in capsys.readouterr().err


def test_class_folders_photos(photo_folders):
    pf = photos.load_class_folders(photo_folders, classes=("sad", "happy"))
    r = pf.report
    assert (r.seen, r.loaded, len(r.skipped)) == (8, 5, 3) and r.balanced
    got = reasons(r)
    assert got["broken.jpg"].startswith("not an image or corrupt")
    assert got["empty.png"] == "empty file"
    assert got["notes.txt"].startswith("unsupported format '.txt'")
    assert pf.images.shape == (5, 48, 48)
    assert sorted(pf.labels.tolist()) == [0, 0, 0, 1, 1]


def test_exif_orientation_honoured(photo_folders):
    from helpers.inference.faces import read_photo

    assert read_photo(photo_folders / "sad" / "rotated.jpg").shape == (60, 20, 3)


def test_class_folders_unknown_and_missing(photo_folders):
    (photo_folders / "angry").mkdir()
    (photo_folders / "angry" / "x.png").write_bytes((photo_folders / "happy" / "b.png").read_bytes())
    pf = photos.load_class_folders(photo_folders, classes=("sad", "happy"))
    assert reasons(pf.report)["x.png"].startswith("unknown class folder: 'angry'")
    with pytest.raises(datasets.DatasetError, match="missing"):
        photos.load_class_folders(photo_folders, classes=("sad", "happy", "calm"))


def test_stratified_split_70_15_15():
    labels = np.repeat([0, 1], [100, 60])
    s = datasets.stratified_split(labels, seed=1)
    assert {k: int((s == k).sum()) for k in ("train", "val", "test")} == {"train": 112, "val": 24, "test": 24}
    assert list(datasets.stratified_split(labels, seed=1)) == list(s)


def test_parse_pixels_vectorised_matches_loop():
    import pandas as pd

    rows = [" ".join(map(str, np.random.default_rng(i).integers(0, 256, 2304))) for i in range(5)]
    imgs, valid, _ = fer2013.parse_pixels(pd.Series(rows))
    loop = np.stack([np.array(r.split(), dtype="float32").reshape(48, 48) for r in rows])
    assert valid.all()
    np.testing.assert_array_equal(imgs, loop.astype(np.uint8))


def test_parse_pixels_names_each_bad_row():
    """Valid rows parse exactly; each bad row gets its own reason, wherever it falls."""
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = [" ".join(map(str, rng.integers(0, 256, 2304))) for _ in range(9)]
    rows[2] = rows[2].replace(" ", "  ", 3)  # runs of spaces: still valid
    rows[3] = rows[3] + " 7"  # 2305 values
    rows[5] = rows[5].replace("1", "x", 1)  # not a number
    rows[6] = "300 " + rows[6].split(" ", 1)[1]  # out of range
    rows[8] = ""
    imgs, valid, reasons = fer2013.parse_pixels(pd.Series(rows))
    assert valid.tolist() == [True, True, True, False, True, False, False, True, False]
    assert reasons[3] == "wrong pixel count: 2305 (expected 2304)"
    assert reasons[5] == reasons[8] == "malformed pixels: not space-separated integers"
    assert reasons[6] == "pixel value out of range 0-255"
    loop = [np.array(r.split(), dtype="float32").reshape(48, 48) for i, r in enumerate(rows) if valid[i]]
    np.testing.assert_array_equal(imgs, np.stack(loop).astype(np.uint8))


@pytest.mark.realdata
def test_real_fer2013_official_counts(real_path):
    ds = fer2013.load_fer2013(real_path)
    r = ds.report
    assert r.balanced and len(r.skipped) == 0
    assert {s: int((ds.splits == s).sum()) for s in config.SPLITS} == {"train": 28709, "val": 3589, "test": 3589}
    counts = ds.counts()
    assert counts["train"].drop("total").to_dict() == {
        "angry": 3995,
        "disgust": 436,
        "fear": 4097,
        "happy": 7215,
        "sad": 4830,
        "surprise": 3171,
        "neutral": 4965,
    }
    assert (counts["val"] + counts["test"]).drop("total").to_dict() == {
        "angry": 958,
        "disgust": 111,
        "fear": 1024,
        "happy": 1774,
        "sad": 1247,
        "surprise": 831,
        "neutral": 1233,
    }


def _write_layout(root: Path, blur_train: bool) -> Path:
    """A small FER-2013 folder layout from synthetic faces; training images optionally Gaussian-blurred."""
    import cv2

    from helpers.data.synthetic import make_synthetic_dataset

    ds = make_synthetic_dataset(seed=2, sizes={"train": 280, "val": 140, "test": 140})
    prefix = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
    for i, (im, lab, split) in enumerate(zip(ds.images, ds.labels, ds.splits)):
        if split == "train" and blur_train:
            im = cv2.GaussianBlur(im, (0, 0), 3.0)
        folder = root / ("train" if split == "train" else "test") / config.CLASS_NAMES[lab]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{prefix[split]}_{i}.png"), im)
    return root


@pytest.mark.parametrize("blur_train", [True, False])
def test_check_warns_when_train_is_processed_differently(tmp_path, capsys, isolated_outputs, blur_train):
    root = _write_layout(tmp_path / "fer", blur_train)
    assert check.main([str(root), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "median_sharpness" in out
    warned = "WARNING: training images look differently processed than val images" in out
    assert warned == blur_train, out
    assert ("blurred training images?" in out) == blur_train
    assert ("processed alike" in out) == (not blur_train)


def test_quality_sample_draws_from_every_class():
    """Folder layouts are sorted by class: the first N images would all be one class."""
    from helpers.data import audit

    labels = np.repeat(np.arange(7), 100)
    splits = np.array(["train"] * 700)
    idx = audit.sample_indices(labels, splits, "train", 70, seed=0)
    assert len(idx) == 70 and set(labels[idx]) == set(range(7))
    assert not np.array_equal(idx, audit.sample_indices(labels, splits, "train", 70, seed=1))
    np.testing.assert_array_equal(idx, audit.sample_indices(labels, splits, "train", 70, seed=0))


@pytest.mark.realdata
def test_real_fer2013_train_and_test_processed_alike(real_path, isolated_outputs):
    from helpers.data import audit

    ds = fer2013.load_fer2013(real_path)
    processing = audit.processing_check(ds.images, ds.labels, ds.splits)
    stats, warnings = processing.stats, processing.warnings
    assert warnings == [], warnings
    assert set(stats.index) == {"train", "val", "test"} and (stats["sampled"] == 2000).all()
