"""One training loop for every notebook: seeded, resumable, interruption-safe.

A run lives in ``outputs/models/<name>/``. After every epoch the last checkpoint (``checkpoint.keras``, with
optimizer state), the best validation weights (``best.keras``), ``state.json`` (epoch count, history, the
callbacks' counters, budget spent) and ``history.csv`` are written to a new ``epoch-NNNN/`` folder, which
becomes current in one atomic step (the ``LATEST`` pointer is replaced). A run killed at any moment resumes
from its last complete epoch; a finished run with the same configuration and the same training data is
reused instead of retrained. The final model is ``outputs/models/<name>.keras`` (best validation weights).

Early stopping and reduce-on-plateau are Keras' own callbacks, with their counters saved for resume. The
checkpointing is ours: ``ModelCheckpoint`` and ``BackupAndRestore`` write files in place (a kill mid-write
leaves a torn file) and do not carry the other callbacks' state, which a resumed run needs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from helpers import backend, config, models
from helpers.artifacts import save_json
from helpers.data import pipeline
from helpers.training import loop
from helpers.training.callbacks import (
    EpochCommit,
    ProgressFile,
    ResumableEarlyStopping,
    ResumableReduceLROnPlateau,
    TimeBudget,
    _Resumable,
)
from helpers.training.checkpoints import BEST, CHECKPOINT, STATE, committed_dir, data_fingerprint, read_state
from helpers.training.model_io import load_model, save_model_atomic


def set_seed(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and the Keras backend, with deterministic kernels so CPU runs repeat exactly."""
    backend.set_seed(seed, deterministic)


@dataclass
class TrainConfig:
    """Everything that defines a training run (hashed to decide whether a checkpoint can resume)."""

    model: str
    epochs: int = 30  # maximum epochs (with budget_minutes: an upper bound that the budget normally ends first)
    batch_size: int = 64
    lr: float = 1e-3  # peak learning rate
    schedule: str = "plateau"  # "plateau" (reduce on plateau), "cosine", "linear" (needs budget_minutes) or "constant"
    patience: int = 8  # early-stopping patience in epochs (on the monitored metric)
    monitor: str = "val_accuracy"
    augment: str = "seed"
    class_weight: bool = False
    label_smoothing: float = 0.0
    optimizer: str = "adam"  # "adam", "adamw" or "sgd" (Nesterov momentum 0.9)
    weight_decay: float = 0.0  # decoupled weight decay
    seed: int = 42
    input_size: int = 48
    channels: int = 1
    n_classes: int = len(config.CLASS_NAMES)
    model_kwargs: dict | None = None
    budget_minutes: float | None = None  # train for this much wall-clock time; the learning rate reaches 0 at the end
    warmup_fraction: float = 0.02  # with a budget: linear warm-up over this share of it
    plateau_monitor: str = "val_loss"  # schedule "plateau": the metric whose plateau cuts the learning rate
    plateau_factor: float = 0.5  # schedule "plateau": the learning rate is multiplied by this at each plateau
    plateau_patience: int = 3  # schedule "plateau": epochs without improvement before the cut

    def __post_init__(self) -> None:
        if self.optimizer not in models.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(models.OPTIMIZERS)}")
        if self.budget_minutes is not None:
            if self.budget_minutes <= 0:
                raise ValueError(f"budget_minutes must be positive, got {self.budget_minutes}")
            if self.schedule not in ("cosine", "linear"):
                raise ValueError(
                    f"a time budget anneals the learning rate to zero over the budget: schedule must be 'cosine' or "
                    f"'linear', got {self.schedule!r}"
                )
        elif self.schedule == "linear":
            raise ValueError("schedule='linear' decays over a time budget: set budget_minutes")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied and validated again (an unknown field raises ``TypeError``)."""
        return replace(self, **changes)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class TrainResult:
    model: keras.Model
    history: pd.DataFrame
    best_epoch: int
    model_path: Path
    resumed_from: int
    config: TrainConfig
    reused: bool = False  # a finished run with the same configuration and data, loaded instead of retrained

    @property
    def seconds_per_epoch(self) -> float:
        return float(self.history["seconds"].median())

    @property
    def train_minutes(self) -> float:
        """Wall-clock minutes of training (all epochs, validation included)."""
        return float(self.history["seconds"].sum() / 60) if len(self.history) else 0.0

    @property
    def images_seen(self) -> int:
        return int(self.history["images_seen"].iloc[-1]) if "images_seen" in self.history and len(self.history) else 0


def _fresh_state(cfg: TrainConfig, key: str, data: str) -> dict:
    return {
        "key": key,
        "config": cfg.__dict__,
        "data": data,
        "epoch": 0,
        "history": [],
        "best": None,
        "best_epoch": 0,
        "callbacks": {},
        "stopped_early": False,
        "budget_spent": False,
        "train_seconds": 0.0,
        "images_seen": 0,
        "complete": False,
    }


def build_compiled(cfg: TrainConfig, steps_per_epoch: int, distribution: Any = None) -> keras.Model:
    """Build and compile inside the distribution's scope (default: :func:`backend.get_distribution`)."""
    with (distribution or backend.get_distribution()).scope():
        shape = (cfg.input_size, cfg.input_size, cfg.channels)
        model = models.build(cfg.model, input_shape=shape, n_classes=cfg.n_classes, **(cfg.model_kwargs or {}))
        lr: float | keras.optimizers.schedules.LearningRateSchedule = cfg.lr
        if cfg.schedule == "cosine" and cfg.budget_minutes is None:  # with a budget, TimeBudget sets the rate
            lr = keras.optimizers.schedules.CosineDecay(
                lr, decay_steps=max(1, cfg.epochs * steps_per_epoch), alpha=0.01
            )
        return models.compile_model(model, lr, cfg.label_smoothing, cfg.optimizer, cfg.weight_decay)


def _callbacks(cfg: TrainConfig, state: dict, run_dir: Path, n_train: int, name: str, steps: int, verbose: int):
    """Budget, Keras early stopping (+ reduce-on-plateau), the epoch commit and the progress line, in that order."""
    mode = "max" if ("acc" in cfg.monitor or "auc" in cfg.monitor) else "min"
    saved = state.get("callbacks", {})
    stopper = ResumableEarlyStopping(
        monitor=cfg.monitor, mode=mode, patience=cfg.patience, saved=saved.get("ResumableEarlyStopping")
    )
    stateful: list[_Resumable] = [stopper]
    if cfg.schedule == "plateau":
        stateful.append(
            ResumableReduceLROnPlateau(
                monitor=cfg.plateau_monitor,
                mode="max" if ("acc" in cfg.plateau_monitor or "auc" in cfg.plateau_monitor) else "min",
                factor=cfg.plateau_factor,
                patience=cfg.plateau_patience,
                min_lr=1e-6,
                min_delta=1e-4,
                verbose=int(verbose > 0),
                saved=saved.get("ResumableReduceLROnPlateau"),
            )
        )
    budget = TimeBudget(cfg, state) if cfg.budget_minutes is not None else None
    out: list[keras.callbacks.Callback] = [budget] if budget is not None else []
    out += [*stateful, EpochCommit(run_dir, cfg, state, n_train, stopper, stateful)]
    if os.environ.get(config.PROGRESS_ENV):
        out.append(ProgressFile(os.environ[config.PROGRESS_ENV], name, cfg.epochs, steps, budget=budget))
    return out


def train(
    cfg: TrainConfig,
    train_xy: tuple[np.ndarray, np.ndarray],
    val_xy: tuple[np.ndarray, np.ndarray],
    *,
    name: str | None = None,
    resume: bool = True,
    verbose: int = 2,
    models_dir: Path | None = None,
    callbacks: list | None = None,
    distribution: Any = None,
    class_names: Sequence[str] | None = None,
) -> TrainResult:
    """Train ``cfg.model`` on ``train_xy``, selecting the best epoch on ``val_xy``.

    A run is keyed by its configuration and a fingerprint of its data. With ``resume`` (the default) a
    finished run with the same key is loaded instead of retrained, and an unfinished one continues from its
    last committed epoch (same optimizer state, callback counters and budget spent); otherwise training starts
    fresh. Returns the model with the best validation weights, also saved to ``outputs/models/<name>.keras``.
    Models are built, compiled and reloaded inside ``distribution`` (default :func:`backend.get_distribution`:
    data-parallel over all GPUs when there are several, on TensorFlow and JAX). ``class_names`` are stored in the
    final ``.keras`` file (default: FER-2013's seven for a 7-class model), for prediction to name the classes.
    """
    distribution = distribution or backend.get_distribution()
    if cfg.batch_size % backend.replicas(distribution):
        raise ValueError(
            f"batch_size {cfg.batch_size} must divide evenly over {backend.replicas(distribution)} devices"
        )
    name = name or cfg.model
    models_dir = Path(models_dir or config.MODELS_DIR)
    run_dir, final = models_dir / name, models_dir / f"{name}.keras"
    run_dir.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    x_tr, y_tr = train_xy
    steps = math.ceil(len(x_tr) / cfg.batch_size)
    data = data_fingerprint(x_tr, y_tr, *val_xy)
    key = f"{cfg.key()}-{data}"
    state = read_state(run_dir) if resume else None
    same = state is not None and state.get("key") == key
    if same and state.get("complete") and final.exists():
        if verbose:
            print(f"{name}: reusing the finished run (same configuration and data); delete {run_dir} to retrain")
        with distribution.scope():
            model = load_model(final)
        hist = pd.DataFrame(state["history"])
        return TrainResult(model, hist, state["best_epoch"], final, state["epoch"], cfg, reused=True)
    if same and not state.get("complete"):
        with distribution.scope():
            model = load_model(committed_dir(run_dir) / CHECKPOINT)
        if verbose:
            print(
                f"resuming {name} after epoch {state['epoch']} (optimizer step "
                f"{int(keras.ops.convert_to_numpy(model.optimizer.iterations))})"
            )
    else:
        state = _fresh_state(cfg, key, data)
        model = build_compiled(cfg, steps, distribution)
    start = state["epoch"]
    common = dict(
        n_classes=cfg.n_classes, batch_size=cfg.batch_size, seed=cfg.seed, size=cfg.input_size, channels=cfg.channels
    )
    train_ds = pipeline.make_dataset(x_tr, y_tr, training=True, augment=cfg.augment, **common)
    train_ds.set_epoch(start)  # a resumed run continues the epochs' shuffle order where it stopped
    val_ds = pipeline.make_dataset(*val_xy, training=False, **common)
    cw = pipeline.class_weights(y_tr, cfg.n_classes) if cfg.class_weight and cfg.n_classes > 1 else None
    run_callbacks = _callbacks(cfg, state, run_dir, len(x_tr), name, steps, verbose)
    if start < cfg.epochs and not state.get("stopped_early") and not state.get("budget_spent"):
        with distribution.scope():  # JAX's DataParallel shards each batch inside its scope
            loop.fit(
                model,
                train_ds,
                val_ds,
                epochs=cfg.epochs,
                initial_epoch=start,
                class_weight=cw,
                callbacks=[*run_callbacks, *(callbacks or [])],
                verbose=verbose,
                distribution=distribution,
            )
    done = committed_dir(run_dir)
    if done is not None and (done / BEST).exists():
        with distribution.scope():
            model = load_model(done / BEST)
    if class_names is None and cfg.n_classes == len(config.CLASS_NAMES):
        class_names = config.CLASS_NAMES
    save_model_atomic(model, final, class_names)
    state["complete"] = True
    if done is not None:
        save_json(done / STATE, state)
    return TrainResult(model, pd.DataFrame(state["history"]), state["best_epoch"], final, start, cfg)
