"""Architectures (pinned shapes and counts), the input pipeline, and the training loop's guarantees."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from helpers import backend, models, training
from helpers.data import pipeline
from helpers.data.synthetic import make_synthetic_dataset
from helpers.training import fit
from helpers.workbook import experiments, profiles

TINY = {"train": 192, "val": 64, "test": 64}


@pytest.fixture(scope="module")
def tiny():
    return make_synthetic_dataset(seed=0, sizes=TINY)


def layer_types(model) -> list[str]:
    return [ly.__class__.__name__ for ly in model.layers]


#: The published seed architectures, layer by layer (scaling by 1/255 is the only addition: parameter-free,
#: it replaces ImageDataGenerator's rescale so that inference cannot forget it).
SEED_BASELINE = (
    ["InputLayer", "Rescaling"]
    + ["Conv2D", "BatchNormalization", "Activation", "MaxPooling2D", "Dropout"] * 3
    + ["Flatten", "Dense", "BatchNormalization", "Activation", "Dropout", "Dense"]
)
SEED_BINARY = ["InputLayer", "Rescaling"] + ["Conv2D", "MaxPooling2D"] * 3 + ["Flatten", "Dense", "Dropout", "Dense"]


def test_seed_baseline_exact():
    m = models.baseline_cnn()
    assert m.count_params() == 684_935
    assert layer_types(m) == SEED_BASELINE
    assert m.input_shape == (None, 48, 48, 1) and m.output_shape == (None, 7)
    convs = [ly for ly in m.layers if ly.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [32, 64, 128] and all(c.padding == "same" for c in convs)
    assert [ly.units for ly in m.layers if ly.__class__.__name__ == "Dense"] == [128, 7]


def test_seed_binary_exact():
    m = models.binary_seed_cnn()
    assert m.count_params() == 59_076_673
    assert layer_types(m) == SEED_BINARY
    assert m.input_shape == (None, 256, 256, 3) and m.output_shape == (None, 1)


def test_literature_vgg_has_the_papers_layers_on_40px_faces():
    """Khaireddin & Chen's VGG variant: 8 convolutions 64-512, 2x2x512 features on 40x40, two 4096-unit layers."""
    m = models.build("vgg_fer")
    assert m.count_params() == 29_894_599
    assert m.input_shape == (None, 48, 48, 1) and m.output_shape == (None, 7)
    assert [ly.filters for ly in m.layers if isinstance(ly, keras.layers.Conv2D)] == [
        64,
        64,
        128,
        128,
        256,
        256,
        512,
        512,
    ]
    assert [ly.units for ly in m.layers if isinstance(ly, keras.layers.Dense)] == [4096, 4096, 7]
    assert next(ly for ly in m.layers if isinstance(ly, keras.layers.Flatten)).output.shape[1:] == (2 * 2 * 512,)


def test_a_notebooks_parameters_become_each_models_training_config():
    params = {"profile": "quick", "lr": 3e-3, "augment": "light", "budget_minutes": 2.0, "schedule": "cosine",
              "latency_repeats": 5,
              "model_kwargs": {"dcnn": {"width": 8}}, "model_overrides": {"dcnn": {"augment": "strong"}}}  # fmt: skip
    assert experiments.train_config(params, "dcnn") == training.TrainConfig(
        model="dcnn", model_kwargs={"width": 8}, lr=3e-3, augment="strong", budget_minutes=2.0, schedule="cosine"
    )  # the model's overrides win; parameters that are not training fields (profile, latency_repeats) stay out
    other = experiments.train_config(params, "efficient_cnn")  # no entries of its own: the shared settings
    assert (other.model_kwargs, other.augment, other.lr) == (None, "light", 3e-3)
    baseline = experiments.train_config(profiles.resolved("03", "standard"), "baseline_cnn")
    assert (baseline.lr, baseline.budget_minutes, baseline.augment, baseline.epochs) == (1e-4, 15, "seed", 500)


def test_full_profile_trains_the_literature_recipe_with_its_plateau_schedule(tmp_path):
    p = profiles.resolved("04", "full")
    assert "vgg_fer" in p["models_to_train"]
    cfg = experiments.train_config(p, "vgg_fer")  # as notebook 04 builds it
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.batch_size, cfg.epochs) == ("sgd", 0.01, 1e-4, 64, 300)
    callbacks = fit._callbacks(cfg, {}, tmp_path, 100, "vgg_fer", 10, 0)
    plateau = next(c for c in callbacks if isinstance(c, training.ResumableReduceLROnPlateau))
    assert (plateau.monitor, plateau.mode, plateau.factor, plateau.patience) == ("val_accuracy", "max", 0.75, 5)
    assert pipeline.get_augment(cfg.augment) == pipeline.Augment(
        rotation_deg=10, zoom=0.2, hflip=True, translate=0.2, erasing=0.5
    )
    default = fit._callbacks(training.TrainConfig(model="dcnn"), {}, tmp_path, 100, "dcnn", 10, 0)
    plateau = next(c for c in default if isinstance(c, training.ResumableReduceLROnPlateau))
    assert (plateau.monitor, plateau.mode, plateau.factor, plateau.patience) == ("val_loss", "min", 0.5, 3)


def test_no_inference_only_layers():
    """Every builder's model computes the same function in training and inference mode, but for dropout/BN."""
    for name in set(models.BUILDERS) - set(models.IMAGENET):  # keras.applications' own layers are theirs
        types = set(layer_types(models.build(name)))
        assert types <= {
            "InputLayer",
            "Rescaling",
            "Resizing",
            "Conv2D",
            "BatchNormalization",
            "Activation",
            "MaxPooling2D",
            "Dropout",
            "Flatten",
            "Dense",
            "Add",
            "GlobalAveragePooling2D",
        }, (name, types)


def test_own_models_are_smaller():
    seed, compact = models.binary_seed_cnn(), models.binary_compact_cnn()
    assert seed.count_params() == 59_076_673
    assert compact.count_params() == 77_969
    assert compact.name == "binary_compact_cnn"
    # the standard profile's compact model stays under 1% of the seed architecture's parameters
    wide = models.binary_compact_cnn(widths=profiles.OUR_BINARY_WIDTHS)
    assert wide.count_params() == 481_001 < seed.count_params() / 100
    assert models.flops_per_image(compact) < models.flops_per_image(seed) / 10
    assert models.dcnn().count_params() > models.baseline_cnn().count_params()


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model"):
        models.build("resnet9000")


def test_augment_presets_and_shapes():
    x = np.random.default_rng(0).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    for name in pipeline.AUGMENTATIONS:
        ds = pipeline.make_dataset(x, np.arange(8) % 7, n_classes=7, batch_size=4, training=True, augment=name)
        xb, yb = (keras.ops.convert_to_numpy(t) for t in next(iter(ds)))
        assert xb.shape == (4, 48, 48, 1) and yb.shape == (4, 7)
        assert float(xb.min()) >= 0 and float(xb.max()) <= 255.5
    with pytest.raises(ValueError, match="unknown augmentation"):
        pipeline.get_augment("wild")


def test_affine_identity_when_disabled():
    x = np.random.default_rng(1).integers(0, 256, (4, 48, 48, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(pipeline.RandomAffine()(x, training=True))
    np.testing.assert_allclose(out, x, atol=1e-3)


def test_class_weights_balance():
    w = pipeline.class_weights(np.array([0] * 90 + [1] * 10), 3)
    assert w[1] == pytest.approx(9 * w[0]) and w[2] == 1.0


def _cfg(**kw) -> training.TrainConfig:
    base = dict(model="baseline_cnn", epochs=2, batch_size=32, augment="seed", seed=7, lr=1e-3, patience=5)
    return training.TrainConfig(**{**base, **kw})


def test_same_seed_same_numbers(tiny, tmp_path):
    a = training.train(_cfg(), tiny.split("train"), tiny.split("val"), name="a", models_dir=tmp_path, verbose=0)
    b = training.train(_cfg(), tiny.split("train"), tiny.split("val"), name="b", models_dir=tmp_path, verbose=0)
    cols = ["loss", "accuracy", "val_loss", "val_accuracy"]
    np.testing.assert_array_equal(a.history[cols].to_numpy(), b.history[cols].to_numpy())
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_saved_model_loads_safely(tiny, tmp_path):
    r = training.train(_cfg(epochs=1), tiny.split("train"), tiny.split("val"), name="m", models_dir=tmp_path, verbose=0)
    assert r.model_path == tmp_path / "m.keras"
    loaded = training.load_model(r.model_path)  # safe_mode=True
    x = tiny.split("test")[0][:5, ..., None].astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), r.model.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="run the training notebook"):
        training.load_model(tmp_path / "missing.keras")


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, keras
    from helpers import training
    from helpers.data.synthetic import make_synthetic_dataset
    ds = make_synthetic_dataset(seed=0, sizes={"train": 192, "val": 64, "test": 64})

    class Kill(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 2 and batch == 2:  # mid-way through the third epoch
                os.kill(os.getpid(), signal.SIGKILL)

    cfg = training.TrainConfig(model="baseline_cnn", epochs=4, batch_size=32, augment="seed", seed=7, lr=1e-3,
                               patience=10)
    training.train(cfg, ds.split("train"), ds.split("val"), name="k", models_dir=sys.argv[1], verbose=0,
                   callbacks=[Kill()])
""")


def test_killed_run_resumes_from_checkpoint(tiny, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    run = tmp_path / "k"
    state = training.read_state(run)
    assert state["epoch"] == 2 and not state["complete"]
    assert not (tmp_path / "k.keras").exists()  # no final model from an unfinished run
    assert sorted(p.name for p in run.iterdir()) == ["LATEST", "epoch-0002"]  # nothing half-written or stale
    assert sorted(p.name for p in (run / "epoch-0002").iterdir()) == [
        "best.keras",
        "checkpoint.keras",
        "history.csv",
        "state.json",
    ]
    ckpt = training.load_model(run / "epoch-0002" / "checkpoint.keras")
    steps = int(np.ceil(len(tiny.split("train")[1]) / 32))
    assert int(ckpt.optimizer.iterations.numpy()) == 2 * steps
    cfg = training.TrainConfig(
        model="baseline_cnn", epochs=4, batch_size=32, augment="seed", seed=7, lr=1e-3, patience=10
    )
    r = training.train(cfg, tiny.split("train"), tiny.split("val"), name="k", models_dir=tmp_path, verbose=0)
    assert r.resumed_from == 2
    assert list(r.history["epoch"]) == [1, 2, 3, 4]
    resumed = training.load_model(training.committed_dir(run) / "checkpoint.keras")
    assert int(resumed.optimizer.iterations.numpy()) == 4 * steps
    assert training.read_state(run)["complete"]


def test_changed_config_starts_fresh(tiny, tmp_path):
    training.train(_cfg(epochs=1), tiny.split("train"), tiny.split("val"), name="c", models_dir=tmp_path, verbose=0)
    r = training.train(
        _cfg(epochs=1, lr=5e-4), tiny.split("train"), tiny.split("val"), name="c", models_dir=tmp_path, verbose=0
    )
    assert r.resumed_from == 0 and len(r.history) == 1


STRATEGY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from helpers import training
    from helpers.data.synthetic import make_synthetic_dataset
    ds = make_synthetic_dataset(seed=0, sizes={"train": 128, "val": 80, "test": 32})  # Keras needs a full first batch
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    cfg = training.TrainConfig(model="efficient_cnn", epochs=2, batch_size=32, augment="none", lr=1e-3)
    r = training.train(cfg, ds.split("train"), ds.split("val"), name="m", models_dir=sys.argv[1],
                       verbose=0, distribution=strategy)
    var = r.model.trainable_variables[0]
    x = ds.split("val")[0][:8, ..., None].astype("float32")
    same = np.allclose(r.model.predict(x, verbose=0), training.load_model(r.model_path).predict(x, verbose=0))
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "epochs": len(r.history),
                      "loss": [float(v) for v in r.history["loss"]], "reloads_same": bool(same),
                      "variable": type(getattr(var, "value", var)).__name__}))
    """
)


def test_trains_under_mirrored_strategy(tmp_path):
    """The same train() call runs under tf.distribute (two logical CPU replicas stand in for two GPUs)."""
    if backend.name() != "tensorflow":
        pytest.skip("tf.distribute is TensorFlow's; JAX's data-parallel run is in test_backends.py")
    proc = subprocess.run(
        [sys.executable, "-c", STRATEGY_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2 and out["epochs"] == 2
    assert all(np.isfinite(out["loss"])) and out["reloads_same"]
    assert "Mirrored" in out["variable"], out
    assert (tmp_path / "m.keras").exists()


def test_budget_learning_rate_shape():
    assert training.budget_lr(1.0, 0.0, "cosine", warmup=0.1) == 0.0
    assert training.budget_lr(1.0, 0.1, "cosine", warmup=0.1) == pytest.approx(1.0)
    assert training.budget_lr(1.0, 0.55, "cosine", warmup=0.1) == pytest.approx(0.5)
    assert training.budget_lr(1.0, 0.55, "linear", warmup=0.1) == pytest.approx(0.5)
    assert training.budget_lr(1.0, 1.0, "cosine") == pytest.approx(0.0, abs=1e-12)
    assert training.budget_lr(1.0, 1.7, "linear") == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="schedule must be"):
        training.TrainConfig(model="baseline_cnn", budget_minutes=1.0, schedule="plateau")
    with pytest.raises(ValueError, match="set budget_minutes"):
        training.TrainConfig(model="baseline_cnn", schedule="linear")


def test_budget_ends_training_on_time_with_rate_near_zero(tiny, tmp_path):
    budget_min = 0.4  # several epochs on any backend, the first epoch's compilation included
    cfg = _cfg(epochs=500, budget_minutes=budget_min, schedule="cosine", patience=500)
    r = training.train(cfg, tiny.split("train"), tiny.split("val"), name="b", models_dir=tmp_path, verbose=0)
    state = training.read_state(tmp_path / "b")
    assert state["budget_spent"] and 1 < len(r.history) < 500
    per_epoch = float(r.history["seconds"].median())
    assert budget_min * 60 <= state["train_seconds"] <= budget_min * 60 + 2 * per_epoch + 5
    assert r.history["lr"].iloc[-1] < 0.05 * cfg.lr  # annealed to (almost) zero at the budget
    assert r.history["lr"].is_monotonic_decreasing  # epoch-end rates follow the decay (its shape: test above)
    assert list(r.history["images_seen"]) == sorted(r.history["images_seen"])
    assert r.images_seen >= len(tiny.split("train")[0]) and r.train_minutes == pytest.approx(
        state["train_seconds"] / 60
    )


BUDGET_KILL_SCRIPT = KILL_SCRIPT.replace(
    "patience=10)", 'patience=500, budget_minutes=0.5, schedule="cosine")'
).replace("epochs=4", "epochs=500")


def test_killed_budget_run_resumes_with_its_elapsed_time(tiny, tmp_path):
    assert "budget_minutes" in BUDGET_KILL_SCRIPT
    proc = subprocess.run(
        [sys.executable, "-c", BUDGET_KILL_SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    before = training.read_state(tmp_path / "k")
    assert before["epoch"] == 2 and before["train_seconds"] > 0 and not before["budget_spent"]
    cfg = training.TrainConfig(
        model="baseline_cnn",
        epochs=500,
        batch_size=32,
        augment="seed",
        seed=7,
        lr=1e-3,
        patience=500,
        budget_minutes=0.5,
        schedule="cosine",
    )
    r = training.train(cfg, tiny.split("train"), tiny.split("val"), name="k", models_dir=tmp_path, verbose=0)
    after = training.read_state(tmp_path / "k")
    assert r.resumed_from == 2 and after["budget_spent"] and after["complete"]
    per_epoch = float(r.history["seconds"].median())
    assert 30 <= after["train_seconds"] <= 30 + 2 * per_epoch + 5
    assert r.history["minutes"].iloc[1] == pytest.approx(before["train_seconds"] / 60)


def test_training_writes_progress_for_the_runner(tiny, tmp_path, monkeypatch):
    from helpers import config

    progress = tmp_path / "progress"
    monkeypatch.setenv(config.PROGRESS_ENV, str(progress))
    training.train(_cfg(epochs=2), tiny.split("train"), tiny.split("val"), name="p", models_dir=tmp_path, verbose=0)
    line = progress.read_text()
    assert line.startswith("p: epoch 2/2 done  val_accuracy ") and "ETA" in line


def test_images_seen_counts_the_steps_of_each_epoch(tmp_path):
    """A budget can end an epoch early: only the steps taken count."""
    model = models.compile_model(models.baseline_cnn(), 1e-3)
    cfg = _cfg(batch_size=32)
    state = fit._fresh_state(cfg, "k", "d")
    stopper = training.ResumableEarlyStopping(monitor="val_accuracy", mode="max", patience=5)
    commit = training.EpochCommit(tmp_path, cfg, state, n_train=1000, stopper=stopper, stateful=[stopper])
    for cb in (stopper, commit):
        cb.set_model(model)
    stopper.on_train_begin()
    for epoch, steps in enumerate((32, 5)):  # a full epoch (1,000 images), then 5 steps before the budget ran out
        commit.on_epoch_begin(epoch)
        for b in range(steps):
            commit.on_train_batch_end(b)
        logs = {"val_accuracy": 0.5, "val_loss": 1.0}
        stopper.on_epoch_end(epoch, logs)
        commit.on_epoch_end(epoch, logs)
    assert [row["images_seen"] for row in state["history"]] == [1000, 1160]
    assert training.read_state(tmp_path)["callbacks"]["ResumableEarlyStopping"]["wait"] == 1


def test_finished_run_is_reused_only_for_the_same_config_and_data(tiny, tmp_path):
    x, y = tiny.split("train")
    first = training.train(_cfg(epochs=1), (x, y), tiny.split("val"), name="r", models_dir=tmp_path, verbose=0)
    again = training.train(_cfg(epochs=1), (x, y), tiny.split("val"), name="r", models_dir=tmp_path, verbose=0)
    assert not first.reused and again.reused and again.history.equals(first.history)
    xv = tiny.split("val")[0][:4, ..., None].astype("float32")
    np.testing.assert_allclose(again.model.predict(xv, verbose=0), first.model.predict(xv, verbose=0), atol=1e-6)
    changed = x.copy()
    changed[0] = 255 - changed[0]  # one training image differs: a different run
    other = training.train(_cfg(epochs=1), (changed, y), tiny.split("val"), name="r", models_dir=tmp_path, verbose=0)
    assert not other.reused and other.resumed_from == 0
    fresh = training.train(
        _cfg(epochs=1), (changed, y), tiny.split("val"), name="r", models_dir=tmp_path, verbose=0, resume=False
    )
    assert not fresh.reused


def test_early_stopping_counters_survive_a_resume(tiny, tmp_path):
    """Keras' EarlyStopping resets its counters in on_train_begin; a resumed run keeps the saved ones."""
    stopper = training.ResumableEarlyStopping(
        monitor="val_accuracy", mode="max", patience=3, saved={"wait": 2, "best": 0.61, "best_epoch": 4}
    )
    stopper.set_model(models.compile_model(models.baseline_cnn(), 1e-3))
    stopper.on_train_begin()
    assert (stopper.wait, stopper.best, stopper.best_epoch) == (2, 0.61, 4)
    stopper.on_epoch_end(7, {"val_accuracy": 0.60})  # a third epoch without improvement: stop
    assert stopper.model.stop_training and stopper.counters()["stopped_epoch"] == 7
    plateau = training.ResumableReduceLROnPlateau(monitor="val_loss", patience=3, saved={"wait": 1, "best": 0.9})
    plateau.set_model(stopper.model)
    plateau.on_train_begin()
    assert (plateau.wait, plateau.best) == (1, 0.9)


def test_commit_leaves_the_previous_epoch_current_when_writing_fails(tmp_path, monkeypatch):
    model = models.compile_model(models.baseline_cnn(), 1e-3)
    state = fit._fresh_state(_cfg(), "k", "d")
    state["epoch"] = 1
    training.commit_epoch(tmp_path, 1, model, state, improved=True)

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken_save)
    state["epoch"] = 2
    with pytest.raises(OSError, match="disk full"):
        training.commit_epoch(tmp_path, 2, model, state, improved=False)
    assert training.read_state(tmp_path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LATEST", "epoch-0001"]


def test_logged_validation_accuracy_is_the_saved_models(tiny, tmp_path):
    """The epoch loop's validation metrics cover every validation image: they match the best model's predictions."""
    from helpers.evaluation import predict_proba

    r = training.train(_cfg(epochs=2), tiny.split("train"), tiny.split("val"), name="v", models_dir=tmp_path, verbose=0)
    xv, yv = tiny.split("val")
    best = r.history.iloc[r.best_epoch - 1]
    assert best["val_accuracy"] == pytest.approx(float((predict_proba(r.model, xv).argmax(1) == yv).mean()), abs=1e-6)
    assert len(r.history) == 2 and r.images_seen == 2 * len(tiny.split("train")[1])


def test_class_weights_reach_the_loss(tiny, tmp_path):
    """With class weights, the same seed gives a different first-epoch loss than without them."""
    kw = dict(epochs=1, augment="none")
    plain = training.train(_cfg(**kw), tiny.split("train"), tiny.split("val"), name="p", models_dir=tmp_path, verbose=0)
    cfg = _cfg(**kw, class_weight=True)
    weighted = training.train(cfg, tiny.split("train"), tiny.split("val"), name="w", models_dir=tmp_path, verbose=0)
    assert np.isfinite(weighted.history["loss"].iloc[0])
    assert weighted.history["loss"].iloc[0] != pytest.approx(plain.history["loss"].iloc[0], rel=1e-4)
