"""Run profiles: what each profile changes in the notebooks' parameters, and what a notebook run really used.

Every default lives in one place, the notebook's ``parameters`` cell: that cell is the ``quick`` profile (the
default), so a notebook opened in JupyterLab and run top to bottom does what ``make run-all`` does. Each other
profile lists only the parameters it changes; papermill injects them. :func:`describe` compares the values a run
used with the profile and names the profile only when they match it exactly.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from helpers import config

NOTEBOOKS = (
    "01_explore_fer2013",
    "02_preprocess_augment",
    "03_cnn_baseline",
    "04_dcnn_compare",
    "05_binary_happy_sad",
    "06_evaluate_confusion_pr",
)

DEFAULT = "quick"

#: Widths of our compact happy-vs-sad model in the standard profile: 481,001 parameters, 0.81% of the seed's.
OUR_BINARY_WIDTHS = [40, 80, 160]

#: Builder arguments of notebook 04's models in the long profiles: the DCNN at its full width (32-64-128-256, 1.77M
#: parameters); the quick profile's 16-64 DCNN sees three epochs in its 1.5 minutes where this one sees one.
LONG_MODEL_KWARGS = {"dcnn": {"width": 32}, "efficient_cnn": {"widths": [48, 96, 192]}}

#: The literature recipe (Khaireddin & Chen 2021, 73.3% on PublicTest with ten-crop averaging): their VGG variant for
#: 300 epochs of SGD with Nesterov momentum (0.01, weight decay 1e-4, batch 64), the rate x0.75 after 5 epochs without
#: a better validation accuracy, their augmentation; notebook 04 trains it in the ``full`` profile (for a GPU).
LITERATURE_RECIPE = {
    "optimizer": "sgd",
    "lr": 0.01,
    "weight_decay": 1e-4,
    "label_smoothing": 0.0,
    "augment": "literature",
    "batch_size": 64,
    "schedule": "plateau",
    "plateau_monitor": "val_accuracy",
    "plateau_factor": 0.75,
    "plateau_patience": 5,
    "epochs": 300,
    "patience": 300,
}

#: Notebook 05's fine-tuning budget and learning curve in the long profiles (standard, full).
LONG_TRANSFER = {
    "finetune_minutes": 15.0,
    "curve_sizes": [50, 200, 1000],
    "curve_seeds": [0, 1, 2],
    "curve_minutes": 1.0,
}

#: Changes to the notebooks' defaults, per profile and notebook prefix ("*" applies to every notebook).
PROFILES: dict[str, dict[str, dict]] = {
    # the notebooks' own parameters: every training image, each model for a wall-clock budget (03: the baseline 1.5
    # min; 04: the DCNN at width 16 for 1.5 min and our efficient_cnn 4 min with our recipe; 05: 0.6 min per
    # happy-vs-sad model, fine-tuned or from scratch, and a 4-run learning curve); about 14 minutes for all six
    # notebooks on a 2-core CPU
    "quick": {"*": {"profile": "quick"}},
    # a couple of minutes: a tiny subset, one epoch; used by the tests
    "smoke": {
        "*": {"profile": "smoke"},
        "02": {"max_train": 700, "max_eval": 300},
        "03": {"epochs": 1, "budget_minutes": None},
        "04": {"epochs": 1, "budget_minutes": None, "model_overrides": {}, "latency_repeats": 5},
        "05": {
            "budget_minutes": 0.1,
            "finetune_minutes": 0.1,
            "epochs": 1,
            "photo_epochs": 1,
            "n_demo_photos": 120,
            "curve_sizes": [40],
            "curve_minutes": 0.05,
        },
        "06": {"tta_modes": ["flip"], "n_boot": 50, "n_demo_photos": 2},
    },
    # longer budgets on a 2-core CPU (about 2 h 50 min in all): 03 the seed recipe (Adam 1e-4) for 15 min; 04 the
    # DCNN 15 min and our efficient_cnn 60 min with strong augmentation (the shipped model's recipe, chosen on
    # validation against light augmentation at this budget); 05 15 min per binary model (our compact one at
    # 40-80-160 with AdamW, and the shipped model fine-tuned) and a learning curve of 18 one-minute runs
    "standard": {
        "*": {"profile": "standard"},
        "03": {"epochs": 500, "patience": 500, "budget_minutes": 15, "lr": 1e-4},
        "04": {
            "epochs": 500,
            "patience": 500,
            "budget_minutes": 15,
            "model_overrides": {"efficient_cnn": {"budget_minutes": 60, "augment": "strong"}},
            "model_kwargs": LONG_MODEL_KWARGS,
        },
        "05": {
            "budget_minutes": 15.0,
            **LONG_TRANSFER,
            "epochs": 200,
            "patience": 200,
            "photo_epochs": 10,
            "n_demo_photos": 1000,
            "compact_widths": OUR_BINARY_WIDTHS,
            "compact_optimizer": "adamw",
            "compact_lr": 2e-3,
            "compact_weight_decay": 0.05,
        },
        "06": {"n_boot": 1000},
    },
    # by epochs instead of minutes (for a GPU): up to 60 epochs with a plateau schedule and early stopping, and in
    # notebook 04 the literature recipe's VGG for its 300 epochs
    "full": {
        "*": {"profile": "full"},
        "03": {"epochs": 60, "patience": 8, "budget_minutes": None, "schedule": "plateau"},
        "04": {
            "epochs": 60,
            "patience": 8,
            "budget_minutes": None,
            "schedule": "plateau",
            "models_to_train": ["dcnn", "efficient_cnn", "vgg_fer"],
            "model_overrides": {"vgg_fer": LITERATURE_RECIPE},
            "model_kwargs": LONG_MODEL_KWARGS,
        },
        "05": {
            "budget_minutes": None,
            **LONG_TRANSFER,
            "epochs": 40,
            "patience": 8,
            "photo_epochs": 40,
            "n_demo_photos": 2000,
        },
        "06": {"n_boot": 1000},
    },
}


def params_for(notebook: str, profile: str, extra: dict | None = None) -> dict:
    """What ``profile`` changes in ``notebook``'s parameters (papermill injects it), then ``extra``."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    return {**PROFILES[profile].get("*", {}), **PROFILES[profile].get(notebook[:2], {}), **(extra or {})}


def resolved(notebook: str, profile: str, extra: dict | None = None) -> dict:
    """Every parameter of ``notebook`` under ``profile``: the notebook's defaults with the profile's changes."""
    return {**defaults(notebook), **params_for(notebook, profile, extra)}


#: The recipe fields that notebook 04's defaults (our recipe) set for every model it trains.
RECIPE_FIELDS = ("optimizer", "lr", "weight_decay", "label_smoothing", "augment")


def our_recipe() -> dict:
    """Our recipe for the 7-class models, read from notebook 04's parameters cell (its one home)."""
    return {k: defaults("04")[k] for k in RECIPE_FIELDS}


def our_model_kwargs() -> dict:
    """Builder arguments of our model (efficient_cnn), read from notebook 04's parameters cell."""
    return defaults("04")["model_kwargs"]["efficient_cnn"]


def training_plan(profile: str, extra: dict | None = None) -> list[tuple[str, str, float | None]]:
    """(notebook, model, budget in minutes or None for epoch-bounded) for every model the profile trains."""
    plan: list[tuple[str, str, float | None]] = []
    p3, p4, p5 = (resolved(nb, profile, extra) for nb in ("03", "04", "05"))
    plan.append(("03", "baseline_cnn", p3["budget_minutes"]))
    for name in p4["models_to_train"]:
        plan.append(("04", name, p4["model_overrides"].get(name, {}).get("budget_minutes", p4["budget_minutes"])))
    plan += [("05", name, p5["budget_minutes"]) for name in ("binary_compact_cnn", "binary_seed_cnn")]
    plan.append(("05", "binary_finetuned", p5["finetune_minutes"]))
    runs = 2 * len(p5["curve_sizes"]) * len(p5["curve_seeds"])
    if runs:
        plan.append(("05", f"learning curve ({runs} runs)", runs * p5["curve_minutes"]))
    return plan


def notebook_path(notebook: str) -> Path:
    """The notebook's source file in ``notebooks/`` (name or two-digit prefix)."""
    matches = [n for n in NOTEBOOKS if n.startswith(notebook)]
    if len(matches) != 1:
        raise ValueError(f"no single notebook matches {notebook!r}; choose from {', '.join(NOTEBOOKS)}")
    return config.NOTEBOOKS_DIR / f"{matches[0]}.ipynb"


def parameters_cell(notebook: str) -> str:
    """Source of the notebook's cell tagged ``parameters``."""
    nb = json.loads(notebook_path(notebook).read_text())
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return "".join(cell["source"])
    raise ValueError(f"{notebook}: no cell tagged 'parameters'")


def defaults(notebook: str) -> dict:
    """The literal values assigned in the notebook's ``parameters`` cell, in order."""
    out = {}
    for node in ast.parse(parameters_cell(notebook)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def current(notebook: str, namespace: dict) -> dict:
    """Values the notebook ran with: every name of its parameters cell, read from ``namespace`` (globals())."""
    return {k: namespace.get(k, v) for k, v in defaults(notebook).items()}


def describe(notebook: str, used: dict, data_profile: str | None = None) -> dict:
    """Which profile a run really followed: ``profile`` is the requested name only if every value matches it.

    Otherwise ``profile`` reads ``custom (from <name>)`` and ``differs`` lists each parameter's value next to
    the profile's. ``data_profile`` is the profile of the prepared data (notebook 02) the run trained on.
    """
    requested = used.get("profile", DEFAULT)
    expected = {**defaults(notebook), **params_for(notebook, requested)} if requested in PROFILES else {}
    differs = {k: {"used": v, "profile": expected.get(k)} for k, v in used.items() if expected.get(k, v) != v}
    if data_profile is not None and data_profile != requested:
        differs["prepared_data_profile"] = {"used": data_profile, "profile": requested}
    label = requested if requested in PROFILES and not differs else f"custom (from {requested})"
    return {"profile": label, "requested_profile": requested, "differs": differs, "params": used}


def used(notebook: str, namespace: dict, data_profile: str | None = None) -> dict:
    """:func:`describe` of the values in ``namespace`` (a notebook's ``globals()``): what its metrics record."""
    return describe(notebook, current(notebook, namespace), data_profile)
