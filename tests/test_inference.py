"""predict CLI and predict_emotion: multi-face photos, and every error path with a clear message."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import inference, models, training
from helpers.cli import predict
from helpers.data import synthetic
from helpers.inference import faces, photos

from .conftest import TESTED_MODELS


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
    captured = capsys.readouterr()
    err = captured.err
    assert code == 1
    assert "broken.jpg: not an image or corrupt" in err
    assert "empty.png: empty file" in err
    assert "missing.jpg: no such file or folder" in err
    assert "blank.png: no face found" in err
    assert "1 skipped {'not a photo or video': 1}" in captured.out  # notes.txt: counted, not failed
    summary = predict.run([str(d)], model_file, out)
    assert summary["images"] == 1 and summary["no_face"] == 1 and summary["failed"] == 2 and summary["skipped"] == 1
    named = predict.run([str(d / "notes.txt")], model_file, tmp_path / "out2")  # named on purpose: a failure
    assert named["failed"] == 1 and named["exit_code"] == 1
    assert (out / "predictions.csv").exists() and json.loads((out / "predictions.json").read_text()) == []


def test_missing_and_incompatible_model(tmp_path, capsys):
    img = tmp_path / "a.png"
    photos.save_rgb(img, np.zeros((60, 60, 3), np.uint8))
    assert predict.main([str(img), "--model", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "o")]) == 2
    assert "model file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    assert predict.main([str(img), "--model", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable Keras model" in capsys.readouterr().err
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


def _detector_params():
    return [
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                name not in faces.available_detectors(), reason=f"the {name} package is not installed"
            ),
        )
        for name in faces.DETECTORS
    ]


@pytest.mark.realdata
@pytest.mark.parametrize("detector", _detector_params())
def test_multi_face_photos_real(detector, real_path, model_file, tmp_path):
    """Group photos tiled from real FER-2013 test faces, plus no-face and broken files: exact counts."""
    from helpers.data.fer2013 import load_fer2013

    ds = load_fer2013(real_path)
    x, _ = ds.split("test")
    rng = np.random.default_rng(0)
    d = tmp_path / "photos"
    expected = 0
    for k in range(6):
        group = list(x[rng.choice(len(x), 3, replace=False)])
        photos.save_rgb(d / f"group_{k}.jpg", photos.tile_faces(group, rng))
        expected += len(faces.detect_faces(faces.read_photo(d / f"group_{k}.jpg"), detector))  # as stored on disk
    write_bad_items(d)
    out = tmp_path / "out"
    summary = predict.run([str(d)], model_file, out, detector=detector)
    assert expected >= 6  # the detector finds faces in these photos
    assert summary["images"] == 7 and summary["faces"] == expected and summary["failed"] == 2  # broken, empty
    assert summary["skipped_reasons"] == {"not a photo or video": 1}  # notes.txt
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
    video = cv2.VideoCapture(str(tmp_path / "out" / "clip_annotated.mp4"))  # every frame, at the source's rate
    assert video.isOpened() and int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert video.get(cv2.CAP_PROP_FPS) == pytest.approx(5)
    video.release()
    assert not list((tmp_path / "out").glob(".*tmp*"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert predict.run([str(broken)], model_file, tmp_path / "out2")["failed"] == 1


@pytest.mark.parametrize("name", TESTED_MODELS)
def test_cli_loads_every_saved_model(name, trained_models, tmp_path, capsys):
    """Each architecture, trained one step and saved by the project's own code, serves the predict CLI."""
    folder = tmp_path / "in"
    folder.mkdir()
    faces_ = synthetic.make_synthetic_dataset(seed=3, sizes={"train": 0, "val": 0, "test": 8}).images
    photos.save_rgb(folder / "group.jpg", photos.tile_faces(list(faces_[:3]), np.random.default_rng(0)))
    out = tmp_path / "out"
    args = [str(folder), "--model", str(trained_models[name]), "--out", str(out), "--detector", "haar"]
    code = predict.main(args)  # Haar finds these procedural faces; MTCNN, trained on real faces, may not
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = pd.read_csv(out / "predictions.csv")
    assert len(rows) >= 1 and "summary: 1 image(s)" in captured.out
    probs = rows.filter(like="p_").to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-3)


@pytest.mark.parametrize("detector", _detector_params())
def test_each_detector_serves_the_cli(detector, model_file, tmp_path, capsys):
    """Multi-face photos, a face-free photo and broken files, with each detector: faces found, others named."""
    faces_ = synthetic.make_synthetic_dataset(seed=3, sizes={"train": 0, "val": 0, "test": 8}).images
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        photos.save_rgb(d / f"group_{k}.jpg", photos.tile_faces(list(faces_[3 * k : 3 * k + 3]), rng))
    write_bad_items(d)
    out = tmp_path / "out"
    code = predict.main([str(d), "--model", str(model_file), "--out", str(out), "--detector", detector])
    err = capsys.readouterr().err
    assert code == 1 and "broken.jpg: not an image or corrupt" in err and "blank.png: no face found" in err
    assert list(pd.read_csv(out / "predictions.csv").columns[:10]) == predict.COLUMNS
    rows = json.loads((out / "predictions.json").read_text())  # procedural faces: a detector may find none
    assert {r["source"].split("/")[-1] for r in rows} <= {"group_0.jpg", "group_1.jpg"}
    assert all(r["detector_confidence"] >= (0.9 if detector == "mtcnn" else 0) for r in rows)


def test_unknown_detector_is_refused(model_file, tmp_path):
    with pytest.raises(SystemExit):
        predict.main([str(tmp_path), "--model", str(model_file), "--detector", "yolo"])
    with pytest.raises(ValueError, match="unknown face detector"):
        faces.get_detector("yolo")


def test_alignment_levels_the_eyes():
    img = np.zeros((120, 120), np.uint8)
    img[40:44, 30:50] = 255  # a bar standing in for the eye line
    level = faces.Detection(faces.Box(20, 20, 80, 80), 0.99, (35.0, 42.0), (85.0, 42.0))
    assert faces.eye_angle(level) == 0
    np.testing.assert_array_equal(faces.crop_face(img, level, align=True), faces.crop_face(img, level))
    tilted = faces.Detection(faces.Box(20, 20, 80, 80), 0.99, (40.0, 40.0), (80.0, 80.0))
    assert faces.eye_angle(tilted) == pytest.approx(45.0)
    import cv2

    rot = cv2.getRotationMatrix2D((60, 60), -45, 1.0)  # tilt a level bar by 45 degrees, then align it back
    tilted_img = cv2.warpAffine(img, rot, (120, 120))
    back = faces.crop_face(tilted_img, tilted, align=True)
    rows_with_bar = np.flatnonzero(back.max(1) > 100)
    assert rows_with_bar.max() - rows_with_bar.min() <= 6  # the bar is horizontal again


def test_track_smoother_averages_a_face_over_frames():
    def pred(x, p_happy):
        probs = {"happy": p_happy, "sad": 1 - p_happy}
        return inference.FacePrediction(faces.Box(x, 10, 50, 50), "happy" if p_happy > 0.5 else "sad", 0.0, probs)

    s = inference.TrackSmoother(window=3)
    s.update([pred(10, 0.9)])
    s.update([pred(12, 0.8)])
    out = s.update([pred(14, 0.1), pred(200, 0.2)])  # the first face moved a little; a second one appeared
    assert out[0].probabilities["happy"] == pytest.approx(0.6) and out[0].label == "happy"
    assert out[1].probabilities["happy"] == pytest.approx(0.2) and out[1].label == "sad"
    assert s.update([pred(16, 0.1)])[0].probabilities["happy"] == pytest.approx((0.8 + 0.1 + 0.1) / 3)
    assert inference.TrackSmoother(window=1).update([pred(10, 0.3)])[0].probabilities["happy"] == 0.3


@pytest.mark.parametrize("shape", [(60, 40, 3), (3000, 4000, 3)])
def test_annotation_fits_any_image_size(shape, model_file):
    img = np.full(shape, 90, np.uint8)
    box = faces.Box(0, 0, shape[1] // 3, shape[0] // 3)
    pred = inference.FacePrediction(box, "surprise", 0.97, {"surprise": 0.97})
    out = inference.annotate(img, [pred])
    assert out.shape == img.shape and (out != img).any()
    changed = np.argwhere((out != img).any(-1))
    assert changed[:, 0].max() < shape[0] and changed[:, 1].max() < shape[1]


def test_failed_video_leaves_no_output(tmp_path):
    out = predict._VideoOut(tmp_path / "clip_annotated.mp4", 5.0)
    out.write(np.zeros((32, 48, 3), np.uint8))
    out.close(keep=False)
    assert list(tmp_path.iterdir()) == []


def test_an_eight_class_ferplus_model_names_contempt(tmp_path):
    """A FER+ model predicts with FER+'s eight names: stored in its file, or by its output count when not stored."""
    from helpers import config

    model = models.efficient_cnn(n_classes=8, widths=[8, 16, 32])
    stored, bare = tmp_path / "ferplus.keras", tmp_path / "bare.keras"
    training.save_model_atomic(model, stored, config.FERPLUS_CLASS_NAMES)
    training.save_model_atomic(model, bare)
    for path in (stored, bare):
        predictor = inference.EmotionPredictor(path, tta="flip")
        assert predictor.class_names == config.FERPLUS_CLASS_NAMES
        assert predictor.classify_crops(np.zeros((2, 48, 48), np.uint8)).shape == (2, 8)
    probs = np.eye(8, dtype=np.float32)[7]
    pred = inference.FacePrediction.from_probs((0, 0, 48, 48), config.FERPLUS_CLASS_NAMES, probs, 1.0)
    assert pred.label == "contempt" and pred.probabilities["contempt"] == 1.0
