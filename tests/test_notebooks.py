"""Notebook hygiene, and all six notebooks run through papermill in the smoke profile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import config
from helpers.cli.runner import describe_data, parse_params
from helpers.workbook import profiles
from helpers.workbook.profiles import NOTEBOOKS, params_for

from .conftest import CHROMIUM, CHROMIUM_FLAGS

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_thin_and_clean(name):
    nb = json.loads((NB_DIR / f"{name}.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and not c.get("execution_count") for c in code), "outputs stored in git"
    first = code[0]
    assert "parameters" in first["metadata"].get("tags", []), "first code cell must be tagged 'parameters'"
    for line in "".join(first["source"]).splitlines():
        assert "#" in line, f"parameter without an inline comment: {line!r}"
    assert not any("def " in "".join(c["source"]) or "lambda" in "".join(c["source"]) for c in code[1:]), (
        "function definitions belong in helpers/"
    )
    assert nb["cells"][0]["cell_type"] == "markdown" and "".join(nb["cells"][0]["source"]).startswith("# ")


def test_profiles_only_set_declared_parameters():
    for name in NOTEBOOKS:
        declared = set(profiles.defaults(name))
        for profile in profiles.PROFILES:
            assert set(params_for(name, profile)) <= declared, (name, profile)


def test_the_quick_profile_is_the_notebooks_own_parameters():
    """One home for every default: run top to bottom in JupyterLab, a notebook does what `make run-all` does."""
    for name in NOTEBOOKS:
        assert params_for(name, "quick") == {"profile": "quick"}
        assert profiles.defaults(name)["profile"] == "quick"


def test_every_profile_changes_something_it_does_not_restate():
    """Other profiles list only what they change: no entry repeats the notebook's default."""
    for profile in profiles.PROFILES:
        for name in NOTEBOOKS:
            same = {
                k for k, v in params_for(name, profile).items() if k != "profile" and profiles.defaults(name)[k] == v
            }
            assert not same, (profile, name, same)


def test_the_quick_profile_trains_each_model_for_a_budget_of_about_fifteen_minutes():
    plan = profiles.training_plan("quick")
    assert all(minutes is not None for _, _, minutes in plan)
    assert sum(minutes for _, _, minutes in plan) <= 11  # leaves room for data, evaluation and six kernels


def test_recorded_profile_says_what_ran():
    used = profiles.defaults("03")
    assert profiles.describe("03", used)["profile"] == "quick"
    full = {**used, **params_for("03", "full")}
    assert profiles.describe("03", full, data_profile="full")["profile"] == "full"
    assert profiles.describe("03", full, data_profile="quick")["profile"] == "custom (from full)"
    changed = profiles.describe("03", {**used, "epochs": 60})
    assert changed["profile"] == "custom (from quick)"
    assert changed["differs"] == {"epochs": {"used": 60, "profile": 100}}
    namespace = {**used, "lr": 3e-4, "unrelated": 1}
    assert profiles.used("03", namespace)["params"]["lr"] == 3e-4 and "unrelated" not in profiles.used("03", namespace)


def test_early_stopping_can_act_when_training_by_epochs():
    for name in ("03", "04", "05"):
        for profile in profiles.PROFILES:
            p = profiles.resolved(name, profile)
            if p["budget_minutes"] is None and p["epochs"] > 1:
                assert p["patience"] < p["epochs"], (name, profile)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_pairs_in_sync(name, tmp_path):
    """notebooks/NAME.py (py:percent) and NAME.ipynb hold the same cells; the .ipynb carries no outputs."""
    import jupytext

    py = jupytext.read(NB_DIR / f"{name}.py")
    ipynb = jupytext.read(NB_DIR / f"{name}.ipynb")
    assert [(c.cell_type, c.source) for c in py.cells] == [(c.cell_type, c.source) for c in ipynb.cells], (
        f"{name}: .py and .ipynb differ; run `make sync`"
    )
    assert [c.metadata.get("tags") for c in py.cells] == [c.metadata.get("tags") for c in ipynb.cells]


def test_edit_on_py_side_syncs_and_runs(tmp_path):
    """Edit a notebook's .py side as a user would, sync with jupytext, and run the synced notebook."""
    for suffix in (".py", ".ipynb"):
        shutil.copy(NB_DIR / f"03_cnn_baseline{suffix}", tmp_path / f"nb{suffix}")
    shutil.copy(NB_DIR.parent / "jupytext.toml", tmp_path / "jupytext.toml")
    py = tmp_path / "nb.py"
    py.write_text(py.read_text().replace('profile = "quick"', 'profile = "quick"\nedited_here = 7  # an edit'))
    os.utime(py, (py.stat().st_mtime + 5, py.stat().st_mtime + 5))
    sync = subprocess.run([sys.executable, "-m", "jupytext", "--sync", str(py)], capture_output=True, text=True)
    assert sync.returncode == 0, sync.stderr
    nb = json.loads((tmp_path / "nb.ipynb").read_text())
    assert "edited_here = 7" in "".join(nb["cells"][1]["source"])
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"][:1]  # the parameters cell alone runs anywhere
    nb["cells"] = cells + [
        {
            "cell_type": "code",
            "metadata": {},
            "outputs": [],
            "execution_count": None,
            "id": "check",
            "source": "assert edited_here == 7 and epochs == 100",
        }
    ]
    (tmp_path / "run.ipynb").write_text(json.dumps(nb))
    import papermill as pm

    pm.execute_notebook(
        str(tmp_path / "run.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False
    )


def test_runner_says_which_data(monkeypatch, tmp_path):
    """make run-all announces the embedded sample when FER-2013 is absent, and stops on a dangling FER2013_PATH."""
    monkeypatch.delenv(config.DATASET_ENV, raising=False)
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    line = describe_data()
    assert "EMBEDDED SYNTHETIC SAMPLE" in line and str(tmp_path) in line and config.DATASET_ENV in line
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n")
    assert describe_data() == f"data: FER-2013 from {tmp_path / 'fer2013.csv'}"
    monkeypatch.setenv(config.DATASET_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit, match="not found"):
        describe_data()


def test_parse_params():
    assert parse_params("epochs=5 seed=1 augment=strong lr=1e-3") == {
        "epochs": 5,
        "seed": 1,
        "augment": "strong",
        "lr": 1e-3,
    }
    with pytest.raises(SystemExit):
        parse_params("epochs")


def _run_all(out: Path, env_extra: dict, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != config.DATASET_ENV}
    env.update(FER_OUTPUTS=str(out), TF_CPP_MIN_LOG_LEVEL="3", **env_extra)
    proc = subprocess.run(
        [sys.executable, "-m", "helpers.cli.runner", "--profile", "smoke", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = subprocess.run(
        [sys.executable, "-m", "helpers.cli.report"], env=env, capture_output=True, text=True, timeout=300
    )
    assert report.returncode == 0, report.stderr[-2000:]
    return proc


def _check_outputs(out: Path, synthetic: bool) -> None:
    for name in NOTEBOOKS:
        assert (out / "notebooks" / f"{name}.ipynb").exists()
        assert (out / "report" / f"{name}.html").exists()
    for model in ("baseline_cnn", "dcnn", "efficient_cnn", "binary_compact_cnn", "binary_seed_cnn"):
        assert (out / "models" / f"{model}.keras").stat().st_size > 0
    figs = {p.stem for p in (out / "figures").glob("*.png")}
    for fig in (
        "01_explore-class-distribution",
        "03_baseline-learning-curves",
        "04_compare-learning-curves",
        "04_compare-accuracy-vs-minutes",
        "05_binary-roc-pr",
        "06_evaluate-confusion-counts",
        "06_evaluate-pr-curves",
        "06_evaluate-gradcam",
    ):
        assert fig in figs
    index = (out / "report" / "index.html").read_text()
    assert (config.SYNTHETIC_LABEL.upper() in index) == synthetic
    base = json.loads((out / "metrics" / "03_baseline.json").read_text())
    assert base["git_sha"] and base["packages"]["keras"] and base["seed"] == 42
    assert base["dataset"]["synthetic"] == synthetic
    if synthetic:
        assert base["label"] == config.SYNTHETIC_LABEL
    splits = base["metrics"]["baseline_cnn"]["splits"]
    for split in ("val", "test", "test_full"):
        m = splits[split]
        assert 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["macro_f1"] <= 1.0
        assert sum(map(sum, m["confusion_matrix"])) == m["n"]
    assert splits["test_full"]["n"] == splits["val"]["n"] + splits["test"]["n"]
    ev = json.loads((out / "metrics" / "06_evaluate.json").read_text())["metrics"]
    assert sum(map(sum, ev["test"]["confusion_matrix"])) == splits["test"]["n"]
    assert 0 <= ev["ece"]["raw"] <= 1 and ev["temperature"] > 0
    assert "shipped" in ev["per_model_test"]  # the packaged model is evaluated beside the run's own
    binary = json.loads((out / "metrics" / "05_binary.json").read_text())["metrics"]
    for res in binary["fer_happy_sad_test"].values():
        assert 0 <= res["accuracy"] <= 1 and 0 <= res["roc_auc"] <= 1


def headless_browser_render(index: Path, shot: Path) -> str:
    """Load the report in headless Chromium: returns the rendered DOM and writes a screenshot."""
    flags = [
        "--headless",
        *CHROMIUM_FLAGS,
        "--allow-file-access-from-files",
        f"--user-data-dir={shot.parent / 'chrome-profile'}",
    ]
    url = index.resolve().as_uri()
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,2400", url], capture_output=True, timeout=120
    )
    return subprocess.run([CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout


@pytest.mark.notebooks
def test_all_notebooks_smoke_embedded(tmp_path, monkeypatch):
    """No dataset anywhere: the embedded synthetic sample, labelled as such."""
    data_dir = tmp_path / "nodata"
    data_dir.mkdir()
    _run_all(tmp_path / "out", {"FER_DATA_DIR": str(data_dir)})
    _check_outputs(tmp_path / "out", synthetic=True)
    if CHROMIUM:  # a real browser renders the report: table, links and headline figures present
        dom = headless_browser_render(tmp_path / "out" / "report" / "index.html", tmp_path / "shot.png")
        assert "<table>" in dom and "03_cnn_baseline.html" in dom and dom.count("<img") >= 5
        assert (tmp_path / "shot.png").stat().st_size > 20_000


@pytest.mark.notebooks
@pytest.mark.realdata
def test_all_notebooks_smoke_real(real_path, tmp_path):
    """A small real subset of FER-2013 (smoke profile sizes)."""
    _run_all(tmp_path / "out", {config.DATASET_ENV: str(real_path)})
    _check_outputs(tmp_path / "out", synthetic=False)


@pytest.mark.notebooks
@pytest.mark.realdata
def test_all_notebooks_smoke_ferplus(tmp_path):
    """One switch runs all six notebooks on FER+: 8 classes from the prepared data, votes shown, shipped skipped."""
    path = os.environ.get(config.FERPLUS_ENV)
    if not path:
        pytest.skip(f"{config.FERPLUS_ENV} is not set: the FER+ run needs FER+'s folders (see docs/FERPLUS.md)")
    out = tmp_path / "out"
    proc = _run_all(out, {config.FERPLUS_ENV: path}, ("--dataset", "ferplus"))
    assert "data: FER+ from" in proc.stdout
    assert (out / "figures" / "01_explore-tagger-agreement.png").exists()
    base = json.loads((out / "metrics" / "03_baseline.json").read_text())
    assert base["dataset"]["name"] == "FER+" and base["dataset"]["class_names"] == list(config.FERPLUS_CLASS_NAMES)
    test = base["metrics"]["baseline_cnn"]["splits"]["test"]
    assert len(test["confusion_matrix"]) == 8 and "contempt" in test["per_class"]
    ev = json.loads((out / "metrics" / "06_evaluate.json").read_text())["metrics"]
    assert "shipped" not in ev["per_model_test"] and len(ev["test"]["confusion_matrix"]) == 8
    from helpers import training

    assert training.read_class_names(out / "models" / "efficient_cnn.keras") == config.FERPLUS_CLASS_NAMES


def test_progress_line_prints_epoch_summaries_in_logs(tmp_path):
    """Not a terminal: one line per finished epoch, no step lines; the progress file is removed afterwards."""
    import io
    import time

    from helpers.cli.runner import ProgressLine

    path, out = tmp_path / "progress", io.StringIO()
    with ProgressLine(path, out):
        for text in ("m: epoch 1/2 step 3/10  ETA 1.0 min", "m: epoch 1/2 done  val_accuracy 0.500"):
            path.write_text(text)
            time.sleep(1.5)
    assert out.getvalue() == "    m: epoch 1/2 done  val_accuracy 0.500\n"
    assert not path.exists()


def test_the_data_choice_goes_only_to_the_notebooks_that_load_data(isolated_outputs):
    from helpers.cli import runner

    extra = {"dataset": "ferplus", "label_mode": "probability", "seed": 1}
    assert runner._prepare("02_preprocess_augment", "quick", extra) == {"profile": "quick", **extra}
    assert runner._prepare("03_cnn_baseline", "quick", extra) == {"profile": "quick", "seed": 1}
    assert "none prepared yet" in runner.describe_prepared()
    from helpers.data import datasets
    from helpers.data.synthetic import make_synthetic_dataset

    prepared = make_synthetic_dataset(seed=0, sizes={"train": 7, "val": 7, "test": 7})
    prepared.synthetic, prepared.name = False, "FER+"
    prepared.report.source = "/data/ferplus"
    datasets.save_prepared(prepared, {"profile": "smoke", "identity": prepared.identity()})
    assert runner.describe_prepared() == "data: prepared by notebook 02 (FER+ from /data/ferplus, profile smoke)"
