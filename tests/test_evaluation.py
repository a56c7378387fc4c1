"""Evaluation pieces that must hold for every architecture: Grad-CAM on the right layer, from logits."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import evaluation, models, training
from helpers.data.synthetic import make_synthetic_dataset

from .conftest import TESTED_MODELS


@pytest.fixture(scope="module")
def faces():
    return make_synthetic_dataset(seed=5, sizes={"train": 0, "val": 0, "test": 14}).images[:6]


@pytest.mark.parametrize("name", TESTED_MODELS)
def test_grad_cam_uses_last_trunk_feature_map(name, trained_models, faces):
    model = training.load_model(trained_models[name])
    layer = evaluation.feature_layer(model)
    assert layer.name == models.FEATURES
    shape = tuple(layer.output.shape[1:3])
    assert min(shape) > 1, "a spatial map, not a pooled vector"
    # never a 1x1 projection shortcut or a pooling/dropout layer
    assert isinstance(layer, keras.layers.Activation) or (
        isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)
    ), layer
    cams = evaluation.grad_cam(model, faces, upsample=False)
    assert cams.shape == (len(faces), *shape)
    assert np.isfinite(cams).all() and cams.min() >= 0 and cams.max() <= 1 + 1e-6
    assert any(np.ptp(c) > 1e-3 for c in cams), "heatmaps are constant"
    full = evaluation.grad_cam(model, faces)
    assert full.shape == (len(faces), 48, 48)


def test_grad_cam_gradients_come_from_logits(trained_models, faces):
    """A saturated softmax has near-zero probability gradients; logit gradients still give a heatmap."""
    model = training.load_model(trained_models["baseline_cnn"])
    head = model.layers[-1]
    head.kernel.assign(head.kernel * 1e4)  # push the softmax into saturation
    probs = evaluation.predict_proba(model, faces)
    assert probs.max(1).min() > 0.999
    cams = evaluation.grad_cam(model, faces, upsample=False)
    assert all(np.ptp(c) > 1e-3 for c in cams)


def test_feature_layer_by_role_for_foreign_models():
    """Without a layer named 'features', the last spatial non-linearity is used, not a later 1x1 conv."""
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inp)
    x = keras.layers.ReLU(name="act")(x)
    x = keras.layers.Conv2D(4, 1, name="shortcut")(x)  # linear 1x1 conv after it
    x = keras.layers.GlobalAveragePooling2D()(x)
    m = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(x))
    assert evaluation.feature_layer(m).name == "act"


def _noisy_predictions(y: np.ndarray, p_correct: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(len(y)) < p_correct, y, rng.integers(0, 7, len(y)))


def test_classification_metrics_per_class_match_counts():
    y = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 2, 2])
    probs = np.eye(3)[pred] * 0.9 + 0.1 / 3
    m = evaluation.classification_metrics(y, probs, ("a", "b", "c"))
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "average_precision": 2 / 3, "roc_auc": 0.75}
    )
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3) and m["per_class"]["b"]["recall"] == 2 / 3
    f1s = [m["per_class"][c]["f1"] for c in "abc"]
    assert m["macro_f1"] == pytest.approx(np.mean(f1s))
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]


def test_bootstrap_interval_brackets_the_point_and_is_seeded():
    y = np.random.default_rng(0).integers(0, 7, 800)
    pred = _noisy_predictions(y, 0.6, 1)
    ci = evaluation.bootstrap_ci(y, pred, n_boot=200, seed=3)
    for point, low, high in ci.values():
        assert low < point < high and high - low < 0.15
    assert ci == evaluation.bootstrap_ci(y, pred, n_boot=200, seed=3)


def test_paired_bootstrap_tells_a_better_model_from_a_tie():
    y = np.random.default_rng(0).integers(0, 7, 1000)
    good, bad = _noisy_predictions(y, 0.7, 1), _noisy_predictions(y, 0.5, 2)
    better = evaluation.paired_bootstrap(y, good, bad, n_boot=300)
    assert better["accuracy_diff_low"] > 0 and better["p_accuracy_not_better"] < 0.01
    assert better["macro_f1_diff"] > 0.1
    worse = evaluation.paired_bootstrap(y, bad, good, n_boot=300)
    assert worse["accuracy_diff_high"] < 0 and worse["p_accuracy_not_better"] > 0.99
    tie = evaluation.paired_bootstrap(y, good, good, n_boot=300)
    assert tie["accuracy_diff"] == 0 and tie["p_accuracy_not_better"] == 1.0


def _probs(y: np.ndarray, right: np.ndarray, p_right: float, p_wrong: float) -> np.ndarray:
    """3-class probabilities: ``p_right`` on the true class where ``right``, else ``p_wrong`` on class y+1."""
    probs = np.full((len(y), 3), 0.0)
    wrong = (y + 1) % 3
    idx = np.arange(len(y))
    probs[idx, y] = np.where(right, p_right, 1 - p_wrong - 0.15)
    probs[idx, wrong] = np.where(right, (1 - p_right) / 2, p_wrong)
    probs[idx, (y + 2) % 3] = 1 - probs[idx, y] - probs[idx, wrong]
    return probs


def test_ensemble_selection_keeps_complementary_models_and_leaves_a_weak_one_out():
    y = np.arange(100) % 3
    i = np.arange(100)
    probs = {
        "a": _probs(y, i < 80, 0.9, 0.45),  # 80%, unsure when wrong
        "b": _probs(y, i >= 20, 0.9, 0.45),  # 80%, wrong on other images
        "weak": _probs(y, i < 30, 0.9, 0.85),  # 30%, confidently wrong
    }
    chosen = evaluation.select_ensemble(probs, y)
    assert chosen == ["a", "b"]

    def acc(names: list[str]) -> float:
        return float((evaluation.ensemble_proba([probs[n] for n in names]).argmax(1) == y).mean())

    assert acc(chosen) == 1.0 and acc(["a", "b", "weak"]) < acc(chosen)
    assert evaluation.select_ensemble({"a": probs["a"], "weak": probs["weak"]}, y) == ["a"]


def test_every_perturbation_keeps_shape_and_changes_the_images():
    x = make_synthetic_dataset(seed=0, sizes={"train": 0, "val": 0, "test": 8}).images
    for name, fn in evaluation.PERTURBATIONS.items():
        out = fn(x)
        assert out.shape == x.shape and out.dtype == np.uint8, name
        assert (name == "none") == np.array_equal(out, x), name


def test_robustness_table_is_relative_to_the_unperturbed_images():
    x = make_synthetic_dataset(seed=0, sizes={"train": 0, "val": 0, "test": 40}).images
    y = np.arange(len(x)) % 7
    df = evaluation.robustness(models.baseline_cnn(), x, y)
    assert list(df.index) == list(evaluation.PERTURBATIONS) and df.loc["none", "accuracy_change"] == 0
    assert df["accuracy"].between(0, 1).all()


def test_accuracy_with_and_without_images_seen_elsewhere():
    from helpers.data import audit

    x = make_synthetic_dataset(seed=0, sizes={"train": 0, "val": 0, "test": 6}).images[:6]
    train = np.concatenate([x[:2], np.zeros((3, 48, 48), np.uint8)])
    seen = audit.seen_elsewhere(x, [train])
    assert seen.tolist() == [True, True, False, False, False, False]
    y = np.array([0, 1, 2, 3, 4, 5])
    probs = {"m": np.eye(7)[[0, 1, 0, 0, 4, 5]]}  # right on both seen images, 2 of 4 on the others
    row = evaluation.with_and_without(y, probs, seen).loc["m"]
    assert row["accuracy_all"] == pytest.approx(4 / 6) and row["accuracy_without"] == pytest.approx(2 / 4)
    assert row["n_without"] == 4


def test_comparison_table_keeps_test_numbers_out_of_the_validation_view():
    from helpers.workbook import experiments

    summary = {"model": "m", "params": 10, "train_minutes": 1.0, "images_seen": 64, "val_accuracy": 0.5}
    summary |= {"test_accuracy": 0.4, "test_macro_f1": 0.3, "test_full_accuracy": 0.45}
    records = {"m": {"summary": summary}}
    val = experiments.comparison_table(records, rows="val")
    test = experiments.comparison_table(records, rows="test")
    assert not any(i.startswith("test") for i in val.index) and "val_accuracy" in val.index
    assert {"test_accuracy", "test_macro_f1", "test_full_accuracy", "params", "train_minutes"} <= set(test.index)
    assert "val_accuracy" not in test.index
    assert len(experiments.comparison_table(records)) == len(summary) - 1
    with pytest.raises(ValueError, match="rows"):
        experiments.comparison_table(records, rows="everything")


def test_curve_summary_names_the_best_epoch_and_when_it_came():
    import pandas as pd

    from helpers.workbook import experiments

    curves = {
        "a": pd.DataFrame({"minutes": [1.0, 2.0, 3.0], "val_accuracy": [0.3, 0.5, 0.4]}),
        "b": pd.DataFrame({"minutes": [10.0, 100.0], "val_accuracy": [0.6, 0.7]}),
        "empty": pd.DataFrame({"minutes": [], "val_accuracy": []}),
    }
    table = experiments.curve_summary(curves)
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "best val accuracy"] == 0.5 and table.loc["a", "reached at minute"] == 2.0
    assert table.loc["a", "minutes trained"] == 3.0 and table.loc["b", "reached at minute"] == 100.0


def test_accuracy_against_minutes_uses_a_log_axis_only_for_budgets_far_apart():
    import pandas as pd

    from helpers.evaluation import plots

    short = pd.DataFrame({"minutes": [0.5, 1.5], "val_accuracy": [0.3, 0.4]})
    long = pd.DataFrame({"minutes": [30.0, 150.0], "val_accuracy": [0.6, 0.7]})
    assert plots.accuracy_vs_minutes({"s": short, "l": short * [3, 1]}).axes[0].get_xscale() == "linear"
    assert plots.accuracy_vs_minutes({"s": short, "l": long}).axes[0].get_xscale() == "log"
