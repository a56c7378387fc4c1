"""Benchmarks, side by side in one run, written to outputs/bench/bench.json: ``python -m helpers bench``.

1. Training throughput: our batch pipeline vs the seed's ImageDataGenerator, same model and augmentation.
2. FER-2013 CSV parsing: ours (vectorised) vs the seed's per-row loop.
3. Inference: single-face latency of model.predict vs a compiled call vs TFLite; batch throughput.
4. Face detectors: faces found, false detections and milliseconds per image on the same scenes; and live video:
   frames per second of detect + classify every face on the same 640x480 webcam-like frames (``live``).
5. Training time per full epoch (train split) for each model, with parameters and FLOPs.
6. Keras backends (TensorFlow, JAX, PyTorch), each in its own environment: training images/s of one epoch per
   model, and the accuracy of the same training run (same data, epochs and seed) with a paired bootstrap.
7. Sustained training rate: consecutive budgeted runs of ``model.fit`` on ``tf.data`` against our epoch loop,
   with and without deterministic kernels (``--sustained-runs``, ``--sustained-minutes``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from helpers import artifacts, backend, config, models, training
from helpers.data import pipeline
from helpers.data.datasets import stratified_sample
from helpers.data.fer2013 import load_csv, load_fer2013
from helpers.evaluation import classification_metrics, latency_ms, median_ms, paired_bootstrap, predict_proba
from helpers.inference import faces, photos
from helpers.training import loop


def _fit_rate(model: keras.Model, data, steps: int) -> float:
    """Steps per second of one model.fit over ``steps`` steps."""
    t = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps / (time.perf_counter() - t)


def interleaved_best(arms: dict[str, tuple[keras.Model, object]], steps: int, rounds: int) -> dict[str, list[float]]:
    """Steps/s of every arm, measured in alternating rounds so drift in machine speed hits all arms alike.

    TensorFlow on this 2-core machine sometimes runs a whole fit at one core's speed (seen: 375 vs 650 img/s
    for the same call); the best of several alternating rounds is the robust figure, all rounds are kept.
    """
    for model, data in arms.values():
        model.fit(data, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)  # warm-up: trace and allocate
    trials: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(rounds):
        for name, (model, data) in arms.items():
            trials[name].append(_fit_rate(model, data, steps))
    return trials


def bench_pipeline(x: np.ndarray, y: np.ndarray, steps: int, batch: int = 64, rounds: int = 3) -> dict:
    """Baseline CNN training throughput: ours vs ImageDataGenerator (same augmentation strength).

    A third arm feeds one pre-augmented batch over and over (zero input cost): the model-bound ceiling
    that no input pipeline can beat, so ``ceiling / seed`` is the largest speed-up possible.
    """
    backend.require_tensorflow("The input-pipeline benchmark (against the seed's ImageDataGenerator)")
    import tensorflow as tf

    # The seed tutorial's pipeline. Keras 3 keeps ImageDataGenerator only in its legacy module; it is imported
    # here, lazily, because measuring against it is the point of this benchmark.
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    onehot = keras.utils.to_categorical(y, 7)
    training.set_seed(0, deterministic=False)
    ours = pipeline.make_dataset(x, y, n_classes=7, batch_size=batch, training=True, augment="seed")
    gen = ImageDataGenerator(
        rotation_range=30, shear_range=0.2, zoom_range=0.2, horizontal_flip=True, fill_mode="nearest"
    )
    flow = gen.flow(x[..., None].astype("float32"), onehot, batch_size=batch, seed=0)
    ceiling = tf.data.Dataset.from_tensors(ours[0]).repeat()
    arms = {
        name: (models.compile_model(models.baseline_cnn(), 1e-3), data)
        for name, data in (("ours", ours), ("seed", flow), ("ceiling", ceiling))
    }
    trials = interleaved_best(arms, steps, rounds)
    ips = {name: max(t) * batch for name, t in trials.items()}
    ours_data = batch * steps / _elapsed(lambda: [ours[i % len(ours)] for i in range(1, steps + 1)])
    seed_data = batch * steps / _elapsed(lambda: [flow[i % len(flow)] for i in range(steps)])
    return {
        "ours_images_per_s": ips["ours"],
        "imagedatagenerator_images_per_s": ips["seed"],
        "speedup": ips["ours"] / ips["seed"],
        "model_only_ceiling_images_per_s": ips["ceiling"],
        "max_possible_speedup": ips["ceiling"] / ips["seed"],
        "ours_fraction_of_ceiling": ips["ours"] / ips["ceiling"],
        "trials_images_per_s": {k: [round(v * batch, 1) for v in t] for k, t in trials.items()},
        "data_only_ours_images_per_s": ours_data,
        "data_only_imagedatagenerator_images_per_s": seed_data,
        "data_only_speedup": ours_data / seed_data,
        "steps_timed": steps,
        "rounds": rounds,
        "batch_size": batch,
    }


def _elapsed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _csv_text(images: np.ndarray, labels: np.ndarray, splits: np.ndarray) -> str:
    usage = {v: k for k, v in config.USAGE_TO_SPLIT.items()}
    rows = [f'{lab},"{" ".join(map(str, im.ravel()))}",{usage[s]}' for im, lab, s in zip(images, labels, splits)]
    return "emotion,pixels,Usage\n" + "\n".join(rows) + "\n"


def bench_csv(images: np.ndarray, labels: np.ndarray, splits: np.ndarray, rounds: int = 3) -> dict:
    """Parse a FER-2013 CSV (built from the loaded images): ours vs the seed's per-row loop."""
    text = _csv_text(images, labels, splits)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fer2013.csv"
        path.write_text(text)
        t_ours, t_seed = [], []
        for _ in range(rounds):  # alternating, best of rounds (as for training throughput)
            t = time.perf_counter()
            ours = load_csv(path)[0]
            t_ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            df = pd.read_csv(path)
            seed = np.stack([np.array(row.split(), dtype="float32").reshape(48, 48) for row in df["pixels"]])
            t_seed.append(time.perf_counter() - t)
        t_ours, t_seed = min(t_ours), min(t_seed)
    assert np.array_equal(ours, seed.astype(np.uint8)), "parsers disagree"
    return {
        "rows": int(len(images)),
        "rounds": rounds,
        "ours_s": t_ours,
        "seed_loop_s": t_seed,
        "speedup": t_seed / t_ours,
        "csv_mb": len(text) / 1e6,
    }


def bench_inference(model: keras.Model, face: np.ndarray, repeats: int = 100) -> dict:
    """Single-face latency (median ms) of three paths, and batch throughput of the compiled call."""
    x = face[None, ..., None].astype("float32")
    fwd = backend.compiled_forward(model)
    out = latency_ms(model, face, repeats)  # predict_ms and compiled_ms, as notebooks 03-04 record them
    try:
        backend.require_tensorflow("LiteRT export")
        import tensorflow as tf

        with tempfile.TemporaryDirectory() as d:
            model.export(f"{d}/model.tflite", format="litert", verbose=False)
            interp = tf.lite.Interpreter(model_path=f"{d}/model.tflite", num_threads=2)
        interp.allocate_tensors()
        i_in, i_out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]

        def tflite():
            interp.set_tensor(i_in, x)
            interp.invoke()
            return interp.get_tensor(i_out)

        out["tflite_ms"] = median_ms(tflite, repeats)
    except Exception as e:  # LiteRT needs TensorFlow, and its availability varies by TensorFlow build
        out["tflite_error"] = f"{e.__class__.__name__}: {str(e).splitlines()[0][:160]}"
    batch = np.repeat(x, 256, axis=0)
    t_batch = median_ms(lambda: fwd(batch), 10)
    out["batch256_images_per_s"] = 256 / (t_batch / 1000)
    fastest = min(v for k, v in out.items() if k.endswith("_ms"))
    out["fastest_single_ms"] = fastest
    return out


def bench_epochs(
    x: np.ndarray,
    y: np.ndarray,
    names: list[str],
    steps: int,
    batch: int = 64,
    full_train: int = 28709,
    rounds: int = 2,
) -> dict:
    """Seconds per full training epoch (extrapolated from ``steps`` timed steps), parameters and FLOPs."""
    backend.require_tensorflow("The epoch-time benchmark")
    ds = pipeline.make_dataset(x, y, n_classes=7, batch_size=batch, training=True, augment="seed")
    arms = {name: (models.compile_model(models.build(name), 1e-3), ds) for name in names}
    trials = interleaved_best(arms, steps, rounds)
    out = {}
    for name, (m, _) in arms.items():
        steps_per_s = max(trials[name])
        out[name] = {
            "params": int(m.count_params()),
            "mflops_per_image": models.flops_per_image(m) / 1e6,
            "images_per_s": steps_per_s * batch,
            "seconds_per_full_epoch": full_train / batch / steps_per_s,
        }
    return out


# --------------------------------------------------------------------------- sustained training rate

_SUSTAINED = (
    "import json, sys; from helpers.cli import bench; "
    "print(json.dumps(bench.sustained_trial(sys.argv[1], float(sys.argv[2]), sys.argv[3])))"
)
#: Arms of the sustained-rate benchmark: how batches reach the compiled step, and whether kernels are deterministic.
SUSTAINED_ARMS = ("keras_fit_tfdata", "our_loop", "our_loop_nondeterministic")


class _StopAfter(keras.callbacks.Callback):
    """Counts training steps and stops training after ``seconds`` of wall clock (the first step excluded)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.steps, self.t0 = seconds, 0, None

    def on_train_batch_end(self, batch, logs=None):
        if self.t0 is None:  # the first step traces and compiles: not part of the rate
            self.t0 = time.perf_counter()
            return
        self.steps += 1
        if time.perf_counter() - self.t0 >= self.seconds:
            self.model.stop_training = True


def sustained_trial(arm: str, seconds: float, path: str, batch: int = 64) -> dict:
    """One training run of efficient_cnn 48-96-192 for ``seconds`` in this process; images/s and cores used.

    ``keras_fit_tfdata``: ``model.fit`` on a ``tf.data`` pipeline (how training ran before); ``our_loop``:
    :func:`helpers.training.loop.fit` on NumPy batches (how ``training.train`` runs now); both with TensorFlow's op
    determinism, which ``our_loop_nondeterministic`` leaves off. Same data, model and recipe, with the ``light``
    augmentation that our recipe trains with: in ``keras_fit_tfdata`` it runs in ``tf.data``'s parallel map threads,
    as it did there, beside the training step on the same cores.
    """
    import resource

    backend.require_tensorflow("The sustained training-rate benchmark")
    import tensorflow as tf

    arrays = np.load(path)
    x, y = arrays["x"], arrays["y"]
    backend.set_seed(0, deterministic=arm != "our_loop_nondeterministic")
    recipe = {"optimizer": "adamw", "lr": 2e-3, "weight_decay": 0.05, "label_smoothing": 0.1, "augment": "light"}
    cfg = training.TrainConfig(
        model="efficient_cnn", model_kwargs={"widths": [48, 96, 192]}, batch_size=batch, **recipe
    )
    model = training.build_compiled(cfg, steps_per_epoch=len(x) // batch)
    stop = _StopAfter(seconds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, t0 = usage.ru_utime + usage.ru_stime, time.perf_counter()
    if arm == "keras_fit_tfdata":
        onehot = keras.utils.to_categorical(y, 7)
        ds = tf.data.Dataset.from_tensor_slices((x, onehot)).shuffle(len(x), seed=0).batch(batch)
        ds = ds.map(pipeline._Batcher("light", True, 0, 48, 1), num_parallel_calls=tf.data.AUTOTUNE)
        model.fit(ds.repeat().prefetch(tf.data.AUTOTUNE), steps_per_epoch=10**6, epochs=1, verbose=0, callbacks=[stop])
    else:
        batches = pipeline.make_dataset(x, y, n_classes=7, batch_size=batch, training=True, augment="light")
        val = pipeline.make_dataset(x[:batch], y[:batch], n_classes=7, batch_size=batch)
        loop.fit(model, batches, val, epochs=10**6, callbacks=[stop], verbose=0)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - t0
    return {
        "arm": arm,
        "images_per_s": stop.steps * batch / (time.perf_counter() - stop.t0 if stop.t0 else float("inf")),
        "cores_busy": (usage.ru_utime + usage.ru_stime - cpu0) / wall,
        "seconds": wall,
    }


def bench_sustained(x: np.ndarray, y: np.ndarray, runs: int = 5, minutes: float = 5.0) -> dict:
    """``runs`` consecutive training runs of ``minutes`` per arm (:data:`SUSTAINED_ARMS`), alternating arms, each
    in a fresh interpreter: the rate a budgeted run really gets, run after run, and what determinism costs."""
    trials: dict[str, list[dict]] = {a: [] for a in SUSTAINED_ARMS}
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(config.ROOT)}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "train.npz"
        np.savez(path, x=x, y=y)
        for _ in range(runs):
            for arm in SUSTAINED_ARMS:
                proc = subprocess.run(
                    [sys.executable, "-c", _SUSTAINED, arm, str(60 * minutes), str(path)],
                    capture_output=True, text=True, env=env, cwd=config.ROOT,
                )  # fmt: skip
                if proc.returncode != 0:
                    raise RuntimeError(f"sustained trial {arm} failed:\n{proc.stderr[-3000:]}")
                trials[arm].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    rates = {a: [t["images_per_s"] for t in ts] for a, ts in trials.items()}
    ref = float(np.median(rates["our_loop"]))
    return {
        "settings": {"runs": runs, "minutes": minutes, "model": "efficient_cnn 48-96-192", "batch_size": 64},
        "trials": trials,
        "images_per_s": rates,
        "median_images_per_s": {a: float(np.median(r)) for a, r in rates.items()},
        "min_over_max": {a: float(min(r) / max(r)) for a, r in rates.items()},
        "median_ratio_to_our_loop": {a: float(np.median(r)) / ref for a, r in rates.items()},
    }


def format_sustained(res: dict) -> str:
    st = res["settings"]
    buf = io.StringIO()
    buf.write(
        f"\nsustained training rate: {st['runs']} consecutive {st['minutes']:g}-minute runs per arm, {st['model']}\n"
    )
    buf.write(f"{'arm':<28}{'images/s of each run':<44}{'median':>8}{'min/max':>9}{'vs loop':>9}\n")
    for arm, rates in res["images_per_s"].items():
        runs = " ".join(f"{r:.0f}" for r in rates)
        buf.write(
            f"{arm:<28}{runs:<44}{res['median_images_per_s'][arm]:>8.0f}{res['min_over_max'][arm]:>9.2f}"
            f"{res['median_ratio_to_our_loop'][arm]:>8.2f}x\n"
        )
    return buf.getvalue()


def _hit(found: faces.Box, true: faces.Box) -> bool:
    """A detection matches a face when its centre lies in the face's box and its size is comparable."""
    cx, cy = found.x + found.w / 2, found.y + found.h / 2
    inside = true.x <= cx <= true.x + true.w and true.y <= cy <= true.y + true.h
    return inside and 0.3 <= found.w / true.w <= 1.5


def _score(dets: list[faces.Detection], truth: list[faces.Box]) -> tuple[int, int]:
    """(faces found, false detections) of one image, each true face matched at most once."""
    left, false = list(truth), 0
    for d in dets:
        match = next((t for t in left if _hit(d.box, t)), None)
        if match is None:
            false += 1
        else:
            left.remove(match)
    return len(truth) - len(left), false


def detector_sets(test_faces: np.ndarray, n: int = 60, seed: int = 0) -> dict[str, list]:
    """Three sets of (RGB image, true face boxes): group photos, faces scattered on clutter, face-free clutter."""
    rng = np.random.default_rng(seed)

    def pick(k: int) -> list[np.ndarray]:
        return list(test_faces[rng.choice(len(test_faces), k, replace=False)])

    return {
        "group": [(photos.tile_faces(pick(3), rng), photos.tile_boxes(3)) for _ in range(n // 3)],
        "scattered": [(img, [box]) for img, box in (photos.scatter_face(f, rng) for f in pick(n))],
        "face_free": [(photos.clutter(320, rng), []) for _ in range(n)],
    }


def bench_detectors(test_faces: np.ndarray, n: int = 60, seed: int = 0) -> dict:
    """Per installed detector, on the same images: faces found / present, false detections, ms per image."""
    sets = detector_sets(test_faces, n, seed)
    out = {}
    for name in faces.available_detectors():
        det = faces.get_detector(name)
        det.detect(sets["face_free"][0][0])  # warm-up (MTCNN builds its networks on first use)
        row: dict = {}
        times = []
        for set_name, items in sets.items():
            found = false = present = 0
            for img, truth in items:
                t = time.perf_counter()
                dets = det.detect(img)
                times.append(time.perf_counter() - t)
                f, fa = _score(dets, truth)
                found, false, present = found + f, false + fa, present + len(truth)
            row[set_name] = {"images": len(items), "faces": present, "found": found, "false_detections": false}
        row["ms_per_image"] = 1000 * float(np.median(times))
        out[name] = row
    return out


def webcam_frames(test_faces: np.ndarray, n: int = 40, seed: int = 0) -> list[tuple[np.ndarray, list]]:
    """``n`` 640x480 webcam-like frames with one or two FER-2013 test faces (80-220 px) each, and their boxes."""
    rng = np.random.default_rng(seed)
    picks = [test_faces[rng.choice(len(test_faces), int(rng.integers(1, 3)), replace=False)] for _ in range(n)]
    return [photos.webcam_frame(list(p), rng) for p in picks]


def bench_live(test_faces: np.ndarray, n: int = 40, seed: int = 0) -> dict:
    """Per installed detector, searching frames at full size and at the live setting (:data:`faces.LIVE_MAX_SIDE`):
    frames per second of detect + classify every face (the shipped model, as the live page and ``--camera`` run it)
    on the same 640x480 frames, with the faces found and false detections. Keys: ``<detector>@<max side>px``."""
    from helpers.inference import EmotionPredictor

    frames = webcam_frames(test_faces, n, seed)
    out = {}
    for name, side in ((d, s) for d in faces.available_detectors() for s in (640, faces.LIVE_MAX_SIDE)):
        predictor = EmotionPredictor(detector=name, max_side=side)
        predictor.predict_image(frames[0][0])  # warm-up: MTCNN builds its networks, the model compiles
        found = false = present = 0
        times = []
        for img, truth in frames:
            t = time.perf_counter()
            preds = predictor.predict_image(img).faces
            times.append(time.perf_counter() - t)
            f, fa = _score([faces.Detection(p.box, p.detector_confidence) for p in preds], truth)
            found, false, present = found + f, false + fa, present + len(truth)
        ms = 1000 * float(np.median(times))
        out[f"{name}@{side}px"] = {"frames": n, "faces": present, "found": found, "false_detections": false,
                                    "ms_per_frame": ms, "frames_per_s": 1000 / ms}  # fmt: skip
    return out


# --------------------------------------------------------------------------- Keras backends

_TRIAL = (
    "import json, sys; from helpers.cli import bench; print(json.dumps(bench.backend_trial(sys.argv[1], sys.argv[2])))"
)


def backend_trial(kind: str, path: str) -> dict:
    """One trial inside one backend's interpreter, on the arrays in ``path`` (.npz, settings in the .json beside).

    ``speed``: training images/s of one epoch per model (after a short warm-up that compiles the step), with the
    settings ``train()`` uses (seeded, deterministic kernels). ``accuracy``: one seeded ``train()`` run, then
    validation and test accuracy and the test predictions.
    """
    spec = json.loads(Path(path).with_suffix(".json").read_text())
    arrays = np.load(path)
    if kind == "speed":
        rates = {}
        for name in spec["models"]:
            backend.set_seed(spec["seed"])
            cfg = training.TrainConfig(model=name, batch_size=spec["batch"], augment=spec["augment"])
            model = training.build_compiled(cfg, steps_per_epoch=1)
            data = pipeline.make_dataset(
                arrays["x"], arrays["y"], n_classes=7, batch_size=spec["batch"], training=True, augment=spec["augment"]
            )
            n_few = spec["batch"] * spec["warmup_steps"]
            few = pipeline.make_dataset(arrays["x"][:n_few], arrays["y"][:n_few], n_classes=7, batch_size=spec["batch"])
            loop.fit(model, few, few, epochs=1, verbose=0)  # warm-up: trace and compile the steps
            rates[name] = len(arrays["x"]) / _elapsed(lambda: loop.fit(model, data, few, epochs=1, verbose=0))
        return {"backend": backend.name(), "images_per_s": rates}
    cfg = training.TrainConfig(
        model=spec["model"], epochs=spec["epochs"], batch_size=spec["batch"], augment=spec["augment"],
        seed=spec["seed"], schedule="constant", patience=spec["epochs"],
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        r = training.train(
            cfg, (arrays["x"], arrays["y"]), (arrays["xv"], arrays["yv"]), models_dir=Path(tmp), verbose=0, resume=False
        )
        seconds = time.perf_counter() - t
    pred_val = predict_proba(r.model, arrays["xv"]).argmax(1)
    probs = predict_proba(r.model, arrays["xt"])
    test = classification_metrics(arrays["yt"], probs)
    return {
        "backend": backend.name(),
        "train_seconds": seconds,
        "val_accuracy": float((pred_val == arrays["yv"]).mean()),
        "test_accuracy": test["accuracy"],
        "test_macro_f1": test["macro_f1"],
        "test_pred": probs.argmax(1).tolist(),
    }


def _run_trial(python: str, name: str, kind: str, path: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": name, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(config.ROOT)}
    proc = subprocess.run(
        [python, "-c", _TRIAL, kind, str(path)], capture_output=True, text=True, env=env, cwd=config.ROOT
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {kind} trial failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_backends(
    x: np.ndarray,
    y: np.ndarray,
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    model_names: tuple[str, ...] = ("baseline_cnn", "efficient_cnn", "dcnn"),
    speed_images: int = 2048,
    train_images: int = 5000,
    epochs: int = 5,
    rounds: int = 2,
    batch: int = 64,
    augment: str = "seed",
    seed: int = 0,
    warmup_steps: int = 3,
) -> dict:
    """Every installed backend side by side, each in its own interpreter (``make setup-backends`` makes them).

    Speed trials alternate between backends for ``rounds`` rounds (best kept, all recorded). The accuracy trial
    trains ``model_names[0]`` on the same ``train_images`` stratified training images for ``epochs`` epochs with
    the same seed on each backend; test predictions are compared with TensorFlow's by a paired bootstrap.
    """
    found = {b: backend.python_for(b) for b in config.KERAS_BACKENDS}
    names = [b for b, python in found.items() if python is not None]
    pick = stratified_sample(y, train_images, seed)
    common = {"batch": batch, "augment": augment, "seed": seed}
    with tempfile.TemporaryDirectory() as d:
        speed_path, acc_path = Path(d) / "speed.npz", Path(d) / "accuracy.npz"
        np.savez(speed_path, x=x[:speed_images], y=y[:speed_images])
        speed_path.with_suffix(".json").write_text(
            json.dumps({**common, "models": list(model_names), "warmup_steps": warmup_steps})
        )
        np.savez(acc_path, x=x[pick], y=y[pick], xv=val[0], yv=val[1], xt=test[0], yt=test[1])
        acc_path.with_suffix(".json").write_text(json.dumps({**common, "model": model_names[0], "epochs": epochs}))
        trials: dict[str, list[dict]] = {b: [] for b in names}
        for _ in range(rounds):
            for b in names:
                trials[b].append(_run_trial(found[b], b, "speed", speed_path)["images_per_s"])
        accuracy = {b: _run_trial(found[b], b, "accuracy", acc_path) for b in names}
    out: dict = {
        "settings": {**common, "speed_images": int(min(speed_images, len(x))), "train_images": int(len(pick)),
                     "epochs": epochs, "rounds": rounds, "accuracy_model": model_names[0]},
        "missing": [b for b in config.KERAS_BACKENDS if b not in names],
    }  # fmt: skip
    reference = accuracy.get("tensorflow", {}).get("test_pred")
    for b in names:
        row = {m: max(t[m] for t in trials[b]) for m in model_names}
        acc = {k: v for k, v in accuracy[b].items() if k != "test_pred"}
        if reference is not None and b != "tensorflow":
            acc["vs_tensorflow"] = paired_bootstrap(test[1], np.array(accuracy[b]["test_pred"]), np.array(reference))
        out[b] = {"images_per_s": row, "trials_images_per_s": trials[b], **acc}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers bench", description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40, help="training steps timed per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per timing; the best is reported")
    ap.add_argument("--csv-rows", type=int, default=8000, help="rows of the CSV parsing benchmark")
    ap.add_argument("--detector-images", type=int, default=60, help="images per set in the face-detector benchmark")
    ap.add_argument("--live-frames", type=int, default=40, help="640x480 frames of the live detect+classify benchmark")
    ap.add_argument("--backend-images", type=int, default=2048, help="training images of each backend's timed epoch")
    ap.add_argument("--backend-train", type=int, default=5000, help="training images of each backend's accuracy run")
    ap.add_argument("--backend-epochs", type=int, default=5, help="epochs of each backend's accuracy run")
    ap.add_argument("--sustained-runs", type=int, default=5, help="consecutive runs per arm of the sustained rate")
    ap.add_argument("--sustained-minutes", type=float, default=5.0, help="minutes of each sustained-rate run")
    ap.add_argument("--only", nargs="*", help="run only these parts (pipeline csv inference detectors live epochs "
                    "backends sustained)")  # fmt: skip
    args = ap.parse_args(argv)
    backend.require_tensorflow("make bench (it compares with the seed's TensorFlow pipeline and LiteRT)")
    ds = load_fer2013()
    x, y = ds.split("train")
    print(f"data: {ds.identity()['name']} ({len(y)} training images)", flush=True)
    parts = {
        "pipeline": lambda: bench_pipeline(x, y, args.steps, rounds=args.rounds),
        "csv": lambda: bench_csv(*(a[: args.csv_rows] for a in (ds.images, ds.labels, ds.splits)), rounds=args.rounds),
        "inference": lambda: {n: bench_inference(models.build(n), x[0]) for n in ("baseline_cnn", "efficient_cnn")},
        "detectors": lambda: bench_detectors(ds.split("test")[0], args.detector_images, seed=0),
        "live": lambda: bench_live(ds.split("test")[0], args.live_frames, seed=0),
        "epochs": lambda: bench_epochs(x, y, ["baseline_cnn", "efficient_cnn", "dcnn"], args.steps,
                                       full_train=len(y), rounds=max(1, args.rounds - 1)),
        "backends": lambda: bench_backends(x, y, ds.split("val"), ds.split("test"), speed_images=args.backend_images,
                                           train_images=args.backend_train, epochs=args.backend_epochs,
                                           rounds=max(1, args.rounds - 1)),
        "sustained": lambda: bench_sustained(x, y, args.sustained_runs, args.sustained_minutes),
    }  # fmt: skip
    unknown = set(args.only or []) - set(parts)
    if unknown:
        ap.error(f"unknown part(s) {sorted(unknown)}; choose from {' '.join(parts)}")
    chosen = [p for p in parts if not args.only or p in args.only]
    res: dict = {"data": ds.identity()}
    for i, name in enumerate(chosen, 1):
        print(f"{i}/{len(chosen)} {name} ...", flush=True)
        res[name] = parts[name]()
    path = artifacts.save_metrics("bench", res, params=vars(args), dataset=ds.identity())
    dst = config.BENCH_DIR / "bench.json"
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(Path(path).read_bytes())
    Path(path).unlink()
    print(format_table(res))
    print(f"written: {dst}")
    return 0


def format_table(res: dict) -> str:
    """The headline ratios as a small text table (the parts that ran)."""
    buf = io.StringIO()
    buf.write(f"{'measurement':<44}{'ours':>12}{'seed':>12}{'ratio':>8}\n")
    if "pipeline" in res:
        p = res["pipeline"]
        buf.write(
            f"{'training images/s (baseline CNN)':<44}{p['ours_images_per_s']:>12.0f}"
            f"{p['imagedatagenerator_images_per_s']:>12.0f}{p['speedup']:>7.1f}x\n"
        )
        buf.write(
            f"{'model-only ceiling images/s (max ratio)':<44}{p['model_only_ceiling_images_per_s']:>12.0f}"
            f"{'':>12}{p['max_possible_speedup']:>7.1f}x\n"
        )
        buf.write(
            f"{'augmented batches only, images/s':<44}{p['data_only_ours_images_per_s']:>12.0f}"
            f"{p['data_only_imagedatagenerator_images_per_s']:>12.0f}{p['data_only_speedup']:>7.1f}x\n"
        )
    if "csv" in res:
        c = res["csv"]
        buf.write(
            f"{'CSV parse seconds (' + str(c['rows']) + ' rows)':<44}{c['ours_s']:>12.2f}{c['seed_loop_s']:>12.2f}"
            f"{c['speedup']:>7.1f}x\n"
        )
    for name, r in res.get("inference", {}).items():
        buf.write(
            f"{name + ' single face ms: predict/compiled/tflite':<44}{r['predict_ms']:>8.2f} / "
            f"{r['compiled_ms']:.2f} / {r.get('tflite_ms', float('nan')):.2f}\n"
        )
    for name, r in res.get("detectors", {}).items():
        g, sc, ff = r["group"], r["scattered"], r["face_free"]
        buf.write(
            f"{name + ' detector: found group/scattered, false':<44} {g['found']}/{g['faces']}  {sc['found']}/"
            f"{sc['faces']}  {ff['false_detections']} on {ff['images']} face-free  {r['ms_per_image']:.0f} ms\n"
        )
    for name, r in res.get("live", {}).items():
        buf.write(
            f"{name + ' live 640x480: frames/s, found, false':<44}{r['frames_per_s']:>8.1f}  {r['found']}/{r['faces']}"
            f"  {r['false_detections']}\n"
        )
    for name, r in res.get("epochs", {}).items():
        buf.write(
            f"{name + ' s/full epoch, params, MFLOPs':<44}{r['seconds_per_full_epoch']:>8.0f}  "
            f"{r['params']:>10,}  {r['mflops_per_image']:.0f}\n"
        )
    if "backends" in res:
        buf.write(format_backends(res["backends"]))
    if "sustained" in res:
        buf.write(format_sustained(res["sustained"]))
    return buf.getvalue()


def format_backends(res: dict) -> str:
    """One row per backend: training images/s per model, then the accuracy run and its difference from TF."""
    st = res["settings"]
    names = [b for b in config.KERAS_BACKENDS if b in res]
    model_names = list(res[names[0]]["images_per_s"]) if names else []
    buf = io.StringIO()
    buf.write(
        f"\nKeras backends: training images/s ({st['speed_images']} images, one epoch), and {st['accuracy_model']} "
        f"after {st['epochs']} epochs on {st['train_images']} images (seed {st['seed']})\n"
    )
    buf.write(f"{'backend':<12}" + "".join(f"{m:>15}" for m in model_names))
    buf.write(f"{'train s':>9}{'val acc':>9}{'test acc':>9}{'macro-F1':>9}  test acc - TF [95% CI]\n")
    for b in names:
        r = res[b]
        vs = r.get("vs_tensorflow")
        ci = ""
        if vs:
            lo, hi = 100 * vs["accuracy_diff_low"], 100 * vs["accuracy_diff_high"]
            ci = f"{100 * vs['accuracy_diff']:+.1f} [{lo:+.1f}, {hi:+.1f}]"
        buf.write(
            f"{b:<12}" + "".join(f"{r['images_per_s'][m]:>15.0f}" for m in model_names) + f"{r['train_seconds']:>9.0f}"
            f"{100 * r['val_accuracy']:>8.1f}%{100 * r['test_accuracy']:>8.1f}%{r['test_macro_f1']:>9.3f}  {ci}\n"
        )
    for b in res.get("missing", []):
        buf.write(f"{b:<12}not installed: make setup BACKEND={b}\n")
    return buf.getvalue()


if __name__ == "__main__":
    sys.exit(main())
