"""The shipped model: verified before use, used by predict with no training, one clear error when damaged."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from helpers import evaluation, inference, training
from helpers.cli import predict, release
from helpers.data import synthetic
from helpers.inference import photos
from helpers.models import shipped
from helpers.workbook import experiments, profiles


def copy_shipped(tmp_path):
    model, manifest = tmp_path / "emotion_model.keras", tmp_path / "emotion_model.json"
    shutil.copy(shipped.MODEL_FILE, model)
    shutil.copy(shipped.MANIFEST_FILE, manifest)
    return model, manifest


def test_the_shipped_model_matches_its_manifest():
    info = shipped.verify()
    assert info.class_names == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert info.tta in ("none", "flip")
    assert training.read_class_names(info.path) == info.class_names
    assert info.path.stat().st_size < 8_000_000  # a few MB: weights only, no optimizer state
    model = inference.load_classifier(info.path)
    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)
    assert getattr(model, "optimizer", None) is None


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered", "no_manifest"])
def test_a_damaged_shipped_model_gets_one_clear_error(damage, tmp_path):
    model, manifest = copy_shipped(tmp_path)
    if damage == "missing":
        model.unlink()
    elif damage == "truncated":
        model.write_bytes(model.read_bytes()[:-1000])
    elif damage == "altered":
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0x01
        model.write_bytes(bytes(data))
    else:
        manifest.unlink()
    with pytest.raises(shipped.ShippedModelError) as e:
        shipped.verify(model, manifest)
    message = str(e.value)
    assert "make release-model" in message and str(model if damage != "no_manifest" else manifest) in message
    assert len(message.splitlines()) == 1


def test_predict_uses_the_shipped_model_with_no_training(tmp_path, capsys):
    faces_ = synthetic.make_synthetic_dataset(seed=3, sizes={"train": 0, "val": 0, "test": 3}).images
    photo = tmp_path / "group.jpg"
    photos.save_rgb(photo, photos.tile_faces(list(faces_), np.random.default_rng(0)))
    code = predict.main([str(photo), "--out", str(tmp_path / "out"), "--detector", "haar"])
    assert code == 0 and "summary: 1 image(s)" in capsys.readouterr().out
    predictor = inference.EmotionPredictor(detector="haar")
    assert predictor.source.startswith("shipped model") and predictor.tta == shipped.verify().tta
    crops = np.stack([faces_[0], faces_[1]])
    probs = predictor.classify_crops(crops)
    assert probs.shape == (2, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    if predictor.tta == "flip":  # the default averages each face with its mirror image
        plain = evaluation.predict_proba(predictor.model, crops)
        mirror = evaluation.predict_proba(predictor.model, crops[:, :, ::-1])
        np.testing.assert_allclose(probs, (plain + mirror) / 2, atol=1e-5)
    assert isinstance(inference.predict_emotion(photo), list)


def test_the_manifest_records_the_shipped_models_training_curve():
    curve = shipped.training_curve(shipped.verify())
    minutes, accuracy = curve["minutes"], curve["val_accuracy"]
    assert len(minutes) == len(accuracy) >= 10  # one point per epoch of a budgeted run of an hour or more
    assert all(later > earlier for earlier, later in zip(minutes, minutes[1:])) and minutes[-1] >= 55
    assert 0.6 < max(accuracy) <= 1


def test_notebook_04_draws_the_shipped_curve_only_beside_real_fer2013():
    import pandas as pd

    from helpers.workbook import experiments

    run = {"efficient_cnn": pd.DataFrame({"minutes": [1.0, 2.0], "val_accuracy": [0.4, 0.5]})}
    sample = synthetic.make_synthetic_dataset(seed=0, sizes={"train": 7, "val": 7, "test": 7})
    assert experiments.with_shipped_curve(run, sample) is run  # not the data the shipped model was selected on
    real = dataclasses.replace(sample, synthetic=False)
    curves = experiments.with_shipped_curve(run, real)
    (label,) = set(curves) - set(run)
    assert label.startswith("shipped model") and curves[label]["val_accuracy"].max() > 0.6
    ferplus = dataclasses.replace(real, name="FER+")
    assert experiments.with_shipped_curve(run, ferplus) is run


def test_the_model_card_describes_the_shipped_file():
    card = release.MODEL_CARD.read_text()
    info = shipped.verify()
    assert info.sha256 in card and f"{info.path.stat().st_size:,} bytes" in card
    assert info.manifest["source"]["command"] in card
    test_accuracy = f"{100 * info.manifest['test_accuracy']:.1f}%"
    assert test_accuracy in card.split("PrivateTest (test)")[1].splitlines()[0]


def test_the_standard_profile_trains_our_model_with_the_shipped_models_60_minute_recipe():
    ours = experiments.train_config(profiles.resolved("04", "standard"), "efficient_cnn")  # as notebook 04 does
    assert ours == release.RECIPE


def test_ship_writes_a_verifiable_model_and_manifest(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "MODEL_FILE", tmp_path / "m.keras")
    monkeypatch.setattr(shipped, "MANIFEST_FILE", tmp_path / "m.json")
    model = training.build_compiled(release.RECIPE, steps_per_epoch=1)
    history = pd.DataFrame({"minutes": [1.234, 2.5], "val_accuracy": [0.51234, 0.6]})
    manifest = {"tta": "flip", "source": {"command": "x"}, "curve": release.training_curve(history)}
    info = release.ship(model, ("a", "b", "c", "d", "e", "f", "g"), manifest)
    assert shipped.training_curve(info) == {"minutes": [1.23, 2.5], "val_accuracy": [0.5123, 0.6]}
    assert info.tta == "flip" and info.class_names == tuple("abcdefg")
    assert json.loads((tmp_path / "m.json").read_text())["sha256"] == shipped.sha256_of(tmp_path / "m.keras")
    x = np.random.default_rng(0).integers(0, 255, (4, 48, 48), dtype=np.uint8)
    reloaded = inference.load_classifier(tmp_path / "m.keras")
    np.testing.assert_allclose(evaluation.predict_proba(reloaded, x), evaluation.predict_proba(model, x), atol=1e-5)


def test_the_model_card_reads_the_curve_at_marks_within_the_run():
    curve = {"minutes": [2.0, 6.0, 14.0, 31.0, 44.0], "val_accuracy": [0.3, 0.5, 0.45, 0.6, 0.58]}
    rows = release.curve_rows(curve)
    assert [minute for minute, _, _ in rows] == [5, 15, 30, 44.0]
    assert rows[0] == (5, 0.3, 0.3)  # by minute 5 only the first epoch had finished
    assert rows[1] == (15, 0.45, 0.5) and rows[-1] == (44.0, 0.58, 0.6)
    assert release.curve_rows({"minutes": [], "val_accuracy": []}) == []
    assert [minute for minute, _, _ in release.curve_rows({"minutes": [30.0, 60.03], "val_accuracy": [0.5, 0.6]})] == [
        30,
        60.03,
    ]  # a mark next to the end is not read twice
