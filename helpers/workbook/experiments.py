"""Train-evaluate-record steps shared by notebooks 03, 04 and 05."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from helpers import artifacts, config, evaluation, models, training
from helpers.data.datasets import FerDataset
from helpers.models import shipped


@dataclass
class Experiment:
    name: str
    result: training.TrainResult
    metrics: dict[str, dict]
    summary: dict


def train_and_evaluate(
    cfg: training.TrainConfig, ds: FerDataset, name: str, latency_repeats: int = 30, verbose: int = 2
) -> Experiment:
    """Train on train, select on val (PublicTest), then report val, test (PrivateTest) and the full test set.

    A multi-class model gets one output per class of ``ds``, trains on its soft targets where it has them (FER+ in
    probability mode), and stores the class names in its file.
    """
    cfg = for_dataset(cfg, ds)
    x_train = ds.split("train")[0]
    result = training.train(cfg, (x_train, ds.training_targets("train")), ds.split("val"), name=name,
                            verbose=verbose, class_names=ds.class_names if cfg.n_classes > 1 else None)  # fmt: skip
    metrics = evaluation.evaluate_model(result.model, evaluation.official_splits(ds), ds.class_names)
    lat = evaluation.latency_ms(result.model, ds.images[0], repeats=latency_repeats)
    summary = {
        "model": name,
        "architecture": cfg.model,
        "params": int(result.model.count_params()),
        "mflops_per_image": models.flops_per_image(result.model) / 1e6,
        "epochs_run": int(len(result.history)),
        "best_epoch": int(result.best_epoch),
        "seconds_per_epoch": result.seconds_per_epoch,
        "train_minutes": result.train_minutes,
        "images_seen": result.images_seen,
        "budget_minutes": cfg.budget_minutes,
        "val_accuracy": metrics["val"]["accuracy"],
        "test_accuracy": metrics["test"]["accuracy"],
        "test_macro_f1": metrics["test"]["macro_f1"],
        "test_full_accuracy": metrics["test_full"]["accuracy"],
        "test_full_macro_f1": metrics["test_full"]["macro_f1"],
        "latency_predict_ms": lat["predict_ms"],
        "latency_compiled_ms": lat["compiled_ms"],
    }
    return Experiment(name, result, metrics, summary)


def train_config(params: Mapping[str, Any], model: str) -> training.TrainConfig:
    """The training run that a notebook's ``params`` ask for ``model``.

    ``params`` is a notebook's parameters (:func:`helpers.workbook.profiles.current` in the notebook,
    :func:`~helpers.workbook.profiles.resolved` for a profile): every one that names a ``TrainConfig`` field, then
    the model's entries in ``model_kwargs`` (builder arguments) and ``model_overrides`` (field changes), if any.
    """
    fields = {field.name for field in dataclasses.fields(training.TrainConfig)} - {"model", "model_kwargs"}
    recipe = {k: v for k, v in params.items() if k in fields}
    overrides = (params.get("model_overrides") or {}).get(model, {})
    builder_kwargs = (params.get("model_kwargs") or {}).get(model)
    return training.TrainConfig(model=model, model_kwargs=builder_kwargs, **{**recipe, **overrides})


def for_dataset(cfg: training.TrainConfig, ds: FerDataset) -> training.TrainConfig:
    """``cfg`` with one output per class of ``ds`` (a binary model, one output, is left as it is)."""
    return cfg if cfg.n_classes in (1, len(ds.class_names)) else cfg.replace(n_classes=len(ds.class_names))


def load_saved(names: list[str], class_names: tuple[str, ...]) -> tuple[dict, dict[str, str]]:
    """Saved models ``outputs/models/<name>.keras`` that predict ``class_names``: ({name: model}, {name: why not})."""
    loaded, skipped = {}, {}
    for name in names:
        path = config.MODELS_DIR / f"{name}.keras"
        stored = training.read_class_names(path) if path.exists() else None
        if not path.exists():
            skipped[name] = f"{path} not found"
        elif stored is not None and tuple(stored) != tuple(class_names):
            skipped[name] = f"it predicts {', '.join(stored)}, not this data's classes"
        else:
            loaded[name] = training.load_model(path)
    return loaded, skipped


def record(nb: str, exps: list[Experiment], ds_identity: dict, params: dict, seed: int) -> str:
    """Write ``outputs/metrics/<nb>.json`` for a notebook's experiments."""
    body = as_records(exps)
    for e in exps:
        body[e.name]["train_config"] = e.result.config.__dict__
    return str(artifacts.save_metrics(nb, body, params=params, seed=seed, dataset=ds_identity))


def load_recorded(nb: str) -> dict[str, dict]:
    """Experiments recorded by notebook ``nb`` (name -> summary, history, splits, model_file)."""
    path = config.METRICS_DIR / f"{nb}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run notebook {nb[:2]} first (make run NB={nb[:2]})")
    return json.loads(path.read_text())["metrics"]


def as_records(exps: list[Experiment]) -> dict[str, dict]:
    """Experiments in the same form as :func:`load_recorded`."""
    return {
        e.name: {
            "summary": e.summary,
            "history": e.result.history.to_dict("list"),
            "splits": e.metrics,
            "model_file": str(e.result.model_path),
        }
        for e in exps
    }


def comparison_table(records: dict[str, dict], rows: str = "all") -> pd.DataFrame:
    """Side-by-side summary (one column per model).

    ``rows``: "all"; "val", everything but the test numbers (for choosing and developing); or "test", the test
    numbers with the size and training time they were bought with (for the notebooks' final test section).
    """
    table = pd.DataFrame({n: r["summary"] for n, r in records.items()}).drop(index=["model"])
    is_test = table.index.str.startswith("test")
    if rows == "val":
        return table[~is_test]
    if rows == "test":
        return table[is_test | table.index.isin(["params", "train_minutes", "images_seen"])]
    if rows != "all":
        raise ValueError(f"rows must be 'all', 'val' or 'test', got {rows!r}")
    return table


def per_class_f1(records: dict[str, dict], split: str = "test") -> pd.DataFrame:
    """Long table of per-class F1 by model, for grouped bar charts."""
    return pd.DataFrame(
        [
            {"model": n, "class": c, "f1": v["f1"]}
            for n, r in records.items()
            for c, v in r["splits"][split]["per_class"].items()
        ]
    )


def histories(records: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """Learning-curve tables by model."""
    return {n: pd.DataFrame(r["history"]) for n, r in records.items()}


def with_shipped_curve(curves: dict[str, pd.DataFrame], ds: FerDataset) -> dict[str, pd.DataFrame]:
    """``curves`` and the shipped model's own (validation accuracy against training minutes) beside them.

    Only on the data it was trained and selected on, the real FER-2013; elsewhere, or when the shipped model is missing
    or has no recorded curve, ``curves`` unchanged.
    """
    if ds.synthetic or ds.name != "FER-2013" or tuple(ds.class_names) != config.CLASS_NAMES:
        return curves
    try:
        curve = pd.DataFrame(shipped.training_curve(shipped.verify()))
    except shipped.ShippedModelError:
        return curves
    if curve.empty:
        return curves
    return {**curves, f"shipped model ({curve['minutes'].iloc[-1]:.0f} min)": curve}


def curve_summary(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per curve: minutes trained, the best validation accuracy and the minute it was reached."""
    rows = {}
    for name, curve in curves.items():
        if "minutes" in curve and len(curve):
            best = int(curve["val_accuracy"].to_numpy().argmax())
            rows[name] = {
                "minutes trained": round(float(curve["minutes"].iloc[-1]), 1),
                "best val accuracy": float(curve["val_accuracy"].iloc[best]),
                "reached at minute": round(float(curve["minutes"].iloc[best]), 1),
            }
    return pd.DataFrame(rows).T


def dataset_identity(ds: FerDataset, meta: dict | None = None) -> dict:
    """Dataset identity for metrics, including the profile's subset sizes."""
    ident = dict((meta or {}).get("identity") or ds.identity())
    ident["used_counts"] = {s: int((ds.splits == s).sum()) for s in config.SPLITS}
    return ident
