"""Side-by-side study: several training recipes, several seeds each, the same training budget, paired bootstraps.

Each arm (an architecture with a recipe) trains once per seed on the prepared data (notebook 02), selects its epoch
on PublicTest and is evaluated on PrivateTest. Two kinds of budget:

- ``--minutes M``: a wall-clock budget on the machine that runs the study (the learning rate anneals to zero at M).
- ``--minutes M --rates FILE``: the budget of *another* machine. ``FILE`` (JSON, arm -> images per second, as
  measured there by budget-trained runs, validation included) turns M minutes into a number of epochs, and each arm
  trains for those epochs with the same cosine schedule, on whatever hardware runs the study. This replays a CPU
  budget on a GPU: same images seen, same schedule, different speed.

Writes ``outputs/study/<arm>-s<seed>.json`` (summary, history, test predictions) per run, atomically, and skips
finished runs, so an interrupted study resumes; then ``outputs/metrics/study.json`` with the table (mean +- std over
seeds) and a paired bootstrap of every arm against every other. Run: ``python -m helpers study --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import artifacts, config, evaluation, training
from helpers.data import datasets, ferplus
from helpers.models import shipped
from helpers.training import finetune
from helpers.workbook import experiments, profiles

OUR_RECIPE = profiles.our_recipe()
#: The seed tutorial's recipe.
SEED_RECIPE = {"optimizer": "adam", "lr": 1e-4, "weight_decay": 0.0, "label_smoothing": 0.0, "augment": "seed"}

#: Arm name -> TrainConfig fields.
ARMS: dict[str, dict] = {
    "baseline_seed_recipe": {"model": "baseline_cnn", **SEED_RECIPE},
    "baseline_our_recipe": {"model": "baseline_cnn", **OUR_RECIPE},
    "dcnn": {"model": "dcnn", **OUR_RECIPE},
    "efficient_cnn": {"model": "efficient_cnn", "model_kwargs": profiles.our_model_kwargs(), **OUR_RECIPE},
}

#: Transfer: the shipped FER-2013 model fine-tuned (helpers.training.finetune: a new head, then every layer) within
#: the budget.
TRANSFER_ARM = "shipped_finetuned"

STUDY_DIR = config.OUTPUTS_DIR / "study"


def epochs_for(minutes: float, images_per_second: float, n_train: int) -> int:
    """Whole epochs that ``minutes`` of training at ``images_per_second`` buys (at least one)."""
    return max(1, round(minutes * 60 * images_per_second / n_train))


def arm_config(
    arm: str, seed: int, minutes: float, epochs: int | None = None, batch_size: int = 64
) -> training.TrainConfig:
    """The arm's TrainConfig: a ``minutes`` wall-clock budget, or (with ``epochs``) that many epochs, cosine to zero."""
    if arm == TRANSFER_ARM:  # keys the run; finetune.finetune sets each phase's recipe
        base = {"base": "shipped", "base_sha256": shipped.sha256_of(shipped.MODEL_FILE)}
        fields = {"schedule": "cosine", "epochs": 10_000, "patience": 10_000, "batch_size": batch_size, "seed": seed}
        return training.TrainConfig(model="pretrained", model_kwargs=base, budget_minutes=minutes, **fields)
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose from {', '.join(ARMS)}, {TRANSFER_ARM}")
    common = {"schedule": "cosine", "seed": seed, "batch_size": batch_size, **ARMS[arm]}
    if epochs is None:
        return training.TrainConfig(epochs=10_000, patience=10_000, budget_minutes=minutes, **common)
    return training.TrainConfig(epochs=epochs, patience=epochs, **common)


def _train(cfg: training.TrainConfig, ds: datasets.FerDataset, name: str, models_dir: Path) -> training.TrainResult:
    """Train one run: ``cfg`` from scratch, or (model "pretrained") fine-tune the shipped model within its budget."""
    train_xy = ds.split("train")[0], ds.training_targets("train")
    if cfg.model != "pretrained":
        return training.train(cfg, train_xy, ds.split("val"), name=name, models_dir=models_dir,
                              class_names=ds.class_names)  # fmt: skip
    phases = finetune.finetune(train_xy, ds.split("val"), ds.class_names, budget_minutes=cfg.budget_minutes,
                               seed=cfg.seed, name=name, models_dir=models_dir)  # fmt: skip
    return dataclasses.replace(finetune.combined(*phases), config=cfg)


def run_one(cfg: training.TrainConfig, arm: str, ds: datasets.FerDataset, out_dir: Path = STUDY_DIR) -> dict:
    """Train (or resume, or reuse) one arm and seed; write and return its record.

    A record already written for the same configuration is returned as it is; one written for another configuration
    (another budget, say) is trained again and replaced.
    """
    cfg = experiments.for_dataset(cfg, ds)
    path = out_dir / f"{arm}-s{cfg.seed}.json"
    if path.exists():
        done = json.loads(path.read_text())
        if done.get("config_key") == cfg.key():
            return done
    result = _train(cfg, ds, path.stem, out_dir / "models")
    splits = evaluation.official_splits(ds)
    probs = {s: evaluation.predict_proba(result.model, x) for s, (x, _) in splits.items() if s != "test_full"}
    metrics = {s: evaluation.classification_metrics(splits[s][1], p, ds.class_names) for s, p in probs.items()}
    flip = evaluation.predict_tta(result.model, splits["test"][0], "flip")
    full = evaluation.classification_metrics(
        splits["test_full"][1], np.concatenate([probs["val"], probs["test"]]), ds.class_names
    )
    rec = {
        "arm": arm,
        "seed": cfg.seed,
        "train_config": cfg.__dict__,
        "config_key": cfg.key(),
        "params": int(result.model.count_params()),
        "epochs_run": int(len(result.history)),
        "best_epoch": int(result.best_epoch),
        "train_minutes": result.train_minutes,
        "images_seen": result.images_seen,
        "val_accuracy": metrics["val"]["accuracy"],
        "test_accuracy": metrics["test"]["accuracy"],
        "test_macro_f1": metrics["test"]["macro_f1"],
        "test_recall": {c: v["recall"] for c, v in metrics["test"]["per_class"].items()},
        "test_accuracy_flip": float((flip.argmax(1) == splits["test"][1]).mean()),
        "test_per_class": metrics["test"]["per_class"],
        "test_ci": evaluation.ci_row(splits["test"][1], probs["test"]),
        "test_flip_ci": evaluation.ci_row(splits["test"][1], flip),
        "test_full_accuracy": full["accuracy"],
        "test_full_macro_f1": full["macro_f1"],
        "test_pred": probs["test"].argmax(1).tolist(),
        "history": result.history.to_dict("list"),
    }
    artifacts.save_json(path, rec)
    return rec


def table(records: list[dict]) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each arm's numbers."""
    rows = []
    for arm, group in pd.DataFrame(records).groupby("arm", sort=False):
        recall = pd.DataFrame(list(group["test_recall"]))
        row = {"arm": arm, "seeds": len(group), "params": int(group["params"].iloc[0])}
        columns = ("val_accuracy", "test_accuracy", "test_accuracy_flip", "test_macro_f1", "epochs_run")
        columns += ("train_minutes",)
        for col in (c for c in columns if c in group):
            row[col], row[f"{col}_std"] = (
                float(group[col].mean()),
                float(group[col].std(ddof=1)) if len(group) > 1 else 0.0,
            )
        for rare in ("disgust", "fear", "contempt"):
            if rare in recall:
                row[f"{rare}_recall"] = float(recall[rare].mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("arm")


def paired(records: list[dict], y_test: np.ndarray, n_boot: int = 2000) -> pd.DataFrame:
    """Paired bootstrap of every arm against every other, over (seed, test image) pairs of the seeds both ran."""
    by = {(r["arm"], r["seed"]): np.asarray(r["test_pred"]) for r in records}
    arms = list(dict.fromkeys(r["arm"] for r in records))
    rows = {}
    for i, a in enumerate(arms):
        for b in arms[i + 1 :]:
            seeds = sorted(s for (arm, s) in by if arm == a and (b, s) in by)
            if not seeds:
                continue
            y = np.tile(y_test, len(seeds))
            pa, pb = (np.concatenate([by[(arm, s)] for s in seeds]) for arm in (a, b))
            rows[f"{a} - {b}"] = {"seeds": len(seeds), **evaluation.paired_bootstrap(y, pa, pb, n_boot)}
    return pd.DataFrame(rows).T


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m helpers study", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0, help="training budget per run (default 60)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds per arm (default 0 1 2)")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=[*ARMS, TRANSFER_ARM],
                   help=f"arms to run (default all but {TRANSFER_ARM}, the shipped model fine-tuned)")  # fmt: skip
    p.add_argument("--rates", type=Path, help="JSON arm -> images/s on the machine whose budget is replayed")
    p.add_argument("--out", type=Path, help=f"per-run records folder (default {STUDY_DIR}; FER+: study-ferplus/)")
    p.add_argument("--ferplus", nargs="+", choices=ferplus.LABEL_MODES, metavar="MODE",
                   help="run on FER+ ($FERPLUS_PATH or data/ferplus/) instead of the prepared data, each arm once per "
                        "label mode: majority, probability (the test faces are the same in every mode)")  # fmt: skip
    a = p.parse_args(argv)
    modes = a.ferplus or [None]
    data = {m: (ferplus.load_ferplus(label_mode=m), None) if m else datasets.load_prepared() for m in modes}
    ds, meta = data[modes[0]]
    if any(list(d.split("test")[1]) != list(ds.split("test")[1]) for d, _ in data.values()):
        raise RuntimeError("the label modes' test faces differ; the paired bootstrap needs the same faces")
    out = a.out or (STUDY_DIR.with_name("study-ferplus") / f"{a.minutes:g}min" if a.ferplus else STUDY_DIR)
    rates = json.loads(a.rates.read_text()) if a.rates else None
    n_train = int((ds.splits == "train").sum())
    records = []
    for seed in a.seeds:
        for arm, mode in ((arm, mode) for arm in a.arms for mode in modes):
            epochs = epochs_for(a.minutes, rates[arm], n_train) if rates else None
            cfg = arm_config(arm, seed, a.minutes, epochs)
            name = f"{arm}-{mode}" if mode else arm
            rec = run_one(cfg, name, data[mode][0], out)
            records.append(rec)
            print(
                f"{name} seed {seed}: val {rec['val_accuracy']:.3f} test {rec['test_accuracy']:.3f} "
                f"macro-F1 {rec['test_macro_f1']:.3f} ({rec['epochs_run']} epochs, {rec['train_minutes']:.1f} min)"
            )
    tab, pairs = table(records), paired(records, ds.split("test")[1])
    print(tab.to_string(float_format=lambda v: f"{v:.3f}"))
    print(pairs.to_string(float_format=lambda v: f"{v:.3f}"))
    body = {
        "budget_minutes": a.minutes,
        "rates": rates,
        "n_train": n_train,
        "table": tab.to_dict("index"),
        "paired": pairs.to_dict("index"),
        "runs": [{k: v for k, v in r.items() if k != "test_pred"} for r in records],
    }
    params = {"minutes": a.minutes, "seeds": a.seeds, "arms": a.arms, "rates": rates}
    ident = experiments.dataset_identity(ds, meta)
    name = f"study_ferplus-{a.minutes:g}min-{'-'.join(a.ferplus)}" if a.ferplus else "study"
    print(artifacts.save_metrics(name, body, params=params, seed=a.seeds[0], dataset=ident))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
