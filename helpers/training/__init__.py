"""Training: one seeded, resumable, interruption-safe loop for every notebook, and fine-tuning.

``fit`` (the configuration and :func:`train`), ``callbacks``, ``checkpoints`` (the on-disk run format),
``model_io`` (atomic saves with class names), ``loop`` (the epoch loop), ``finetune`` (a new head on a
trained model). The names below are the ones notebooks and command lines use: ``training.train(...)``.
"""

from helpers.training.callbacks import (
    EpochCommit,
    ProgressFile,
    ResumableEarlyStopping,
    ResumableReduceLROnPlateau,
    TimeBudget,
    budget_lr,
)
from helpers.training.checkpoints import (
    commit_epoch,
    committed_dir,
    data_fingerprint,
    read_state,
)
from helpers.training.fit import (
    TrainConfig,
    TrainResult,
    build_compiled,
    set_seed,
    train,
)
from helpers.training.model_io import (
    CLASS_NAMES_ENTRY,
    load_model,
    read_class_names,
    save_model_atomic,
)

__all__ = [
    "set_seed",
    "TrainConfig",
    "TrainResult",
    "build_compiled",
    "train",
    "CLASS_NAMES_ENTRY",
    "save_model_atomic",
    "read_class_names",
    "load_model",
    "data_fingerprint",
    "committed_dir",
    "read_state",
    "commit_epoch",
    "ResumableEarlyStopping",
    "ResumableReduceLROnPlateau",
    "EpochCommit",
    "budget_lr",
    "TimeBudget",
    "ProgressFile",
]
