"""One training loop for every notebook: seeded, resumable, interruption-safe.

A run lives in ``outputs/models/<name>/``: ``checkpoint.keras`` (last epoch, with optimizer state),
``best.keras`` (best validation weights), ``state.json`` (epoch count, history, early-stopping and
learning-rate state) and ``history.csv``. Each is written atomically (temp file, then rename), so a
run killed at any moment resumes from its last complete epoch. The final model is written to
``outputs/models/<name>.keras`` with the best validation weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers import config, models, pipeline
from helpers.artifacts import atomic_write_bytes, save_json


def set_seed(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow; make TF ops deterministic so CPU runs repeat exactly."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def get_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over all GPUs when there are several, else the default (CPU or one GPU)."""
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def save_model_atomic(model: keras.Model, path: str | Path) -> Path:
    """Save a ``.keras`` (or ``.h5``) file via a temp file and rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_model(path: str | Path) -> keras.Model:
    """Load a saved ``.keras`` model safely (no Lambda layers or pickled code are needed)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path} (run the training notebook first)")
    return keras.models.load_model(path, safe_mode=True)


@dataclass
class TrainConfig:
    """Everything that defines a training run (hashed to decide whether a checkpoint can resume)."""

    model: str
    epochs: int = 30  # maximum epochs (with budget_minutes: an upper bound that the budget normally ends first)
    batch_size: int = 64
    lr: float | None = None  # None: the published recipe's rate for this model
    schedule: str = "plateau"  # "plateau" (reduce on plateau), "cosine", "linear" (needs budget_minutes) or "constant"
    patience: int = 8  # early-stopping patience in epochs (on the monitored metric)
    monitor: str = "val_accuracy"
    augment: str = "seed"
    class_weight: bool = False
    label_smoothing: float = 0.0
    seed: int = 42
    input_size: int = 48
    channels: int = 1
    n_classes: int = len(config.CLASS_NAMES)
    model_kwargs: dict | None = None
    budget_minutes: float | None = None  # train for this much wall-clock time; the learning rate reaches 0 at the end
    warmup_fraction: float = 0.02  # with a budget: linear warm-up over this share of it

    def __post_init__(self) -> None:
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

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else models.BUILDERS[self.model][1]


@dataclass
class TrainResult:
    model: keras.Model
    history: pd.DataFrame
    best_epoch: int
    model_path: Path
    resumed_from: int
    config: TrainConfig

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


class RunKeeper(keras.callbacks.Callback):
    """Early stopping with best weights, reduce-on-plateau, timing, and atomic per-epoch checkpoints."""

    def __init__(self, run_dir: Path, cfg: TrainConfig, state: dict, n_train: int, verbose: int = 1):
        super().__init__()
        self.run_dir, self.cfg, self.state, self.verbose, self.n_train = run_dir, cfg, state, verbose, n_train
        self.mode_max = "acc" in cfg.monitor or "auc" in cfg.monitor
        self._t0, self._steps = 0.0, 0

    def _better(self, value: float, best: float | None) -> bool:
        return best is None or (value > best if self.mode_max else value < best)

    def on_epoch_begin(self, epoch, logs=None):
        self._t0, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        st = self.state
        seconds = time.perf_counter() - self._t0
        st["train_seconds"] += seconds
        st["images_seen"] += min(self._steps * self.cfg.batch_size, self.n_train)
        row = {
            "epoch": epoch + 1,
            **{k: float(v) for k, v in (logs or {}).items()},
            "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "seconds": seconds,
            "minutes": st["train_seconds"] / 60,
            "images_seen": st["images_seen"],
        }
        st["history"].append(row)
        value = row.get(self.cfg.monitor)
        if value is not None and self._better(value, st["best"]):
            st.update(best=value, best_epoch=epoch + 1, wait=0)
            save_model_atomic(self.model, self.run_dir / "best.keras")
        else:
            st["wait"] += 1
        if self.cfg.schedule == "plateau":
            self._plateau(row.get("val_loss"))
        if st["wait"] >= self.cfg.patience:
            self.model.stop_training = True
            st["stopped_early"] = True
        st["epoch"] = epoch + 1
        save_model_atomic(self.model, self.run_dir / "checkpoint.keras")
        save_json(self.run_dir / "state.json", st)
        atomic_write_bytes(self.run_dir / "history.csv", pd.DataFrame(st["history"]).to_csv(index=False).encode())

    def _plateau(self, val_loss: float | None, factor: float = 0.5, patience: int = 3, min_lr: float = 1e-6):
        st = self.state
        if val_loss is None:
            return
        if st["lr_best"] is None or val_loss < st["lr_best"] - 1e-4:
            st["lr_best"], st["lr_wait"] = val_loss, 0
            return
        st["lr_wait"] += 1
        if st["lr_wait"] >= patience:
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            new = max(lr * factor, min_lr)
            if new < lr:
                self.model.optimizer.learning_rate.assign(new)
                if self.verbose:
                    print(f"epoch {st['epoch'] + 1}: reducing learning rate to {new:.2e}")
            st["lr_wait"] = 0


def budget_lr(base: float, fraction: float, shape: str, warmup: float = 0.0) -> float:
    """Learning rate at ``fraction`` (0..1) of a time budget: linear warm-up, then cosine or linear decay to 0."""
    fraction = min(max(fraction, 0.0), 1.0)
    if warmup > 0 and fraction < warmup:
        return base * fraction / warmup
    t = (fraction - warmup) / max(1.0 - warmup, 1e-12)
    return base * (0.5 * (1 + math.cos(math.pi * t)) if shape == "cosine" else 1.0 - t)


class TimeBudget(keras.callbacks.Callback):
    """Sets the learning rate from elapsed training time and stops when the budget is spent.

    Elapsed time is ``state['train_seconds']`` at the start of the epoch (the completed epochs, also of a
    resumed run) plus the time since, so a run killed and resumed keeps its budget accounting; the epoch in
    progress when it was killed is redone.
    """

    def __init__(self, cfg: TrainConfig, state: dict):
        super().__init__()
        self.cfg, self.state = cfg, state
        self.budget_s = 60.0 * float(cfg.budget_minutes or 0)
        self._t0, self._done_s = time.perf_counter(), float(state["train_seconds"])

    def elapsed(self) -> float:
        return self._done_s + (time.perf_counter() - self._t0)

    def on_epoch_begin(self, epoch, logs=None):
        self._t0, self._done_s = time.perf_counter(), float(self.state["train_seconds"])

    def on_train_batch_begin(self, batch, logs=None):
        frac = self.elapsed() / self.budget_s
        lr = budget_lr(self.cfg.learning_rate(), frac, self.cfg.schedule, self.cfg.warmup_fraction)
        self.model.optimizer.learning_rate.assign(lr)

    def on_train_batch_end(self, batch, logs=None):
        if self.elapsed() >= self.budget_s:
            self.model.stop_training = True
            self.state["budget_spent"] = True


class ProgressFile(keras.callbacks.Callback):
    """Writes one line, 'name: epoch k/n step s/S  val_accuracy ...  ETA ...', to a file for a console runner."""

    def __init__(
        self,
        path: str | Path,
        name: str,
        epochs: int,
        steps: int,
        every_s: float = 2.0,
        budget: TimeBudget | None = None,
    ):
        super().__init__()
        self.path, self.name, self.epochs, self.steps, self.every_s = Path(path), name, epochs, steps, every_s
        self.budget = budget
        self._epoch, self._t_epoch, self._t_write, self._durations, self._val = 0, 0.0, 0.0, [], ""

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError):  # progress is a courtesy; never fail training over it
            atomic_write_bytes(self.path, text.encode())

    def _eta(self, step: int) -> str:
        if self.budget is not None:
            return f"  budget left {max(0.0, self.budget.budget_s - self.budget.elapsed()) / 60:.1f} min"
        per_epoch = float(np.mean(self._durations)) if self._durations else None
        if per_epoch is None and step:
            per_epoch = (time.perf_counter() - self._t_epoch) * self.steps / step
        if per_epoch is None:
            return ""
        left = per_epoch * (self.epochs - self._epoch - 1) + max(0.0, per_epoch * (1 - step / max(self.steps, 1)))
        return f"  ETA {left / 60:.1f} min (at most)"

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._t_epoch = epoch, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if now - self._t_write >= self.every_s:
            self._t_write = now
            self._write(
                f"{self.name}: epoch {self._epoch + 1}/{self.epochs} step {batch + 1}/{self.steps}{self._val}"
                f"{self._eta(batch + 1)}"
            )

    def on_epoch_end(self, epoch, logs=None):
        self._durations.append(time.perf_counter() - self._t_epoch)
        val = {k: v for k, v in (logs or {}).items() if k in ("val_accuracy", "val_auc")}
        self._val = "".join(f"  {k} {float(v):.3f}" for k, v in val.items())
        self._t_write = time.perf_counter()  # the summary line stays up for every_s before step lines resume
        self._write(f"{self.name}: epoch {epoch + 1}/{self.epochs} done{self._val}{self._eta(self.steps)}")


def _fresh_state(cfg: TrainConfig) -> dict:
    return {
        "key": cfg.key(),
        "config": cfg.__dict__,
        "epoch": 0,
        "history": [],
        "best": None,
        "best_epoch": 0,
        "wait": 0,
        "lr_best": None,
        "lr_wait": 0,
        "stopped_early": False,
        "budget_spent": False,
        "train_seconds": 0.0,
        "images_seen": 0,
        "complete": False,
    }


def build_compiled(
    cfg: TrainConfig, steps_per_epoch: int, strategy: tf.distribute.Strategy | None = None
) -> keras.Model:
    """Build and compile inside the distribution strategy's scope (default: ``get_strategy()``)."""
    with (strategy or get_strategy()).scope():
        kwargs = dict(cfg.model_kwargs or {})
        if cfg.model in ("baseline_cnn", "dcnn", "efficient_cnn"):
            kwargs.setdefault("n_classes", cfg.n_classes)
        model = models.build(cfg.model, **kwargs)
        lr: float | keras.optimizers.schedules.LearningRateSchedule = cfg.learning_rate()
        if cfg.schedule == "cosine" and cfg.budget_minutes is None:  # with a budget, TimeBudget sets the rate
            lr = keras.optimizers.schedules.CosineDecay(
                lr, decay_steps=max(1, cfg.epochs * steps_per_epoch), alpha=0.01
            )
        return models.compile_model(model, lr, cfg.label_smoothing)


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
    strategy: tf.distribute.Strategy | None = None,
) -> TrainResult:
    """Train ``cfg.model`` on ``train_xy``, selecting the best epoch on ``val_xy``.

    Resumes an unfinished run with the same configuration from its last checkpoint (same
    optimizer state and epoch count); otherwise starts fresh. Returns the model with the best
    validation weights, also saved to ``outputs/models/<name>.keras``. Models are built, compiled
    and reloaded inside ``strategy`` (default ``get_strategy()``: all GPUs mirrored when several).
    """
    strategy = strategy or get_strategy()
    name = name or cfg.model
    models_dir = Path(models_dir or config.MODELS_DIR)
    run_dir = models_dir / name
    run_dir.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    x_tr, y_tr = train_xy
    steps = math.ceil(len(x_tr) / cfg.batch_size)
    state_path = run_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else None
    can_resume = (
        resume
        and state is not None
        and state.get("key") == cfg.key()
        and not state.get("complete")
        and (run_dir / "checkpoint.keras").exists()
    )
    if can_resume:
        with strategy.scope():
            model = load_model(run_dir / "checkpoint.keras")
        if verbose:
            print(
                f"resuming {name} after epoch {state['epoch']} (optimizer step "
                f"{int(keras.ops.convert_to_numpy(model.optimizer.iterations))})"
            )
    else:
        state = _fresh_state(cfg)
        model = build_compiled(cfg, steps, strategy)
    start = state["epoch"]
    common = dict(
        n_classes=cfg.n_classes, batch_size=cfg.batch_size, seed=cfg.seed, size=cfg.input_size, channels=cfg.channels
    )
    train_ds = pipeline.make_dataset(x_tr, y_tr, training=True, augment=cfg.augment, **common)
    val_ds = pipeline.make_dataset(*val_xy, training=False, **common)
    cw = pipeline.class_weights(y_tr, cfg.n_classes) if cfg.class_weight and cfg.n_classes > 1 else None
    state.setdefault("train_seconds", 0.0)
    state.setdefault("images_seen", 0)
    keeper = RunKeeper(run_dir, cfg, state, len(x_tr), verbose)
    extra = list(callbacks or [])
    budget = TimeBudget(cfg, state) if cfg.budget_minutes is not None else None
    if budget is not None:
        extra.insert(0, budget)
    if os.environ.get(config.PROGRESS_ENV):
        extra.append(ProgressFile(os.environ[config.PROGRESS_ENV], name, cfg.epochs, steps, budget=budget))
    if start < cfg.epochs and not state.get("stopped_early") and not state.get("budget_spent"):
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.epochs,
            initial_epoch=start,
            class_weight=cw,
            callbacks=[keeper, *extra],
            verbose=verbose,
            shuffle=False,
        )
    if (run_dir / "best.keras").exists():
        with strategy.scope():
            model = load_model(run_dir / "best.keras")
    final = save_model_atomic(model, models_dir / f"{name}.keras")
    state["complete"] = True
    save_json(state_path, state)
    return TrainResult(model, pd.DataFrame(state["history"]), state["best_epoch"], final, start, cfg)


def export_h5(model: keras.Model, path: str | Path) -> Path:
    """Legacy HDF5 export for readers following the seed tutorial (``model.save('x.h5')``)."""
    return save_model_atomic(model, Path(path).with_suffix(".h5"))
