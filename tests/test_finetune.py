"""Fine-tuning a saved emotion model on a user's own class folders: frozen trunk first, names carried to predict."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import config, inference, models, training
from helpers.cli import finetune as finetune_command
from helpers.cli import predict
from helpers.data import synthetic
from helpers.inference import faces, photos
from helpers.training import finetune


class FaceUnlessBlank:
    """A stand-in detector: one face in the middle of any image that is not a single flat colour."""

    name = "stand-in"

    def detect(self, image: np.ndarray) -> list[faces.Detection]:
        if image.std() < 1:
            return []
        h, w = image.shape[:2]
        return [faces.Detection(faces.Box(w // 8, h // 8, 3 * w // 4, 3 * h // 4), 0.99)]


@pytest.fixture
def user_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(faces, "get_detector", lambda name=None: FaceUnlessBlank())
    root = tmp_path / "mine"
    ds = synthetic.make_synthetic_dataset(seed=5, sizes={"train": 80, "val": 0, "test": 0})
    for name, cls in (("calm", 6), ("stressed", 0)):
        for i, face in enumerate(ds.images[ds.labels == cls][:10]):
            photos.save_rgb(
                root / name / f"{i}.png", np.repeat(np.kron(face, np.ones((2, 2), np.uint8))[..., None], 3, -1)
            )
    photos.save_rgb(root / "calm" / "blank.png", np.full((96, 96, 3), 90, np.uint8))
    return root


@pytest.fixture
def small_base(tmp_path):
    path = tmp_path / "base.keras"
    training.save_model_atomic(models.efficient_cnn(widths=(8, 16, 32)), path)
    return path


def test_finetune_command_trains_on_my_classes_and_predict_names_them(user_folders, small_base, tmp_path, capsys):
    out = tmp_path / "calm_stressed.keras"
    done = finetune_command.run(user_folders, out, base=small_base, budget_minutes=0.05)
    printed = capsys.readouterr()
    assert f"skipped {user_folders / 'calm' / 'blank.png'}: no face found" in printed.err
    assert "20 face(s) in 2 classes (calm 10, stressed 10); 1 skipped" in printed.out
    assert done.class_names == ("calm", "stressed") and training.read_class_names(out) == ("calm", "stressed")
    assert 0 <= done.test["accuracy"] <= 1 and set(done.test["per_class"]) == {"calm", "stressed"}
    predictor = inference.EmotionPredictor(out)
    assert predictor.class_names == ("calm", "stressed") and predictor.model.output_shape == (None, 2)
    assert predict.main([str(user_folders / "calm" / "0.png"), "--model", str(out), "--out", str(tmp_path / "p")]) == 0
    assert "p_calm,p_stressed" in (tmp_path / "p" / "predictions.csv").read_text().splitlines()[0]


def test_the_head_phase_leaves_the_trunk_untouched(small_base, tmp_path):
    ds = synthetic.make_synthetic_dataset(seed=1, sizes={"train": 64, "val": 32, "test": 0})
    (x, y), (xv, yv) = ds.split("train"), ds.split("val")
    y, yv = (y > 3).astype(int), (yv > 3).astype(int)
    head, whole = finetune.finetune(
        (x, y),
        (xv, yv),
        ("low", "high"),
        base=small_base,
        budget_minutes=0.05,
        models_dir=tmp_path,
        verbose=0,
        augment="strong",
    )
    assert head.config.augment == whole.config.augment == "strong"  # both phases take the chosen preset
    base = training.load_model(small_base)
    first_conv = next(ly for ly in base.layers if ly.__class__.__name__ == "Conv2D").name
    np.testing.assert_array_equal(
        head.model.get_layer(first_conv).get_weights()[0], base.get_layer(first_conv).get_weights()[0]
    )
    assert not np.array_equal(
        whole.model.get_layer(first_conv).get_weights()[0], base.get_layer(first_conv).get_weights()[0]
    )
    assert all(layer.trainable for layer in whole.model.layers)


def test_a_head_for_classes_the_base_knows_starts_from_the_base_answer(tmp_path):
    """Happy vs sad from a 7-class model: the new head is the old one restricted, so at step 0 it predicts what the
    base predicts between those two classes (softmax renormalised; a sigmoid unit: their logit difference)."""
    base, unnamed = tmp_path / "seven.keras", tmp_path / "unnamed.keras"
    training.save_model_atomic(models.efficient_cnn(widths=(8, 16, 32)), base, config.CLASS_NAMES)
    training.save_model_atomic(models.efficient_cnn(widths=(8, 16, 32)), unnamed)
    assert finetune.shared_outputs(base, ("sad", "happy")) == [4, 3]
    assert finetune.shared_outputs(base, ("calm", "happy")) is None
    assert finetune.shared_outputs(unnamed, ("sad", "happy")) is None  # no stored names: no guessing
    x = synthetic.make_synthetic_dataset(seed=2, sizes={"train": 16, "val": 0, "test": 0}).images[..., None]
    p = np.asarray(training.load_model(base).predict(x, verbose=0))
    pair = p[:, [4, 3]] / p[:, [4, 3]].sum(axis=1, keepdims=True)
    two = models.pretrained(base=str(base), n_classes=2, head_from=[4, 3])
    np.testing.assert_allclose(np.asarray(two.predict(x, verbose=0)), pair, atol=1e-5)
    one = models.pretrained(base=str(base), n_classes=1, head_from=[4, 3])
    np.testing.assert_allclose(np.asarray(one.predict(x, verbose=0))[:, 0], pair[:, 1], atol=1e-5)
    with pytest.raises(ValueError, match="does not name 2"):
        models.pretrained(base=str(base), n_classes=2, head_from=[4, 9])


def test_a_changed_base_is_refused(small_base, tmp_path):
    sha = "0" * 64
    with pytest.raises(ValueError, match="changed since"):
        models.pretrained(base=str(small_base), base_sha256=sha)


def test_learning_curve_trains_each_approach_on_seeded_samples_and_says_what_reaches_90(small_base, tmp_path):
    """transfer.learning_curve: one run per (size, seed, approach) on the same test faces; the summary reads it back."""
    import pandas as pd

    from helpers.workbook import transfer

    rng = np.random.default_rng(0)
    faces_ = rng.integers(0, 255, (60, 48, 48), dtype=np.uint8)
    labels = np.arange(60) % 2
    split = {"train": slice(0, 40), "val": slice(40, 50), "test": slice(50, 60)}
    xy = {k: (faces_[s], labels[s]) for k, s in split.items()}
    calls = []

    def approach(train_xy, val_xy, minutes, seed, name):
        calls.append((len(train_xy[1]), seed, name))
        return transfer.train_finetuned(train_xy, val_xy, minutes, seed, name, small_base, tmp_path / "models")

    curve = transfer.learning_curve(xy["train"], xy["val"], xy["test"], {"ft": approach}, [10, None], [0, 1], 0.01)
    assert [(n, s) for n, s, _ in calls] == [(10, 0), (10, 1), (40, 0), (40, 1)]
    assert len(curve) == 4 and curve["accuracy"].between(0, 1).all()
    fake = pd.DataFrame({"approach": ["a", "a", "b", "b"], "faces": [10, 40, 10, 40], "seed": 0,
                         "accuracy": [0.8, 0.95, 0.5, 0.6]})  # fmt: skip
    assert transfer.faces_needed(fake, 0.9) == {"a": 40, "b": None}
    assert transfer.curve_summary(fake).loc[40, ("a", "mean")] == 0.95
