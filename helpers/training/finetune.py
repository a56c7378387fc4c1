"""Fine-tuning: a trained emotion model with a new head for other classes, trained head first, then whole.

The head trains with the trunk frozen (30% of the budget), then the whole network at a tenth of the learning
rate (70%), each phase through :func:`helpers.training.train` (budget, checkpoints, resume). When every new class
is one the base already predicts (happy and sad for a FER-2013 model), the new head starts as the base's head
restricted to those classes, so training starts from the base's own answer rather than from chance. The command that
runs it on folders of photos is :mod:`helpers.cli.finetune`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import training
from helpers.models import shipped
from helpers.training.model_io import read_class_names

HEAD_SHARE = 0.3  # share of the budget spent on the new head with the trunk frozen


def finetune(
    train_xy: tuple[np.ndarray, np.ndarray],
    val_xy: tuple[np.ndarray, np.ndarray],
    class_names: tuple[str, ...],
    *,
    base: str | Path | None = None,
    budget_minutes: float = 10.0,
    lr: float = 2e-3,
    seed: int = 42,
    name: str = "finetuned",
    models_dir: Path | None = None,
    verbose: int = 2,
    reuse_head: bool = True,
    augment: str = "light",
) -> tuple[training.TrainResult, training.TrainResult]:
    """Two phases on 48x48 grey faces: a new head on the frozen trunk of ``base``, then every layer at ``lr / 10``.

    ``base`` None: the shipped model. ``reuse_head``: when the base predicts every one of ``class_names`` (by
    name, :func:`shared_outputs`), the new head starts as the base's head restricted to them. ``augment``: the
    augmentation preset of both phases. Returns (head phase,
    whole-network phase); the second is the model to use, also saved as ``<models_dir>/<name>.keras`` with
    ``class_names``.
    """
    base_path = Path(base) if base is not None else shipped.verify().path
    common = dict(
        model="pretrained", n_classes=len(class_names), optimizer="adamw", weight_decay=0.05, label_smoothing=0.1,
        augment=augment, schedule="cosine", epochs=10_000, patience=10_000, seed=seed,
    )  # fmt: skip
    kwargs = {"base": str(base_path), "base_sha256": shipped.sha256_of(base_path)}
    head_from = shared_outputs(base_path, class_names) if reuse_head else None
    if head_from is not None:
        kwargs["head_from"] = head_from
    head_cfg = training.TrainConfig(
        **common, lr=lr, budget_minutes=budget_minutes * HEAD_SHARE, model_kwargs={**kwargs, "train_trunk": False}
    )
    head = training.train(
        head_cfg, train_xy, val_xy, name=f"{name}_head", models_dir=models_dir, verbose=verbose, class_names=class_names
    )
    whole_kwargs = {"base": str(head.model_path), "base_sha256": shipped.sha256_of(head.model_path), "new_head": False}
    whole_cfg = training.TrainConfig(
        **common, lr=lr / 10, budget_minutes=budget_minutes * (1 - HEAD_SHARE), model_kwargs=whole_kwargs
    )
    whole = training.train(
        whole_cfg, train_xy, val_xy, name=name, models_dir=models_dir, verbose=verbose, class_names=class_names
    )
    return head, whole


def shared_outputs(base: Path, class_names: tuple[str, ...]) -> list[int] | None:
    """The base model's output index of each of ``class_names``, or None unless the base knows them all."""
    known = read_class_names(base)
    if known is None or not set(class_names) <= set(known):
        return None
    return [known.index(name) for name in class_names]


def combined(head: training.TrainResult, whole: training.TrainResult) -> training.TrainResult:
    """Both phases as one run: the whole-network model, with the head phase's epochs first in its history."""
    later = whole.history.assign(phase="whole", images_seen=whole.history["images_seen"] + head.images_seen)
    for column, offset in (("epoch", len(head.history)), ("minutes", head.train_minutes)):
        if column in later:
            later[column] = later[column] + offset
    history = pd.concat([head.history.assign(phase="head"), later], ignore_index=True)
    return dataclasses.replace(whole, history=history, best_epoch=len(head.history) + whole.best_epoch)
