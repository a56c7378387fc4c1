"""The workbook on every Keras backend: TensorFlow, JAX and PyTorch.

These tests run under whichever backend ``KERAS_BACKEND`` selects (``make test`` runs them under TensorFlow,
``make test-backend BACKEND=jax`` under JAX in an environment without TensorFlow). Tests that need another
backend start it in a subprocess, from its ``make setup BACKEND=...`` environment, and skip when there is none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from helpers import backend, config, evaluation, training
from helpers.data import pipeline
from helpers.data.synthetic import make_synthetic_dataset
from helpers.models import shipped

from .conftest import face

HERE = backend.name()
ROOT = Path(__file__).resolve().parents[1]

#: Tests that start other backends' interpreters run once, from the TensorFlow suite (``make test``).
from_main_suite = pytest.mark.skipif(
    HERE != "tensorflow", reason="started from the TensorFlow suite (make test), in each backend's own environment"
)


def _python(name: str) -> str:
    python = backend.python_for(name)
    if python is None:
        pytest.skip(f"no {name} environment here: `make setup BACKEND={name}` makes one")
    return python


def _run(name: str, script: str, *args: str, env: dict | None = None) -> dict:
    """Run ``script`` under Keras on ``name`` in its own interpreter; returns its last line, parsed as JSON."""
    full_env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [_python(name), "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**full_env, **(env or {})},
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_backend_is_the_one_keras_backend_names():
    assert os.environ.get("KERAS_BACKEND", "tensorflow") == HERE
    assert HERE in config.KERAS_BACKENDS


def test_tensorflow_only_features_say_what_to_do():
    if HERE == "tensorflow":
        backend.require_tensorflow("LiteRT export")  # no error
        return
    with pytest.raises(backend.BackendUnsupported, match="KERAS_BACKEND=tensorflow"):
        backend.require_tensorflow("LiteRT export")


def test_batches_come_from_numpy_on_every_backend():
    x = np.stack([face(i) for i in range(10)])
    ds = pipeline.make_dataset(x, np.arange(10) % 7, n_classes=7, batch_size=4, training=True, augment="strong")
    assert isinstance(ds, pipeline.ArrayBatches) and len(ds) == 3
    first = [b[0] for b in (ds[i] for i in range(len(ds)))]
    assert [b.shape for b in first] == [(4, 48, 48, 1), (4, 48, 48, 1), (2, 48, 48, 1)]
    ds.on_epoch_end()
    again = pipeline.make_dataset(x, np.arange(10) % 7, n_classes=7, batch_size=4, training=True, augment="strong")
    again.set_epoch(1)  # a resumed run sees epoch 2's shuffle order and augmentation, not epoch 1's
    assert np.array_equal(ds._order, again._order) and not np.array_equal(ds._order, np.arange(10))
    np.testing.assert_array_equal(ds[0][0], again[0][0])


NO_TF_SCRIPT = """
    import json, sys, tempfile
    import numpy as np
    from helpers import evaluation, inference, training
    from helpers.data.synthetic import make_synthetic_dataset
    ds = make_synthetic_dataset(seed=0, sizes={"train": 64, "val": 32, "test": 16})
    cfg = training.TrainConfig(model="baseline_cnn", epochs=2, batch_size=32, augment="strong_mixup")
    with tempfile.TemporaryDirectory() as d:
        r = training.train(cfg, ds.split("train"), ds.split("val"), name="m", models_dir=d, verbose=0)
        x = ds.split("test")[0]
        probs = evaluation.predict_tta(r.model, x, "flip")
        cam = evaluation.grad_cam(r.model, x[:2])
        predictor = inference.EmotionPredictor(r.model, detector="haar")
        predictor.predict_image(np.repeat(x[0][..., None], 3, -1))
        crops = predictor.classify_crops(x[:3])
    tf = sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")
    print(json.dumps({"tf_modules": tf, "probs_sum": float(probs.sum(1).mean()), "cam": list(cam.shape),
                      "epochs": len(r.history), "crops": list(crops.shape)}))
"""


@from_main_suite
def test_training_evaluation_and_inference_never_import_tensorflow():
    """Train (with augmentation and mixup), TTA, Grad-CAM and the face predictor run on PyTorch without TensorFlow.

    (JAX: ``make test-backend BACKEND=jax`` runs the training and evaluation tests in an environment without it.)
    """
    name = "torch"
    out = _run(name, NO_TF_SCRIPT)
    assert out["tf_modules"] == [], out["tf_modules"][:5]
    assert out["epochs"] == 2 and out["probs_sum"] == pytest.approx(1.0, abs=1e-4) and out["cam"] == [2, 48, 48]
    assert out["crops"] == [3, 7]


PREDICT_SCRIPT = """
    import json, sys
    import numpy as np
    from helpers import evaluation, training
    images = np.load(sys.argv[1])
    out = {}
    for path in sys.argv[2:]:
        out[path] = evaluation.predict_proba(training.load_model(path), images).tolist()
    print(json.dumps(out))
"""


def real_test_faces(n: int) -> np.ndarray:
    from helpers.data.fer2013 import load_fer2013

    x, _ = load_fer2013().split("test")
    return x[np.linspace(0, len(x) - 1, n).astype(int)]


@from_main_suite
@pytest.mark.parametrize("other", [b for b in config.KERAS_BACKENDS if b != HERE])
def test_saved_models_predict_the_same_on_every_backend(trained_models, other, tmp_path):
    """Every architecture, trained and saved here, and the shipped model load under ``other`` and give the same
    probabilities (on real FER-2013 test faces when FER2013_PATH is set)."""
    images = real_test_faces(16) if os.environ.get(config.DATASET_ENV) else np.stack([face(i) for i in range(8)])
    np.save(tmp_path / "images.npy", images)
    paths = [str(p) for p in trained_models.values()] + [str(shipped.MODEL_FILE)]
    theirs = _run(other, PREDICT_SCRIPT, str(tmp_path / "images.npy"), *paths)
    for path in paths:
        mine = evaluation.predict_proba(training.load_model(path), images)
        np.testing.assert_allclose(np.array(theirs[path]), mine, atol=2e-5, err_msg=f"{path} on {other}")


DATA_PARALLEL_SCRIPT = """
    import json, sys
    import numpy as np
    import keras
    from helpers import backend, training
    from helpers.data.synthetic import make_synthetic_dataset
    ds = make_synthetic_dataset(seed=0, sizes={"train": 128, "val": 64, "test": 16})
    dist = backend.get_distribution()
    cfg = training.TrainConfig(model="efficient_cnn", epochs=2, batch_size=32, augment="light")
    r = training.train(cfg, ds.split("train"), ds.split("val"), name="m", models_dir=sys.argv[1], verbose=0)
    kernel = r.model.trainable_variables[0].value
    x = ds.split("val")[0][:8, ..., None].astype("float32")
    same = np.allclose(r.model.predict(x, verbose=0), training.load_model(r.model_path).predict(x, verbose=0))
    print(json.dumps({"devices": len(backend.devices()), "distribution": type(dist).__name__,
                      "replicas": backend.replicas(dist), "weight_devices": len(kernel.sharding.device_set),
                      "loss": [float(v) for v in r.history["loss"]], "reloads_same": bool(same)}))
"""


@from_main_suite
def test_jax_trains_data_parallel_over_several_devices(tmp_path):
    """On several devices JAX trains with keras.distribution.DataParallel, chosen by the same train() call.

    Two logical CPU devices stand in for two GPUs.
    """
    xla = "--xla_force_host_platform_device_count=2"
    out = _run("jax", DATA_PARALLEL_SCRIPT, str(tmp_path), env={"XLA_FLAGS": xla})
    assert out["devices"] == 2 and out["distribution"] == "DataParallel" and out["replicas"] == 2
    assert out["weight_devices"] == 2  # weights are replicated on both devices
    assert all(np.isfinite(out["loss"])) and out["reloads_same"]
    assert (tmp_path / "m.keras").exists()


def test_compiled_forward_is_made_once_per_model_and_sees_new_weights():
    """One compiled call per model (TTA and batched prediction do not retrace), always with its current weights."""
    from helpers import models

    model = models.baseline_cnn()
    fn = backend.compiled_forward(model)
    assert backend.compiled_forward(model) is fn
    x = np.stack([face(i) for i in range(2)])[..., None].astype("float32")
    before = fn(x)
    model.layers[-1].kernel.assign(np.zeros(model.layers[-1].kernel.shape, "float32"))
    after = fn(x)
    assert not np.allclose(before, after) and np.allclose(after.sum(1), 1.0, atol=1e-5)


def test_batch_must_divide_over_devices(tmp_path):
    ds = make_synthetic_dataset(seed=0, sizes={"train": 16, "val": 8, "test": 8})
    cfg = training.TrainConfig(model="baseline_cnn", epochs=1, batch_size=33)

    class Two:
        num_replicas_in_sync = 2

    with pytest.raises(ValueError, match="divide evenly over 2 devices"):
        training.train(cfg, ds.split("train"), ds.split("val"), models_dir=tmp_path, distribution=Two(), verbose=0)


NO_JUPYTER_SCRIPT = """
    import sys
    sys.modules["IPython"] = sys.modules["papermill"] = None  # as on a GPU server with no Jupyter: imports fail
    from helpers.cli import runner
    sys.exit(runner.main(["--engine", "python", "--profile", "smoke", "--only", "02", "03"]))
"""


@pytest.mark.notebooks
def test_notebook_03_smoke_run_on_this_backend_without_jupyter(tmp_path):
    """Notebooks 02 and 03 run end to end on this backend, in-process with no Jupyter installed: the way
    ``scripts/gpu_jax.sh`` runs them on a GPU server (TensorFlow runs every notebook in test_notebooks.py)."""
    if HERE == "tensorflow":
        pytest.skip("the TensorFlow run of every notebook is in test_notebooks.py")
    env = {k: v for k, v in os.environ.items() if k != config.DATASET_ENV}
    env.update(FER_OUTPUTS=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NO_JUPYTER_SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "engine python" in proc.stdout and "Validation accuracy" in proc.stdout  # the narrative, printed
    metrics = json.loads((tmp_path / "metrics" / "03_baseline.json").read_text())
    assert metrics["keras_backend"] == HERE
    test = metrics["metrics"]["baseline_cnn"]["splits"]["test"]
    assert sum(map(sum, test["confusion_matrix"])) == test["n"] and 0 <= test["accuracy"] <= 1
    assert (tmp_path / "models" / "baseline_cnn.keras").stat().st_size > 0
    assert (tmp_path / "figures" / "03_baseline-learning-curves.png").stat().st_size > 0


def test_plain_engine_names_the_failing_cell(tmp_path, monkeypatch, isolated_outputs):
    """A failing cell stops the in-process run with the notebook, the cell and the error."""
    from helpers.cli import runner

    nb = {"cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "x = 1  # a parameter"},
        {"cell_type": "markdown", "metadata": {}, "source": "text"},
        {"cell_type": "code", "metadata": {}, "source": "%matplotlib inline\ny = x"},
        {"cell_type": "code", "metadata": {}, "source": "assert x == 2, 'x is ' + str(x)"},
    ]}  # fmt: skip
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb))
    monkeypatch.setattr(config, "NOTEBOOKS_DIR", tmp_path)
    monkeypatch.setattr(runner, "params_for", lambda name, profile, extra: {"x": 2})
    assert runner.run_plain("nb", "smoke") >= 0  # the injected value wins over the cell's default
    monkeypatch.setattr(runner, "params_for", lambda name, profile, extra: {"x": 3})
    with pytest.raises(SystemExit, match=r"notebook nb, cell 3 .*AssertionError: x is 3"):
        runner.run_plain("nb", "smoke")
