"""The shipped model: train it, evaluate it once, write its model card and put it in the package.

    python -m helpers release [--budget-minutes 60] [--seed 42]     (make release-model)

Trains :data:`RECIPE` on the full FER-2013 Training split for a wall-clock budget, keeps the epoch with the best
PublicTest (validation) accuracy, and evaluates it once on PrivateTest (test) and on both test splits together
(``test_full``, 7,178 faces, for comparison with published numbers), without and with flip averaging. Writes
``helpers/shipped/emotion_model.keras`` with its manifest (SHA-256, class names, default test-time augmentation),
``outputs/metrics/release.json``, and ``docs/MODEL_CARD.md`` from those metrics. The run lives in
``outputs/models/release/``: an interrupted run resumes, a finished one with the same recipe and data is
evaluated again instead of retrained.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from helpers import artifacts, config, evaluation, models, training
from helpers.data import audit
from helpers.data.datasets import FerDataset
from helpers.models import shipped

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
MODEL_CARD = config.ROOT / "docs" / "MODEL_CARD.md"
TTA_MODES = ("none", "flip")


def train_release(ds: FerDataset, budget_minutes: float, seed: int, verbose: int = 2) -> training.TrainResult:
    """Train (or resume, or reuse) the release run on FER-2013 Training, selecting on PublicTest."""
    cfg = RECIPE.replace(budget_minutes=budget_minutes, seed=seed)
    return training.train(cfg, ds.split("train"), ds.split("val"), name=RUN_NAME, verbose=verbose)


def evaluate_release(model: keras.Model, ds: FerDataset, n_boot: int = 1000) -> dict:
    """Every number of the model card: per split and TTA mode, calibration, robustness, never-seen faces."""
    splits = evaluation.official_splits(ds)
    probs = {(s, t): evaluation.predict_tta(model, x, t) for s, (x, _) in splits.items() for t in TTA_MODES}
    out: dict = {"splits": {}}
    for (split, tta), p in probs.items():
        y = splits[split][1]
        m = evaluation.classification_metrics(y, p, ds.class_names)
        m["bootstrap_95"] = evaluation.ci_row(y, p, n_boot)
        out["splits"].setdefault(split, {})[tta] = m
    val = out["splits"]["val"]
    tta = "flip" if val["flip"]["accuracy"] > val["none"]["accuracy"] else "none"
    out["tta_default"] = tta
    (x_val, y_val), (x_test, y_test) = splits["val"], splits["test"]
    t = evaluation.fit_temperature(y_val, probs[("val", tta)])
    scaled = evaluation.apply_temperature(probs[("test", tta)], t)
    out["calibration"] = {
        "tta": tta,
        "temperature": t,
        "test_ece": evaluation.expected_calibration_error(y_test, probs[("test", tta)]),
        "test_ece_after_temperature": evaluation.expected_calibration_error(y_test, scaled),
    }
    out["robustness_test"] = evaluation.robustness(model, x_test, y_test).to_dict("index")
    seen = audit.seen_elsewhere(x_test, [ds.split("train")[0], x_val])
    table = evaluation.with_and_without(
        y_test, {"none": probs[("test", "none")], "flip": probs[("test", "flip")]}, seen
    )
    out["test_without_seen_pixels"] = {"seen_in_train_or_val": int(seen.sum()), **table.to_dict("index")}
    return out


def training_curve(history: pd.DataFrame) -> dict[str, list[float]]:
    """Validation accuracy against cumulative training minutes, per epoch: the manifest's record of the run."""
    return {
        "minutes": [round(float(m), 2) for m in history["minutes"]],
        "val_accuracy": [round(float(a), 4) for a in history["val_accuracy"]],
    }


#: Minutes at which the model card reads the training curve (those within the budget, and its end).
CURVE_MARKS = (5, 15, 30, 60, 90, 120, 150, 240)


def curve_rows(curve: dict[str, list[float]]) -> list[tuple[float, float, float]]:
    """(minute, validation accuracy of the last epoch by then, best so far) at each mark within the run and its end."""
    minutes, accuracy = np.asarray(curve["minutes"]), np.asarray(curve["val_accuracy"])
    if not len(minutes):
        return []
    end = float(minutes[-1])
    marks = [m for m in CURVE_MARKS if minutes[0] <= m < 0.95 * end] + [end]  # a mark next to the end: the end only
    rows = []
    for mark in marks:
        last = int(np.searchsorted(minutes, mark, side="right")) - 1
        rows.append((float(mark), float(accuracy[last]), float(accuracy[: last + 1].max())))
    return rows


def hardware() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} (no GPU)"


def ship(model: keras.Model, class_names: tuple[str, ...], manifest: dict) -> shipped.Shipped:
    """Write the model without optimizer state (inference only) and its manifest with the SHA-256; verify both."""
    bare = models.build(RECIPE.model, **(RECIPE.model_kwargs or {}))
    bare.set_weights(model.get_weights())
    training.save_model_atomic(bare, shipped.MODEL_FILE, class_names)
    body = {**manifest, "sha256": shipped.sha256_of(shipped.MODEL_FILE), "class_names": list(class_names)}
    artifacts.save_json(shipped.MANIFEST_FILE, body)
    return shipped.verify()


def release(budget_minutes: float = 60, seed: int = 42, n_boot: int = 1000, verbose: int = 2) -> dict:
    """Train, evaluate, ship and document; returns the metrics written to ``outputs/metrics/release.json``."""
    from helpers.data.fer2013 import load_fer2013

    ds = load_fer2013(allow_synthetic=False)  # the shipped model is trained on the real FER-2013 only
    result = train_release(ds, budget_minutes, seed, verbose)
    metrics = evaluate_release(result.model, ds, n_boot)
    command = f"make release-model RELEASE_ARGS='--budget-minutes {budget_minutes:g} --seed {seed}'"
    metrics["training"] = {
        "command": command,
        "recipe": {k: v for k, v in result.config.__dict__.items() if v is not None},
        "seed": seed,
        "budget_minutes": budget_minutes,
        "train_minutes": result.train_minutes,
        "epochs_run": int(len(result.history)),
        "best_epoch": int(result.best_epoch),
        "images_seen": result.images_seen,
        "params": int(result.model.count_params()),
        "hardware": hardware(),
        "train_faces_per_class": dict(zip(ds.class_names, np.bincount(ds.split("train")[1], minlength=7).tolist())),
        "history": result.history.to_dict("list"),
    }
    path = artifacts.save_metrics("release", metrics, params={"budget_minutes": budget_minutes}, seed=seed,
                                  dataset=ds.identity())  # fmt: skip
    provenance = artifacts.provenance(seed=seed)
    manifest = {
        "tta": metrics["tta_default"],
        "source": {"command": command, "git_sha": provenance["git_sha"], "created": provenance["created"],
                   "keras_backend": provenance["keras_backend"], "metrics": "outputs/metrics/release.json"},
        "test_accuracy": metrics["splits"]["test"]["none"]["accuracy"],
        "test_accuracy_flip": metrics["splits"]["test"]["flip"]["accuracy"],
        "curve": training_curve(result.history),
    }  # fmt: skip
    done = ship(result.model, ds.class_names, manifest)
    MODEL_CARD.parent.mkdir(exist_ok=True)
    artifacts.atomic_write_bytes(MODEL_CARD, model_card(metrics, done, provenance).encode())
    print(f"shipped {done.path} ({done.path.stat().st_size:,} bytes, sha256 {done.sha256[:16]}...)")
    print(f"metrics {path}; model card {MODEL_CARD}")
    return metrics


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _ci(m: dict) -> str:
    b = m["bootstrap_95"]
    return f"{_pct(b['accuracy'])} [{_pct(b['acc_low'])}, {_pct(b['acc_high'])}]"


def _f1(m: dict) -> str:
    b = m["bootstrap_95"]
    return f"{b['macro_f1']:.3f} [{b['f1_low']:.3f}, {b['f1_high']:.3f}]"


def model_card(metrics: dict, done: shipped.Shipped, provenance: dict) -> str:
    """The model card, every number read from ``metrics`` (``outputs/metrics/release.json``)."""
    tr, sp = metrics["training"], metrics["splits"]
    rows = [
        f"| {label} | {sp[s]['none']['n']:,} | {_ci(sp[s]['none'])} | {_f1(sp[s]['none'])} | {_ci(sp[s]['flip'])} "
        f"| {_f1(sp[s]['flip'])} |"
        for s, label in (("val", "PublicTest (validation, used to pick the epoch)"), ("test", "PrivateTest (test)"),
                         ("test_full", "PublicTest + PrivateTest (7,178, as published)"))
    ]  # fmt: skip
    per_class = [
        f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
        for c, v in sp["test"]["none"]["per_class"].items()
    ]
    rob = [
        f"| {name} | {_pct(r['accuracy'])} | {100 * r['accuracy_change']:+.1f} |"
        for name, r in metrics["robustness_test"].items()
    ]
    cal, unseen = metrics["calibration"], metrics["test_without_seen_pixels"]
    tta_sentence = (
        "**flip averaging** by default: it scores higher on validation."
        if metrics["tta_default"] == "flip"
        else "**no test-time augmentation** by default: flip averaging does not score higher on validation."
    )
    points = curve_rows(shipped.training_curve(done))
    curve = [f"| {minute:.0f} | {_pct(at)} | {_pct(best)} |" for minute, at, best in points]
    disgust = tr["train_faces_per_class"]["disgust"]
    recipe = ", ".join(f"{k}={v}" for k, v in tr["recipe"].items() if k not in ("epochs", "patience", "monitor"))
    return f"""# Model card: the shipped FER-2013 emotion model

`helpers/shipped/emotion_model.keras` ({done.path.stat().st_size:,} bytes, SHA-256 `{done.sha256}`): the model that
`python -m helpers predict` and `helpers.inference.predict_emotion` use when no model is named. Every number here
was written by `{tr["command"]}` (the metrics are in `outputs/metrics/release.json`); regenerate the file, the card
and the numbers with that command.

## What it is
- **Task**: 7 emotions (angry, disgust, fear, happy, sad, surprise, neutral) from a 48x48 grey face crop.
- **Architecture**: `efficient_cnn` with widths 48-96-192 ({tr["params"]:,} parameters): a strided stem, three
  residual stages, global average pooling (`helpers/models/registry.py`).
- **Training data**: FER-2013 Training (28,709 faces); the epoch is chosen on PublicTest (validation).
- **Recipe**: {recipe}.
- **Budget**: {tr["budget_minutes"]:g} minutes of wall-clock training on {tr["hardware"]}: {tr["epochs_run"]} epochs
  ({tr["images_seen"]:,} images), best validation epoch {tr["best_epoch"]}; {tr["train_minutes"]:.1f} minutes spent.
- **Provenance**: commit `{provenance["git_sha"]}`, seed {tr["seed"]}, Keras backend
  {provenance["keras_backend"]}, created {provenance["created"]}.
- **Loads under** TensorFlow, JAX and PyTorch (tested: same probabilities on real faces).

## Accuracy (PrivateTest reported once; 95% bootstrap intervals)
Flip averaging = the mean of the face's and its mirror image's probabilities. Prediction uses {tta_sentence}

| split | faces | accuracy | macro-F1 | accuracy, flip | macro-F1, flip |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Per class on PrivateTest, without test-time augmentation:

| class | precision | recall | F1 | faces |
|---|---|---|---|---|
{chr(10).join(per_class)}

- **Calibration** ({cal["tta"]}): expected calibration error on PrivateTest {cal["test_ece"]:.3f}, and
  {cal["test_ece_after_temperature"]:.3f} after temperature scaling fitted on PublicTest (T = {cal["temperature"]:.2f}).
- **Never-seen faces**: {unseen["seen_in_train_or_val"]} PrivateTest images have an exact pixel copy in Training or
  PublicTest; without them the accuracy is {_pct(unseen["none"]["accuracy_without"])}
  ({_pct(unseen["flip"]["accuracy_without"])} with flip averaging) on {int(unseen["none"]["n_without"]):,} faces.

## Accuracy against training minutes (PublicTest, validation)
The run's own curve, also in the manifest (`curve`) and drawn by notebook 04 beside the models it trains. The
learning rate follows a cosine over the whole budget, so a point part-way through is not what a run with that
shorter budget would reach (its rate would already be annealed).

| minutes trained | validation accuracy, epoch then | best so far |
|---|---|---|
{chr(10).join(curve)}

## Robustness (PrivateTest, accuracy under each change, points against unchanged faces)

| change | accuracy | change |
|---|---|---|
{chr(10).join(rob)}

## Intended use and limits
- For research, teaching and demos of facial expression recognition: what a face's expression looks like to a model
  trained on FER-2013. **Not for decisions about people** (hiring, policing, health, security, education): an
  expression is not an inner emotional state, and the model is often wrong.
- It sees posed and spontaneous 48x48 grey web images, mostly frontal, cropped by a face detector. Accuracy falls on
  faces unlike those: strong side views, occlusion, very low light, children, and under the perturbations above.
- FER-2013's labels are noisy (one annotator per face; human accuracy on it is about 65%, and FER+ relabelled many
  faces); disgust has {disgust} training faces, so its recall is the least reliable. The dataset's demographic
  make-up was never documented and is skewed; accuracy per group has not been measured and may differ.

## Data and licence
FER-2013 (Goodfellow et al., "Challenges in Representation Learning", ICML 2013 workshop), distributed through
Kaggle for research; its images come from web searches and carry no separate licence. The model weights are
released with this project (MIT licence) and inherit the dataset's research-use terms.
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers release", description=__doc__.splitlines()[0])
    ap.add_argument("--budget-minutes", type=float, default=60, help="wall-clock training budget")
    ap.add_argument("--seed", type=int, default=42, help="random seed")
    ap.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the intervals")
    args = ap.parse_args(argv)
    release(args.budget_minutes, args.seed, args.n_boot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
