"""Fine-tuned against from scratch on a binary task: one run per approach, and the learning curve against the number
of labelled training faces (notebook 05).

Each run gets the same wall-clock budget and the same validation faces (which pick the epoch and the decision
threshold); the test faces are scored once. ``finetuned`` starts from a trained emotion model (default: the shipped
FER-2013 model) through :func:`helpers.training.finetune.finetune`; ``compact`` is our compact model from random
weights.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import evaluation, training
from helpers.data.datasets import stratified_sample
from helpers.training import finetune

#: A binary task's class names, negative first (the positive class's score is the model's second probability).
HAPPY_SAD = ("sad", "happy")


def positive_scores(model, images: np.ndarray) -> np.ndarray:
    """The positive class's probability, for a one-sigmoid or a two-softmax model alike."""
    return evaluation.predict_proba(model, images)[:, 1]


def train_finetuned(
    train_xy, val_xy, minutes: float, seed: int, name: str, base: str | Path | None = None, models_dir=None
) -> training.TrainResult:
    """The base model fine-tuned on ``train_xy`` within ``minutes`` (head, then every layer); the second phase."""
    phases = finetune.finetune(train_xy, val_xy, HAPPY_SAD, base=base, budget_minutes=minutes, seed=seed, name=name,
                               models_dir=models_dir, verbose=0)  # fmt: skip
    return finetune.combined(*phases)


def approaches(compact_cfg: training.TrainConfig, base: str | Path | None = None) -> dict[str, Callable]:
    """The learning curve's two approaches: ``base`` fine-tuned, and ``compact_cfg`` from random weights."""

    def finetuned(train_xy, val_xy, minutes: float, seed: int, name: str) -> training.TrainResult:
        return train_finetuned(train_xy, val_xy, minutes, seed, name, base)

    def compact(train_xy, val_xy, minutes: float, seed: int, name: str) -> training.TrainResult:
        cfg = compact_cfg.replace(budget_minutes=minutes, seed=seed, epochs=10_000, patience=10_000)
        return training.train(cfg, train_xy, val_xy, name=name, class_names=HAPPY_SAD, verbose=0)

    return {"finetuned": finetuned, "compact": compact}


def evaluate_binary(model, val_xy, test_xy) -> dict:
    """Test metrics at the threshold that maximises F1 on validation."""
    threshold = evaluation.choose_threshold(val_xy[1], positive_scores(model, val_xy[0]))
    return evaluation.binary_metrics(test_xy[1], positive_scores(model, test_xy[0]), threshold)


def learning_curve(
    train_xy: tuple[np.ndarray, np.ndarray],
    val_xy: tuple[np.ndarray, np.ndarray],
    test_xy: tuple[np.ndarray, np.ndarray],
    approaches: dict[str, Callable[..., training.TrainResult]],
    sizes: list[int | None],
    seeds: list[int],
    minutes: float,
) -> pd.DataFrame:
    """Test accuracy and ROC AUC of each approach trained on ``size`` labelled faces (stratified, seeded; None: all).

    ``approaches`` maps a name to ``train(train_xy, val_xy, minutes, seed, name) -> TrainResult``. Runs are saved
    under ``outputs/models/curve/`` and resume or are reused like every training run.
    """
    rows = []
    for size in sizes:
        for seed in seeds:
            pick = stratified_sample(train_xy[1], size or len(train_xy[1]), seed)
            subset = (train_xy[0][pick], train_xy[1][pick])
            for approach, train in approaches.items():
                run = train(subset, val_xy, minutes, seed, f"curve/{approach}_n{len(pick)}_s{seed}")
                m = evaluate_binary(run.model, val_xy, test_xy)
                rows.append({"approach": approach, "faces": len(pick), "seed": seed, "accuracy": m["accuracy"],
                             "roc_auc": m["roc_auc"], "minutes": run.train_minutes})  # fmt: skip
    return pd.DataFrame(rows)


def curve_summary(curve: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each approach's test accuracy, per number of faces."""
    table = curve.groupby(["faces", "approach"])["accuracy"].agg(["mean", "std", "count"]).unstack("approach")
    return table.swaplevel(axis=1).sort_index(axis=1)


def faces_needed(curve: pd.DataFrame, target: float = 0.9) -> dict[str, int | None]:
    """The fewest labelled faces at which each approach's mean test accuracy reaches ``target`` (None: never)."""
    means = curve.groupby(["approach", "faces"])["accuracy"].mean()
    return {a: next((int(n) for n, v in means[a].items() if v >= target), None) for a in means.index.levels[0]}
