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

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from helpers import backend, config, loop, models, pipeline
from helpers.artifacts import atomic_write_bytes, ordinary_mode, save_json


def set_seed(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and the Keras backend, with deterministic kernels so CPU runs repeat exactly."""
    backend.set_seed(seed, deterministic)


#: Entry of a ``.keras`` archive (a zip) that holds the model's class names; Keras ignores it when loading.
CLASS_NAMES_ENTRY = "class_names.json"


def save_model_atomic(model: keras.Model, path: str | Path, class_names: Sequence[str] | None = None) -> Path:
    """Save a ``.keras`` (or ``.h5``) file via a temp file and rename: never half-written.

    ``class_names`` (a ``.keras`` file only) are stored inside the archive, in output order; a binary model's
    are (negative, positive). :func:`read_class_names` reads them back.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        model.save(tmp)
        if class_names is not None:
            n_out = model.output_shape[-1]
            if len(class_names) != max(n_out, 2):
                raise ValueError(f"{len(class_names)} class names for a model with {n_out} output(s)")
            with zipfile.ZipFile(tmp, "a") as archive:
                archive.writestr(CLASS_NAMES_ENTRY, json.dumps(list(class_names)))
        ordinary_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_class_names(path: str | Path) -> tuple[str, ...] | None:
    """The class names stored in a ``.keras`` file by :func:`save_model_atomic`, or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            if CLASS_NAMES_ENTRY in archive.namelist():
                return tuple(json.loads(archive.read(CLASS_NAMES_ENTRY)))
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    return None


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


STATE, CHECKPOINT, BEST, HISTORY, LATEST = "state.json", "checkpoint.keras", "best.keras", "history.csv", "LATEST"


def data_fingerprint(*arrays: np.ndarray) -> str:
    """Short hash of arrays' shapes, dtypes and bytes (the training and validation data of a run)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()[:12]


def committed_dir(run_dir: Path) -> Path | None:
    """The run's current ``epoch-NNNN/`` folder (named by ``LATEST``), or None before the first epoch."""
    with contextlib.suppress(OSError):
        d = Path(run_dir) / (Path(run_dir) / LATEST).read_text().strip()
        if (d / STATE).exists():
            return d
    return None


def read_state(run_dir: Path) -> dict | None:
    """The run's committed ``state.json``, or None."""
    d = committed_dir(run_dir)
    return json.loads((d / STATE).read_text()) if d else None


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def commit_epoch(run_dir: Path, epoch: int, model: keras.Model, state: dict, improved: bool) -> Path:
    """Write checkpoint, best model, state and history to ``epoch-NNNN/`` and make it current atomically."""
    name = f"epoch-{epoch:04d}"
    previous = committed_dir(run_dir)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=f".{name}."))
    try:
        model.save(tmp / CHECKPOINT)
        if improved:
            _link_or_copy(tmp / CHECKPOINT, tmp / BEST)
        elif previous is not None and (previous / BEST).exists():
            _link_or_copy(previous / BEST, tmp / BEST)
        (tmp / STATE).write_text(json.dumps(state, indent=1, default=float))
        pd.DataFrame(state["history"]).to_csv(tmp / HISTORY, index=False)
        final = run_dir / name
        if final.exists():  # left by a run killed between the rename and the pointer update; redone now
            shutil.rmtree(final)
        os.rename(tmp, final)
        atomic_write_bytes(run_dir / LATEST, name.encode())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in run_dir.glob("epoch-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


class _Resumable:
    """Mixin for a Keras callback whose counters (``KEYS``) are saved in ``state.json`` and restored on resume."""

    KEYS: tuple[str, ...] = ()

    def __init__(self, *args, saved: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._saved = dict(saved or {})

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # Keras resets the counters here ...
        for k, v in self._saved.items():  # ... so a resumed run puts its own back
            setattr(self, k, v)

    def counters(self) -> dict:
        """The counters as JSON values: counts stay ints, the best value (a NumPy scalar or None) a float."""
        values = {k: getattr(self, k) for k in self.KEYS}
        return {k: v if v is None or isinstance(v, int) else float(v) for k, v in values.items()}


class ResumableEarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping`` whose wait count and best value survive a resume."""

    KEYS = ("wait", "best", "best_epoch", "stopped_epoch")


class ResumableReduceLROnPlateau(_Resumable, keras.callbacks.ReduceLROnPlateau):
    """``keras.callbacks.ReduceLROnPlateau`` whose wait and cooldown counts survive a resume."""

    KEYS = ("wait", "best", "cooldown_counter")


class EpochCommit(keras.callbacks.Callback):
    """Times each epoch, appends its history row and commits the run (:func:`commit_epoch`).

    Runs after the early-stopping callback (``stopper``) and reads from it whether this epoch was the best.
    """

    def __init__(
        self,
        run_dir: Path,
        cfg: TrainConfig,
        state: dict,
        n_train: int,
        stopper: ResumableEarlyStopping,
        stateful: list[_Resumable],
    ):
        super().__init__()
        self.run_dir, self.cfg, self.state, self.n_train = run_dir, cfg, state, n_train
        self.stopper, self.stateful = stopper, stateful
        self._t0, self._steps = 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        st = self.state
        seconds = time.perf_counter() - self._t0
        st["train_seconds"] += seconds
        st["images_seen"] += min(self._steps * self.cfg.batch_size, self.n_train)
        st["history"].append(
            {
                "epoch": epoch + 1,
                **{k: float(v) for k, v in (logs or {}).items()},
                "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                "seconds": seconds,
                "minutes": st["train_seconds"] / 60,
                "images_seen": st["images_seen"],
            }
        )
        improved = self.stopper.best_epoch == epoch and self.stopper.wait == 0
        if improved:
            st.update(best=float(self.stopper.best), best_epoch=epoch + 1)
        st["stopped_early"] = bool(self.stopper.stopped_epoch)
        st["callbacks"] = {type(cb).__name__: cb.counters() for cb in self.stateful}
        st["epoch"] = epoch + 1
        commit_epoch(self.run_dir, epoch + 1, self.model, st, improved)


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
        lr = budget_lr(self.cfg.lr, frac, self.cfg.schedule, self.cfg.warmup_fraction)
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
                monitor="val_loss",
                factor=0.5,
                patience=3,
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
