"""The multi-seed study: budgets, the arms' recipes, the table and the paired bootstrap."""

import numpy as np
import pytest

from helpers.cli import study
from helpers.workbook import profiles


def test_epochs_for_converts_minutes_at_a_rate_into_whole_epochs():
    assert study.epochs_for(60, 250, 28_709) == 31  # 900,000 images
    assert study.epochs_for(0.01, 1, 28_709) == 1  # at least one


def test_our_recipe_is_the_one_notebook_04_and_the_standard_profile_train_with():
    p = profiles.resolved("04", "standard")
    assert {k: p[k] for k in study.OUR_RECIPE} == study.OUR_RECIPE
    assert p["model_kwargs"]["efficient_cnn"] == study.ARMS["efficient_cnn"]["model_kwargs"]


def test_arm_config_budget_or_epochs():
    by_time = study.arm_config("dcnn", seed=3, minutes=60)
    assert (by_time.budget_minutes, by_time.schedule, by_time.seed, by_time.optimizer) == (60, "cosine", 3, "adamw")
    by_epochs = study.arm_config("baseline_seed_recipe", seed=0, minutes=60, epochs=12)
    assert (by_epochs.budget_minutes, by_epochs.epochs, by_epochs.patience, by_epochs.lr) == (None, 12, 12, 1e-4)
    with pytest.raises(ValueError, match="unknown arm"):
        study.arm_config("nope", 0, 60)


def _records(y, acc_a, acc_b, seeds=(0, 1, 2)):
    rng = np.random.default_rng(0)
    recs = []
    for s in seeds:
        for arm, acc in (("a", acc_a), ("b", acc_b)):
            pred = np.where(rng.random(len(y)) < acc, y, (y + 1) % 7)
            recall = {c: 0.5 for c in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")}
            recs.append(
                {
                    "arm": arm,
                    "seed": s,
                    "params": 10,
                    "val_accuracy": acc,
                    "test_accuracy": float((pred == y).mean()),
                    "test_macro_f1": 0.5,
                    "epochs_run": 5,
                    "train_minutes": 1.0,
                    "test_recall": recall,
                    "test_pred": pred.tolist(),
                }
            )
    return recs


def test_table_and_paired_bootstrap_find_a_real_difference_and_no_false_one():
    y = np.arange(2000) % 7
    recs = _records(y, 0.7, 0.6)
    tab = study.table(recs)
    assert tab.loc["a", "seeds"] == 3 and tab.loc["a", "test_accuracy"] == pytest.approx(0.7, abs=0.02)
    assert tab.loc["a", "test_accuracy_std"] > 0
    pairs = study.paired(recs, y, n_boot=300)
    row = pairs.loc["a - b"]
    assert row["seeds"] == 3 and row["accuracy_diff_low"] > 0.05
    same = study.paired(_records(y, 0.6, 0.6), y, n_boot=300).loc["a - b"]
    assert same["accuracy_diff_low"] < 0 < same["accuracy_diff_high"]


def test_finished_run_is_reused_only_for_the_same_configuration(tmp_path, monkeypatch):
    import json

    from helpers import training

    cfg = study.arm_config("dcnn", seed=0, minutes=60, epochs=11)
    (tmp_path / "dcnn-s0.json").write_text(json.dumps({"arm": "dcnn", "config_key": cfg.key(), "test_accuracy": 0.6}))

    def no_training(*args, **kwargs):
        raise RuntimeError("trained again")

    monkeypatch.setattr(training, "train", no_training)
    assert study.run_one(cfg, "dcnn", ds=_FakeData(), out_dir=tmp_path)["test_accuracy"] == 0.6
    with pytest.raises(RuntimeError, match="trained again"):
        study.run_one(cfg.replace(epochs=12), "dcnn", ds=_FakeData(), out_dir=tmp_path)


class _FakeData:
    class_names = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

    def training_targets(self, name):
        return self.split(name)[1]

    def split(self, name):
        return np.zeros((1, 48, 48), np.uint8), np.zeros(1, np.int8)
