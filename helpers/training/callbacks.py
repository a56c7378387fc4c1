"""Training callbacks: resumable early stopping and plateau, the epoch commit, the time budget, progress."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from helpers.artifacts import atomic_write_bytes
from helpers.training.checkpoints import commit_epoch

if TYPE_CHECKING:
    from helpers.training.fit import TrainConfig


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
