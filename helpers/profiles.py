"""Run profiles: one table of notebook parameters per profile, and what a notebook run really used.

A notebook's ``parameters`` cell holds the ``quick`` profile's values (a test keeps them equal), so a
notebook opened in JupyterLab and run top to bottom does what ``make run-all`` does. Other profiles
override some of them; papermill injects the overrides. :func:`describe` compares the values a run
used with the table and names the profile only when they match it exactly.
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

#: Our recipe for the 7-class models: the standard profile trains notebook 04's models with it, and
#: ``helpers.study`` compares it with the seed recipe.
OUR_RECIPE = {"optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.05, "label_smoothing": 0.1, "augment": "light"}
#: Builder arguments of our model (efficient_cnn) in the standard profile and the study.
OUR_MODEL_KWARGS = {"widths": [48, 96, 192]}
#: Widths of our compact happy-vs-sad model in the standard profile: 481,001 parameters, 0.81% of the seed's.
OUR_BINARY_WIDTHS = [40, 80, 160]

#: Parameter values per profile and notebook prefix ("*" applies to every notebook). ``quick`` is
#: complete for the parameters that profiles vary; the others list what they change.
PROFILES: dict[str, dict[str, dict]] = {
    # all six on the real FER-2013 in about 15-20 minutes on a 2-core CPU (the notebooks' defaults)
    "quick": {
        "*": {"profile": "quick"},
        "02": {"max_train": 8000, "max_eval": None},
        "03": {"epochs": 10, "patience": 3, "schedule": "plateau", "budget_minutes": None, "lr": 1e-3},
        "04": {
            "epochs": 7,
            "patience": 3,
            "schedule": "plateau",
            "budget_minutes": None,
            "models_to_train": ["dcnn", "efficient_cnn"],
            "latency_repeats": 30,
            "optimizer": "adam",
            "lr": 1e-3,
            "weight_decay": 0.0,
            "label_smoothing": 0.0,
            "augment": "seed",
            "model_kwargs": {},
            "model_overrides": {},
        },
        "05": {
            "budget_minutes": 2.0,
            "epochs": 30,
            "patience": 3,
            "photo_epochs": 8,
            "n_demo_photos": 600,
            "compact_widths": [16, 32, 64],
            "compact_optimizer": "adam",
            "compact_lr": 1e-3,
            "compact_weight_decay": 0.0,
        },
        "06": {"tta_modes": ["flip", "tencrop"], "n_boot": 300, "n_demo_photos": 4},
    },
    # a couple of minutes: a tiny subset, one epoch; used by the tests
    "smoke": {
        "*": {"profile": "smoke"},
        "02": {"max_train": 700, "max_eval": 300},
        "03": {"epochs": 1},
        "04": {"epochs": 1, "latency_repeats": 5},
        "05": {"budget_minutes": 0.1, "epochs": 1, "photo_epochs": 1, "n_demo_photos": 120},
        "06": {"tta_modes": ["flip"], "n_boot": 50, "n_demo_photos": 2},
    },
    # every training image, each model for a stated wall-clock budget on a 2-core CPU (about 2 h 15 min in all): the
    # learning rate anneals to zero at the budget and the best epoch on validation is kept. 03: the seed recipe
    # (Adam 1e-4, seed augmentation), 15 min; 04: our recipe (AdamW 2e-3 with weight decay 0.05, label smoothing
    # 0.1, light augmentation), DCNN 15 min and our efficient_cnn (48-96-192) 60 min; 05: 15 min per binary model,
    # our compact one (40-80-160) with AdamW and weight decay as in 04
    "standard": {
        "*": {"profile": "standard"},
        "02": {"max_train": None, "max_eval": None},
        "03": {"epochs": 500, "patience": 500, "schedule": "cosine", "budget_minutes": 15, "lr": 1e-4},
        "04": {
            "epochs": 500,
            "patience": 500,
            "schedule": "cosine",
            "budget_minutes": 15,
            **OUR_RECIPE,
            "model_kwargs": {"efficient_cnn": OUR_MODEL_KWARGS},
            "model_overrides": {"efficient_cnn": {"budget_minutes": 60}},
        },
        "05": {
            "budget_minutes": 15.0,
            "epochs": 200,
            "patience": 200,
            "photo_epochs": 10,
            "n_demo_photos": 1000,
            "compact_widths": OUR_BINARY_WIDTHS,
            "compact_optimizer": OUR_RECIPE["optimizer"],
            "compact_lr": OUR_RECIPE["lr"],
            "compact_weight_decay": OUR_RECIPE["weight_decay"],
        },
        "06": {"n_boot": 1000},
    },
    # every training image, up to 60 epochs with early stopping: about an hour per 7-class model on a
    # 2-core CPU (the DCNN and the 59M-parameter binary seed model much longer), minutes on a GPU
    "full": {
        "*": {"profile": "full"},
        "02": {"max_train": None, "max_eval": None},
        "03": {"epochs": 60, "patience": 8},
        "04": {"epochs": 60, "patience": 8},
        "05": {"budget_minutes": None, "epochs": 40, "patience": 8, "photo_epochs": 40, "n_demo_photos": 2000},
        "06": {"n_boot": 1000},
    },
}


def params_for(notebook: str, profile: str, extra: dict | None = None) -> dict:
    """Values of ``notebook``'s parameters under ``profile`` (quick's values, the profile's on top), then ``extra``."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    p: dict = {}
    for name in dict.fromkeys((DEFAULT, profile)):
        p.update(PROFILES[name].get("*", {}))
        p.update(PROFILES[name].get(notebook[:2], {}))
    p.update(extra or {})
    return p


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
