"""Evaluation: per-class metrics, confusion, PR/ROC, calibration, TTA, bootstrap CIs, Grad-CAM, ensembles."""

from __future__ import annotations

import time

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from scipy.optimize import minimize_scalar
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)

from helpers import config, models
from helpers.models import compiled_forward
from helpers.pipeline import to_model_input


def predict_proba(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, C) through a compiled forward call, batch by batch."""
    size, channels = model.input_shape[1], model.input_shape[3]
    fn = compiled_forward(model)
    out = [
        fn(to_model_input(images[i : i + batch_size], size, channels)).numpy()
        for i in range(0, len(images), batch_size)
    ]
    probs = np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)
    return np.hstack([1 - probs, probs]) if probs.shape[1] == 1 else probs


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, class_names: tuple[str, ...] = config.CLASS_NAMES
) -> dict:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support, AP and AUC, confusion matrix."""
    labels = np.arange(len(class_names))
    y_pred = probs.argmax(1)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    onehot = np.eye(len(class_names))[y_true]
    present = onehot.sum(0) > 0
    ap = [float(average_precision_score(onehot[:, c], probs[:, c])) if present[c] else float("nan") for c in labels]
    auc = [
        float(roc_auc_score(onehot[:, c], probs[:, c])) if 0 < onehot[:, c].sum() < len(y_true) else float("nan")
        for c in labels
    ]
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "per_class": {
            c: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(s[i]),
                "average_precision": ap[i],
                "roc_auc": auc[i],
            }
            for i, c in enumerate(class_names)
        },
        "mean_average_precision": float(np.nanmean(ap)),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "ece": expected_calibration_error(y_true, probs),
        "nll": float(-np.mean(np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, 1)))),
    }


def per_class_table(metrics: dict) -> pd.DataFrame:
    """Per-class metrics as a table, with macro and weighted averages appended."""
    df = pd.DataFrame(metrics["per_class"]).T
    df["support"] = df["support"].astype(int)
    return df


def evaluate_model(
    model: keras.Model,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    class_names: tuple[str, ...] = config.CLASS_NAMES,
) -> dict[str, dict]:
    """:func:`classification_metrics` for each named split, e.g. val / test / test_full."""
    return {name: classification_metrics(y, predict_proba(model, x), class_names) for name, (x, y) in splits.items()}


def official_splits(ds) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """PublicTest (val), PrivateTest (test) and both together (test_full, 7,178 on FER-2013)."""
    xv, yv = ds.split("val")
    xt, yt = ds.split("test")
    return {"val": (xv, yv), "test": (xt, yt), "test_full": (np.concatenate([xv, xt]), np.concatenate([yv, yt]))}


# --------------------------------------------------------------------------- binary task


def binary_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Accuracy, precision, recall, F1, ROC AUC and average precision at ``threshold``."""
    pred = (scores >= threshold).astype(int)
    return {
        "n": int(len(y)),
        "threshold": float(threshold),
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else float("nan"),
        "average_precision": float(average_precision_score(y, scores)),
    }


def choose_threshold(y_val: np.ndarray, s_val: np.ndarray) -> float:
    """Threshold maximising F1 on validation (never on test)."""
    p, r, t = precision_recall_curve(y_val, s_val)
    f1 = 2 * p[:-1] * r[:-1] / np.maximum(p[:-1] + r[:-1], 1e-12)
    return float(t[int(np.argmax(f1))]) if len(t) else 0.5


# --------------------------------------------------------------------------- calibration


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """ECE: confidence-weighted gap between accuracy and confidence over equal-width bins."""
    conf, pred = probs.max(1), probs.argmax(1)
    correct = pred == y_true
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def reliability_table(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """Per-bin confidence, accuracy and count, for a reliability diagram."""
    conf, correct = probs.max(1), probs.argmax(1) == y_true
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    rows = [
        {
            "bin_low": b / n_bins,
            "bin_high": (b + 1) / n_bins,
            "count": int((bins == b).sum()),
            "confidence": float(conf[bins == b].mean()) if (bins == b).any() else np.nan,
            "accuracy": float(correct[bins == b].mean()) if (bins == b).any() else np.nan,
        }
        for b in range(n_bins)
    ]
    return pd.DataFrame(rows)


def fit_temperature(y_val: np.ndarray, probs_val: np.ndarray) -> float:
    """Temperature T minimising validation NLL of softmax(log p / T)."""
    logits = np.log(np.clip(probs_val, 1e-12, 1))

    def nll(t: float) -> float:
        return -np.mean(_log_softmax(logits / t)[np.arange(len(y_val)), y_val])

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def apply_temperature(probs: np.ndarray, t: float) -> np.ndarray:
    """Rescale probabilities by temperature ``t``."""
    return np.exp(_log_softmax(np.log(np.clip(probs, 1e-12, 1)) / t))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


# --------------------------------------------------------------------------- test-time augmentation


def tta_views(images: np.ndarray, mode: str) -> list[np.ndarray]:
    """Views for TTA: 'flip' (original + mirror) or 'tencrop' (4 corners + centre at 42px, and mirrors)."""
    if mode == "none":
        return [images]
    flipped = images[:, :, ::-1]
    if mode == "flip":
        return [images, flipped]
    if mode != "tencrop":
        raise ValueError(f"unknown TTA mode {mode!r}: choose none, flip or tencrop")
    n, h, w = images.shape[:3]
    c = int(round(h * 0.875))
    offs = [(0, 0), (0, w - c), (h - c, 0), (h - c, w - c), ((h - c) // 2, (w - c) // 2)]
    views = []
    for src in (images, flipped):
        for dy, dx in offs:
            crop = src[:, dy : dy + c, dx : dx + c]
            views.append(tf.image.resize(crop[..., None].astype("float32"), (h, w)).numpy()[..., 0])
    return views


def predict_tta(model: keras.Model, images: np.ndarray, mode: str = "flip") -> np.ndarray:
    """Average probabilities over the TTA views."""
    return np.mean([predict_proba(model, v) for v in tta_views(images, mode)], axis=0)


# --------------------------------------------------------------------------- uncertainty + ensembles


def bootstrap_ci(
    y_true: np.ndarray, y_pred: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float, float]]:
    """Percentile bootstrap (point, low, high) for accuracy and macro-F1."""
    rng = np.random.default_rng(seed)
    n = len(y_true)
    labels = np.unique(y_true)
    accs, f1s = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, n, n)
        accs[b] = np.mean(y_true[i] == y_pred[i])
        f1s[b] = f1_score(y_true[i], y_pred[i], labels=labels, average="macro", zero_division=0)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    point_f1 = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    return {
        "accuracy": (float(np.mean(y_true == y_pred)), *map(float, np.percentile(accs, [lo, hi]))),
        "macro_f1": (float(point_f1), *map(float, np.percentile(f1s, [lo, hi]))),
    }


def ci_row(y_true: np.ndarray, probs: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Accuracy and macro-F1 with their bootstrap 95% interval, as one table row."""
    ci = bootstrap_ci(y_true, probs.argmax(1), n_boot, seed)
    return {
        "accuracy": ci["accuracy"][0],
        "acc_low": ci["accuracy"][1],
        "acc_high": ci["accuracy"][2],
        "macro_f1": ci["macro_f1"][0],
        "f1_low": ci["macro_f1"][1],
        "f1_high": ci["macro_f1"][2],
    }


def best_on_validation(probs_val: dict[str, np.ndarray], y_val: np.ndarray) -> str:
    """Name of the model with the highest validation accuracy."""
    return max(probs_val, key=lambda n: float((probs_val[n].argmax(1) == y_val).mean()))


def ensemble_proba(prob_list: list[np.ndarray]) -> np.ndarray:
    """Average of the models' probabilities."""
    return np.mean(prob_list, axis=0)


def most_confident_mistakes(y_true: np.ndarray, probs: np.ndarray, k: int = 16) -> np.ndarray:
    """Indices of the ``k`` wrong predictions with the highest confidence."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y_true)
    return wrong[np.argsort(-probs[wrong, pred[wrong]])][:k]


def median_ms(fn, repeats: int = 50) -> float:
    """Median wall time of ``fn()`` in milliseconds, after one warm-up call."""
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts) * 1000)


def latency_ms(model: keras.Model, image: np.ndarray, repeats: int = 50) -> dict[str, float]:
    """Median single-image latency (ms) of ``model.predict`` vs a compiled forward call."""
    size, channels = model.input_shape[1], model.input_shape[3]
    x = to_model_input(image[None], size, channels)
    fn = compiled_forward(model)
    return {
        "predict_ms": median_ms(lambda: model.predict(x, verbose=0), repeats),
        "compiled_ms": median_ms(lambda: fn(x).numpy(), repeats),
    }


# --------------------------------------------------------------------------- saliency


def feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The last spatial feature map of the trunk: the layer named ``features`` (every builder here names it).

    For models from elsewhere: the last layer with a spatial (rank-4) output that is a non-linearity
    (an activation, or a convolution with one), never a 1x1 shortcut, pooling or dropout layer.
    """
    names = {ly.name for ly in model.layers}
    if models.FEATURES in names:
        return model.get_layer(models.FEATURES)
    for ly in reversed(model.layers):
        if len(ly.output.shape) != 4:
            continue
        act = getattr(ly, "activation", None)
        if isinstance(ly, keras.layers.Activation | keras.layers.ReLU) or (
            isinstance(ly, keras.layers.Conv2D) and act is not None and act.__name__ != "linear"
        ):
            return ly
    raise ValueError(f"{model.name}: no spatial feature map found for Grad-CAM")


def _logit_head(model: keras.Model) -> keras.layers.Dense:
    head = model.layers[-1]
    if not isinstance(head, keras.layers.Dense):
        raise ValueError(f"{model.name}: Grad-CAM needs a Dense output layer, found {head.__class__.__name__}")
    return head


def grad_cam(
    model: keras.Model, images: np.ndarray, class_idx: np.ndarray | None = None, upsample: bool = True
) -> np.ndarray:
    """Grad-CAM heatmaps in [0, 1] for the predicted (or given) class.

    Gradients are those of the class's pre-softmax (or pre-sigmoid) logit, recomputed from the output
    layer's kernel, with respect to :func:`feature_layer`'s map. Returns (N, H, W) at the image size,
    or at the feature map's own size with ``upsample=False``.
    """
    fmap_layer, head = feature_layer(model), _logit_head(model)
    grad_model = keras.Model(model.inputs, [fmap_layer.output, head.input])
    size, channels = model.input_shape[1], model.input_shape[3]
    x = to_model_input(images, size, channels)
    with tf.GradientTape() as tape:
        fmap, hidden = grad_model(x, training=False)
        logits = tf.matmul(hidden, head.kernel) + head.bias
        if logits.shape[-1] == 1:  # sigmoid head: the positive logit, or its negative for class 0
            logits = tf.concat([-logits, logits], axis=1)
        idx = tf.argmax(logits, 1) if class_idx is None else tf.constant(np.asarray(class_idx), tf.int64)
        score = tf.gather(logits, idx, batch_dims=1)
    grads = tape.gradient(score, fmap)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * fmap, axis=-1))[..., None]
    if upsample:
        cam = tf.image.resize(cam, images.shape[1:3])
    cam = cam[..., 0].numpy()
    cam /= cam.max(axis=(1, 2), keepdims=True) + 1e-8
    return cam
