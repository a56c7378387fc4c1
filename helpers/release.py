"""The shipped model: train it, evaluate it once, write its model card and put it in the package.

    python -m helpers.release [--budget-minutes 60] [--seed 42]     (make release-model)

Trains :data:`RECIPE` on the full FER-2013 Training split for a wall-clock budget, keeps the epoch with the best
PublicTest (validation) accuracy, and evaluates it once on PrivateTest (test) and on both test splits together
(``test_full``, 7,178 faces, for comparison with published numbers), without and with flip averaging. Writes
``helpers/assets/emotion_model.keras`` with its SHA-256 beside it, ``outputs/metrics/release.json``, and
``docs/MODEL_CARD.md`` from those metrics. The run lives in ``outputs/models/release/``: an interrupted run
resumes, a finished one with the same recipe and data is evaluated again instead of retrained.
"""

from __future__ import annotations

import argparse
import sys

from helpers import training

#: The shipped model's recipe: our efficient_cnn (48-96-192) with AdamW, label smoothing and strong augmentation
#: (light augmentation plus random erasing), the learning rate annealed to zero over the budget.
RECIPE = training.TrainConfig(
    model="efficient_cnn",
    model_kwargs={"widths": [48, 96, 192]},
    optimizer="adamw",
    lr=2e-3,
    weight_decay=0.05,
    label_smoothing=0.1,
    augment="strong",
    schedule="cosine",
    budget_minutes=60,
    epochs=500,
    patience=500,
    batch_size=64,
    seed=42,
)

RUN_NAME = "release"


def train_release(budget_minutes: float = 60, seed: int = 42, verbose: int = 2) -> training.TrainResult:
    """Train (or resume, or reuse) the release run on FER-2013 Training, selecting on PublicTest."""
    from helpers.loaders import load_fer2013

    ds = load_fer2013(allow_synthetic=False)  # the shipped model is trained on the real FER-2013 only
    cfg = RECIPE.replace(budget_minutes=budget_minutes, seed=seed)
    return training.train(cfg, ds.split("train"), ds.split("val"), name=RUN_NAME, verbose=verbose)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.release", description=__doc__.splitlines()[0])
    ap.add_argument("--budget-minutes", type=float, default=60, help="wall-clock training budget")
    ap.add_argument("--seed", type=int, default=42, help="random seed")
    args = ap.parse_args(argv)
    train_release(args.budget_minutes, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
