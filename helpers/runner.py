"""Run the numbered notebooks headlessly with papermill: ``python -m helpers.runner --profile quick``.

Each profile is a set of parameter overrides per notebook (the notebooks' own ``parameters`` cell
holds the defaults). Executed copies go to ``outputs/notebooks/``. A failure names the notebook and
the cell that broke, and the run stops there.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
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

#: Parameter overrides per profile and notebook prefix ("*" applies to every notebook).
PROFILES: dict[str, dict[str, dict]] = {
    # seconds to a couple of minutes: a tiny subset, one epoch; used by the tests
    "smoke": {
        "*": {"profile": "smoke"},
        "02": {"max_train": 700, "max_eval": 300},
        "03": {"epochs": 1},
        "04": {"epochs": 1, "models_to_train": ["dcnn", "efficient_cnn"], "latency_repeats": 5},
        "05": {"epochs": 1, "seed_epochs": 1, "seed_max_train": 64, "n_demo_photos": 120},
        "06": {"tta_modes": ["flip"], "n_boot": 50, "n_demo_photos": 2},
    },
    # all six on the real FER-2013 within about 20 minutes on a 2-core CPU
    "quick": {
        "*": {"profile": "quick"},
        "02": {"max_train": 8000, "max_eval": None},
        "03": {"epochs": 8},
        "04": {"epochs": 6, "models_to_train": ["efficient_cnn", "dcnn"]},
        "05": {"epochs": 8, "seed_epochs": 2, "seed_max_train": 1000, "n_demo_photos": 600},
        "06": {"tta_modes": ["flip", "tencrop"], "n_boot": 300},
    },
    # the real experiment: hours on a CPU, minutes on a GPU
    "full": {
        "*": {"profile": "full"},
        "02": {"max_train": None, "max_eval": None},
        "03": {"epochs": 60},
        "04": {"epochs": 60, "models_to_train": ["efficient_cnn", "dcnn"]},
        "05": {"epochs": 40, "seed_epochs": 20, "seed_max_train": None, "n_demo_photos": 2000},
        "06": {"tta_modes": ["flip", "tencrop"], "n_boot": 1000},
    },
}


def params_for(notebook: str, profile: str, extra: dict | None = None) -> dict:
    """Parameters injected into ``notebook`` for ``profile``, with ``extra`` on top."""
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    p = dict(PROFILES[profile].get("*", {}))
    p.update(PROFILES[profile].get(notebook[:2], {}))
    p.update(extra or {})
    return p


def parse_params(text: str | None) -> dict:
    """``"epochs=5 seed=1 augment=strong"`` -> dict, values parsed as Python literals where possible."""
    out: dict = {}
    for item in (text or "").split():
        if "=" not in item:
            raise SystemExit(f"bad parameter {item!r}: use key=value")
        key, value = item.split("=", 1)
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _failed_cell(path: Path) -> str:
    """Index and first line of the cell that raised, read from the executed notebook."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return "unknown cell"
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                src = "".join(cell.get("source", "")).strip().splitlines()
                return f"cell {i} ({src[0] if src else ''!r}): {out.get('ename')}: {out.get('evalue')}"
    return "unknown cell"


def run_notebook(name: str, profile: str, extra: dict | None = None) -> float:
    """Execute one notebook into outputs/notebooks/; returns seconds taken. Raises SystemExit on failure."""
    import papermill as pm

    config.ensure_dirs()
    src = config.NOTEBOOKS_DIR / f"{name}.ipynb"
    dst = config.EXECUTED_DIR / f"{name}.ipynb"
    params = params_for(name, profile, extra)
    print(f"==> {name}  [profile {profile}]  {params}", flush=True)
    t = time.perf_counter()
    try:
        pm.execute_notebook(
            str(src),
            str(dst),
            parameters=params,
            kernel_name="python3",
            cwd=str(config.NOTEBOOKS_DIR),
            progress_bar=False,
            log_output=True,
            request_save_on_cell_execute=True,
        )
    except pm.PapermillExecutionError as e:
        raise SystemExit(
            f"FAILED: notebook {name}, cell {e.cell_index}: {e.ename}: {e.evalue}\n"
            f"  executed copy with the traceback: {dst}"
        ) from None
    except Exception as e:  # kernel died, missing notebook, ...
        raise SystemExit(f"FAILED: notebook {name}: {e.__class__.__name__}: {e}; {_failed_cell(dst)}") from None
    return time.perf_counter() - t


def describe_data() -> str:
    """One line saying which data the notebooks will use; a FER2013_PATH that points nowhere is fatal here."""
    from helpers.data import DatasetError, find_source

    try:
        src = find_source()
    except DatasetError as e:
        raise SystemExit(f"error: {e}") from None
    if src is not None:
        return f"data: FER-2013 from {src}"
    return (
        "data: FER-2013 NOT FOUND, running on the EMBEDDED SYNTHETIC SAMPLE (results are not FER-2013 results). "
        f"To use the real data put fer2013.csv, fer2013.zip or the fer2013/ image folders in {config.DATA_DIR} "
        f"or set {config.DATASET_ENV}; `make check-data` verifies it."
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers.runner", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    ap.add_argument("--only", nargs="*", help="notebook numbers or names to run (default: all six, in order)")
    ap.add_argument("--params", help="extra parameters for every notebook run, e.g. 'epochs=5 seed=1'")
    args = ap.parse_args(argv)
    extra = parse_params(args.params)
    chosen = [nb for nb in NOTEBOOKS if not args.only or any(nb.startswith(o) for o in args.only)]
    if not chosen:
        raise SystemExit(f"no notebook matches {args.only}; choose from {', '.join(NOTEBOOKS)}")
    banner = describe_data()
    print(banner, flush=True)
    timings = {}
    for nb in chosen:
        timings[nb] = run_notebook(nb, args.profile, extra)
        print(f"    {nb} done in {timings[nb]:.0f} s", flush=True)
    from helpers.artifacts import save_json

    save_json(
        config.METRICS_DIR / f"runner_{args.profile}.json",
        {"profile": args.profile, "seconds": timings, "total_seconds": sum(timings.values())},
    )
    print(f"all done in {sum(timings.values()) / 60:.1f} min; executed notebooks in {config.EXECUTED_DIR}")
    print(banner)
    return 0


if __name__ == "__main__":
    sys.exit(main())
