"""predict CLI and predict_emotion: multi-face photos, and every error path with a clear message."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import faces, inference, models, photos, predict, synthetic, training


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "model.keras"
    training.save_model_atomic(models.baseline_cnn(), path)
    return path


def write_bad_items(folder):
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    photos.save_rgb(folder / "blank.png", np.full((200, 200, 3), 128, np.uint8))  # no face


def test_error_paths_counted_and_run_continues(model_file, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    write_bad_items(d)
    out = tmp_path / "out"
    code = predict.main([str(d), str(tmp_path / "missing.jpg"), "--model", str(model_file), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.jpg: not an image or corrupt" in err
    assert "empty.png: empty file" in err
    assert "notes.txt: unsupported format '.txt'" in err
    assert "missing.jpg: no such file or folder" in err
    assert "blank.png: no face found" in err
    summary = predict.run([str(d)], model_file, out)
    assert summary["images"] == 1 and summary["no_face"] == 1 and summary["failed"] == 3
    assert (out / "predictions.csv").exists() and json.loads((out / "predictions.json").read_text()) == []


def test_missing_and_incompatible_model(tmp_path, capsys):
    img = tmp_path / "a.png"
    photos.save_rgb(img, np.zeros((60, 60, 3), np.uint8))
    assert predict.main([str(img), "--model", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "o")]) == 1
    assert "model file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    assert predict.main([str(img), "--model", str(bad), "--out", str(tmp_path / "o")]) == 1
    assert "cannot load model" in capsys.readouterr().err
    vec = tmp_path / "vec.keras"
    import keras

    training.save_model_atomic(keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)]), vec)
    with pytest.raises(inference.ModelLoadError, match="incompatible model"):
        inference.load_classifier(vec)


def test_classify_crops_fast_path_matches_predict(model_file):
    pred = inference.EmotionPredictor(model_file)
    crops = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    p = pred.classify_crops(crops)
    ref = pred.model.predict(crops[..., None].astype("float32"), verbose=0)
    np.testing.assert_allclose(p, ref, atol=1e-5)
    assert p.shape == (3, 7) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_crop_face_pads_at_border():
    img = np.random.default_rng(0).integers(0, 256, (100, 100, 3), dtype=np.uint8)
    crop = faces.crop_face(img, faces.Box(-10, 80, 40, 40))
    assert crop.shape == (48, 48)


@pytest.mark.realdata
def test_multi_face_photos_real(real_path, model_file, tmp_path):
    """Group photos tiled from real FER-2013 test faces, plus no-face and broken files: exact counts."""
    from helpers.data import load_fer2013

    ds = load_fer2013(real_path)
    x, _ = ds.split("test")
    rng = np.random.default_rng(0)
    d = tmp_path / "photos"
    expected = 0
    for k in range(6):
        group = list(x[rng.choice(len(x), 3, replace=False)])
        photos.save_rgb(d / f"group_{k}.jpg", photos.tile_faces(group, rng))
        expected += len(faces.detect_faces(faces.read_photo(d / f"group_{k}.jpg")))  # as stored on disk
    write_bad_items(d)
    out = tmp_path / "out"
    summary = predict.run([str(d)], model_file, out)
    assert expected >= 6  # the detector finds faces in these photos
    assert summary["images"] == 7 and summary["faces"] == expected and summary["failed"] == 3
    df = pd.read_csv(out / "predictions.csv")
    from helpers.config import CLASS_NAMES

    assert len(df) == expected and set(df["label"]) <= set(CLASS_NAMES)
    assert len(list(out.glob("*_annotated.jpg"))) == 7
    res = inference.predict_emotion(d / "group_0.jpg", model_file)
    assert all(0 <= r["confidence"] <= 1 and len(r["probabilities"]) == 7 for r in res)


def test_video_frames_are_classified(model_file, tmp_path):
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (96, 64))
    assert writer.isOpened()
    for i in range(12):
        writer.write(np.full((64, 96, 3), 40 + 10 * i, np.uint8))
    writer.release()
    summary = predict.run([str(path)], model_file, tmp_path / "out", video_every=5)
    assert summary["images"] == 3 and summary["failed"] == 0  # frames 0, 5 and 10
    assert summary["no_face"] == 3
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert predict.run([str(broken)], model_file, tmp_path / "out2")["failed"] == 1


@pytest.mark.parametrize("name", sorted(models.BUILDERS))
def test_cli_loads_every_saved_model(name, trained_models, tmp_path, capsys):
    """Each architecture, trained one step and saved by the project's own code, serves the predict CLI."""
    folder = tmp_path / "in"
    folder.mkdir()
    faces_ = synthetic.make_synthetic_dataset(seed=3, sizes={"train": 0, "val": 0, "test": 8}).images
    photos.save_rgb(folder / "group.jpg", photos.tile_faces(list(faces_[:3]), np.random.default_rng(0)))
    out = tmp_path / "out"
    code = predict.main([str(folder), "--model", str(trained_models[name]), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = pd.read_csv(out / "predictions.csv")
    assert len(rows) >= 1 and "summary: 1 image(s)" in captured.out
    probs = rows.filter(like="p_").to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-3)
