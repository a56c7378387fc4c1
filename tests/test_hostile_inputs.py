"""Ordinary but awkward input to predict and the loaders: nothing lost, nothing overwritten, no traceback.

Each class of trouble is built here for real: odd encodings, odd file-system entries (duplicate stems, hidden
files, nested folders, broken links), damaged archives and CSV rows, unusable output locations, interrupts.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from helpers import inference, models, training
from helpers.cli import predict
from helpers.data import datasets, fer2013
from helpers.inference import faces, photos

from .conftest import csv_row, jpeg, pix


class CentreDetector:
    """Finds one face in the middle of any image, so every photo yields a row without depending on a detector."""

    name = "centre"

    def __init__(self):
        self.shapes: list[tuple[int, ...]] = []

    def detect(self, image: np.ndarray) -> list[faces.Detection]:
        self.shapes.append(image.shape)
        h, w = image.shape[:2]
        return [faces.Detection(faces.Box(w // 4, h // 4, w // 2, h // 2), 0.99)]


@pytest.fixture
def centre(monkeypatch):
    detector = CentreDetector()
    monkeypatch.setattr(faces, "get_detector", lambda name=None: detector)
    return detector


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "model.keras"
    training.save_model_atomic(models.baseline_cnn(), path)
    return path


def image(path, value: int = 120, size: tuple[int, int] = (80, 80)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    photos.save_rgb(path, np.full((*size, 3), value, np.uint8))


def read_rows(out) -> list[dict]:
    with open(out / "predictions.csv", newline="") as f:
        return list(csv.DictReader(f))


def messy_folder(root):
    """Duplicate stems, a nested duplicate, hidden files, a broken link, other file types."""
    image(root / "good.jpg", 100)
    image(root / "good.png", 140)
    image(root / "nested" / "good.jpg", 180)
    (root / ".DS_Store").write_bytes(b"\0\1")
    (root / "Thumbs.db").write_bytes(b"\0\1")
    (root / "notes.txt").write_text("a note")
    (root / ".hidden").mkdir()
    image(root / ".hidden" / "secret.jpg")
    (root / "gone.jpg").symlink_to(root / "does-not-exist.jpg")
    return root


def test_same_stems_get_one_output_each_and_the_csv_maps_them(model_file, tmp_path, centre, capsys):
    src = messy_folder(tmp_path / "in")
    out = tmp_path / "out"
    assert predict.main([str(src), "--model", str(model_file), "--out", str(out)]) == 0
    rows = read_rows(out)
    outputs = {r["source"]: r["output"] for r in rows}
    assert set(outputs) == {str(src / "good.jpg"), str(src / "good.png"), str(src / "nested" / "good.jpg")}
    assert len(set(outputs.values())) == 3 and all((out / o).is_file() for o in outputs.values())
    assert outputs[str(src / "nested" / "good.jpg")] == "nested/good_annotated.jpg"
    summary = capsys.readouterr().out
    assert "3 image(s)" in summary and "0 failed" in summary and "5 skipped" in summary
    for reason in ("hidden file", "hidden folder", "broken link", "not a photo or video"):
        assert reason in summary


def test_rerun_into_a_folder_inside_the_inputs_reads_no_outputs(model_file, tmp_path, centre):
    src = tmp_path / "in"
    image(src / "a.jpg")
    image(src / "b.jpg")
    out = src / "results"
    first = predict.run([str(src)], model_file, out)
    again = predict.run([str(src)], model_file, out)
    assert first["exit_code"] == again["exit_code"] == 0 and again["inputs"] == 2
    assert not list(out.rglob("*_annotated_annotated*"))
    assert again["skipped_reasons"] == {"the output folder": 1}
    # outputs of an earlier run left beside the inputs are recognised too, and skipped
    (src / "old_annotated.jpg").write_bytes((out / "a_annotated.jpg").read_bytes())
    (src / "predictions.csv").write_text("source\n")
    third = predict.run([str(src)], model_file, tmp_path / "elsewhere")
    assert third["exit_code"] == 0 and third["skipped_reasons"] == {"an output of this tool": 6}  # 4 in results/


def test_previous_runs_outputs_are_removed_so_the_folder_describes_one_run(model_file, tmp_path, centre):
    out = tmp_path / "out"
    image(tmp_path / "one" / "x.jpg")
    image(tmp_path / "two" / "y.jpg")
    predict.run([str(tmp_path / "one")], model_file, out)
    assert (out / "x_annotated.jpg").exists()
    predict.run([str(tmp_path / "two")], model_file, out)
    assert not (out / "x_annotated.jpg").exists() and (out / "y_annotated.jpg").exists()
    assert [r["source"] for r in read_rows(out)] == [str(tmp_path / "two" / "y.jpg")]


def test_ctrl_c_keeps_every_finished_row_and_prints_the_summary(model_file, tmp_path, centre, monkeypatch, capsys):
    src = tmp_path / "in"
    for i in range(5):
        image(src / f"p{i}.jpg", 50 + 30 * i)
    out = tmp_path / "out"
    predict.run([str(src)], model_file, out)  # an earlier run's CSV, which must not survive
    calls = {"n": 0}
    real = inference.EmotionPredictor.detect_faces

    def interrupt_third(self, img):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, img)

    monkeypatch.setattr(inference.EmotionPredictor, "detect_faces", interrupt_third)
    code = predict.main([str(src), "--model", str(model_file), "--out", str(out)])
    assert code == 130
    assert "interrupted after 2 of 5 input(s)" in capsys.readouterr().out
    rows = read_rows(out)
    assert [r["source"] for r in rows] == [str(src / "p0.jpg"), str(src / "p1.jpg")]
    assert len(json.loads((out / "predictions.json").read_text())) == 2
    assert sorted(p.name for p in out.glob("*.jpg")) == ["p0_annotated.jpg", "p1_annotated.jpg"]


def test_unusable_out_is_refused_before_any_work(model_file, tmp_path, capsys, monkeypatch):
    src = tmp_path / "in"
    image(src / "a.jpg")
    monkeypatch.setattr(inference.EmotionPredictor, "detect_faces", lambda *a: pytest.fail("work was done"))
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    assert predict.main([str(src), "--model", str(model_file), "--out", str(a_file)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --out {a_file} is a file, not a folder: name a folder (it is created if missing)"]
    assert predict.main([str(src), "--model", str(model_file), "--out", str(a_file / "sub")]) == 2
    assert "cannot be written to" in capsys.readouterr().err


def test_an_unwritable_out_is_refused_before_a_video_is_read(model_file, tmp_path, capsys, monkeypatch):
    """As root no folder is read-only, so the refusal is simulated where the check writes its probe file."""

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(predict.tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(predict, "_open_video", lambda path: pytest.fail("the video was opened"))
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 100)
    assert predict.main([str(clip), "--model", str(model_file), "--out", str(tmp_path / "ro")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out {tmp_path / 'ro'} cannot be written to: Permission denied"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_is_refused_before_any_work(model_file, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    image(tmp_path / "a.jpg")
    assert predict.main([str(tmp_path / "a.jpg"), "--model", str(model_file), "--out", str(ro)]) == 2
    assert "cannot be written to" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--video-every", "0", "must be at least 1"), ("--smooth", "0", "must be at least 1"),
     ("--camera", "-1", "must be at least 0"), ("--smooth", "two", "is not a whole number"),
     ("--camera-frames", "0", "must be at least 1")],
)  # fmt: skip
def test_bad_option_values_are_refused_in_one_line(option, value, message, capsys):
    with pytest.raises(SystemExit) as e:
        predict.main(["x.jpg", option, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_corrupt_or_truncated_model_is_named_as_such(model_file, tmp_path, capsys):
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(model_file.read_bytes()[:5000])
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    for bad, word in ((truncated, "truncated or corrupt"), (empty, "empty")):
        with pytest.raises(inference.ModelLoadError, match=f"not a readable Keras model.*{word}"):
            inference.load_classifier(bad)
    image(tmp_path / "a.jpg")
    assert predict.main([str(tmp_path / "a.jpg"), "--model", str(truncated), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable Keras model" in capsys.readouterr().err


def test_binary_model_names_the_classes_it_was_trained_with(tmp_path, centre):
    path = tmp_path / "happy_sad.keras"
    training.save_model_atomic(models.binary_compact_cnn(), path, class_names=("sad", "happy"))
    assert training.read_class_names(path) == ("sad", "happy")
    image(tmp_path / "in" / "a.jpg")
    predict.run([str(tmp_path / "in")], path, tmp_path / "out")
    row = read_rows(tmp_path / "out")[0]
    assert row["label"] in ("sad", "happy") and {"p_sad", "p_happy"} <= set(row)
    with pytest.raises(ValueError, match="3 class names for a model with 1 output"):
        training.save_model_atomic(models.binary_compact_cnn(), tmp_path / "x.keras", class_names=("a", "b", "c"))


def test_huge_photo_is_searched_at_a_bounded_size(tmp_path, centre):
    big = np.zeros((4000, 6000, 3), np.uint8)
    found = faces.detect_scaled(centre, big, max_side=1600)
    assert max(centre.shapes[-1][:2]) == 1600
    box = found[0].box
    assert abs(box.x - 1500) <= 4 and abs(box.w - 3000) <= 8  # back in the full image's pixels
    assert faces.DETECT_MAX_SIDE <= 2000


@pytest.mark.parametrize("kind", ["png16", "cmyk", "palette_alpha", "tiff", "one_bit"])
def test_unusual_encodings_read_as_rgb(kind, tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 255, (40, 30), dtype=np.uint8)
    if kind == "png16":
        path, im = tmp_path / "a.png", Image.fromarray(grey.astype(np.uint16) * 200 + 1000)
    elif kind == "cmyk":
        path, im = tmp_path / "a.jpg", Image.fromarray(np.repeat(grey[..., None], 3, -1)).convert("CMYK")
    elif kind == "palette_alpha":
        path, im = tmp_path / "a.png", Image.fromarray(np.repeat(grey[..., None], 4, -1), "RGBA").convert("P")
    elif kind == "tiff":
        path, im = tmp_path / "a.tiff", Image.fromarray(grey)
    else:
        path, im = tmp_path / "a.bmp", Image.fromarray(grey > 128)
    im.save(path)
    rgb = faces.read_photo(path)
    assert rgb.shape == (40, 30, 3) and rgb.dtype == np.uint8
    assert rgb.std() > 10  # the picture survived (a 16-bit PNG is scaled, not clipped to white)


def test_output_files_follow_the_umask(model_file, tmp_path, centre):
    old = os.umask(0o022)
    try:
        image(tmp_path / "in" / "a.jpg")
        predict.run([str(tmp_path / "in")], model_file, tmp_path / "out")
        for name in ("predictions.csv", "predictions.json", "a_annotated.jpg"):
            assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o644, name
        saved = tmp_path / "m.keras"
        training.save_model_atomic(models.baseline_cnn(), saved)
        assert stat.S_IMODE(saved.stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_damaged_zip_member_is_skipped_and_named(tmp_path, isolated_outputs):
    path = tmp_path / "fer.zip"
    members = {f"train/happy/Training_{i}.jpg": jpeg(i) for i in range(3)}
    members.update({f"test/sad/PublicTest_{i}.jpg": jpeg(10 + i) for i in range(2)})
    members.update({f"test/sad/PrivateTest_{i}.jpg": jpeg(20 + i) for i in range(2)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("train/happy/Training_1.jpg")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
    raw[start] ^= 0xFF  # flip a byte inside the member's data: its CRC no longer matches
    path.write_bytes(bytes(raw))
    ds = fer2013.load_fer2013(path, use_cache=False)
    reasons = dict(ds.report.skipped)
    assert list(reasons) == [f"{path}/train/happy/Training_1.jpg"]
    assert reasons[f"{path}/train/happy/Training_1.jpg"].startswith("corrupt zip member")
    assert ds.report.loaded == 6 and ds.report.seen == 7


@pytest.mark.parametrize("present", ["train", "test"])
def test_a_missing_split_is_an_error_that_says_where_it_belongs(present, tmp_path, isolated_outputs):
    root = tmp_path / "fer"
    for i in range(3):
        name = f"{'Training' if present == 'train' else 'PrivateTest'}_{i}.jpg"
        (root / present / "happy").mkdir(parents=True, exist_ok=True)
        (root / present / "happy" / name).write_bytes(jpeg(i))
    with pytest.raises(datasets.DatasetError, match="incomplete FER-2013: no ") as e:
        fer2013.load_fer2013(root, use_cache=False)
    what = str(e.value).split("incomplete FER-2013: ")[1].split(". A complete download")[0]
    if present == "test":
        assert what.startswith("no train split (train/<class>/ images); no val split (test/<class>/ images")
    else:
        assert what.startswith("no val split") and "no test split (test/<class>/ images" in what


def test_one_malformed_csv_row_is_one_skipped_row(tmp_path, isolated_outputs):
    lines = [
        "emotion,pixels,Usage",
        csv_row(0, pix(1), "Training"),
        csv_row(3, pix(2), "Training") + ",surplus",
        csv_row(4, pix(3), "PublicTest"),
        csv_row(6, pix(4), "PrivateTest"),
    ]
    path = tmp_path / "fer2013.csv"
    path.write_text("\n".join(lines) + "\n")
    ds = fer2013.load_fer2013(path, use_cache=False)
    assert dict(ds.report.skipped) == {f"{path}:row 3": "malformed row: expected 3 fields, saw 4"}
    assert ds.report.loaded == 3 and ds.report.seen == 4
    assert list(ds.sources) == [f"{path}:row 2", f"{path}:row 4", f"{path}:row 5"]
    assert list(ds.labels) == [0, 4, 6]


def test_a_folder_of_photos_is_classified_in_batched_model_calls(model_file, tmp_path, centre, monkeypatch):
    """40 photos (one unreadable): two model calls (32 and 8 photos), every readable photo's row, in order."""
    src = tmp_path / "many"
    for i in range(40):
        image(src / f"p{i:02d}.jpg", 40 + 5 * i)
    (src / "p05.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    sizes = []
    real = inference.EmotionPredictor.classify_crops

    def counting(self, crops):
        sizes.append(len(crops))
        return real(self, crops)

    monkeypatch.setattr(inference.EmotionPredictor, "classify_crops", counting)
    summary = predict.run([str(src)], model_file, tmp_path / "out")
    assert sizes == [31, 8] and summary["inputs_done"] == 39 and summary["failed"] == 1
    assert [r["source"] for r in read_rows(tmp_path / "out")] == [
        str(src / f"p{i:02d}.jpg") for i in range(40) if i != 5
    ]
