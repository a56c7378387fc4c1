"""Evaluation: per-class metrics, confusion, PR/ROC, calibration, TTA, bootstrap CIs, Grad-CAM, ensembles."""

from __future__ import annotations

import time

import cv2
import keras
import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.stats import bootstrap
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

from helpers import backend, config, models
from helpers.pipeline import to_model_input


def predict_proba(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, C) through a compiled forward call, batch by batch."""
    size, channels = model.input_shape[1], model.input_shape[3]
    fn = backend.compiled_forward(model)
    out = [fn(to_model_input(images[i : i + batch_size], size, channels)) for i in range(0, len(images), batch_size)]
    probs = np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)
    return np.hstack([1 - probs, probs]) if probs.shape[1] == 1 else probs


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, class_names: tuple[str, ...] = config.CLASS_NAMES
) -> dict:
    """Accuracy, macro/weighted F1, per-class precision/recall/F1/support, AP and AUC, confusion matrix."""
    labels = np.arange(len(class_names))
    y_pred = probs.argmax(1)
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=list(class_names), output_dict=True, zero_division=0
    )
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
        "macro_f1": float(report["macro avg"]["f1-score"]),
        "weighted_f1": float(report["weighted avg"]["f1-score"]),
        "per_class": {
            c: {
                "precision": float(report[c]["precision"]),
                "recall": float(report[c]["recall"]),
                "f1": float(report[c]["f1-score"]),
                "support": int(report[c]["support"]),
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
    """Per-class metrics as a table: precision, recall, F1, support, average precision and ROC AUC per class."""
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


def two_class_scores(model: keras.Model, images: np.ndarray, positive: int, negative: int) -> np.ndarray:
    """A 7-class model used as a binary one: p(positive) / (p(positive) + p(negative)), the other logits ignored."""
    p = predict_proba(model, images)
    return p[:, positive] / np.maximum(p[:, positive] + p[:, negative], 1e-12)


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
            resized = keras.ops.image.resize(crop[..., None].astype("float32"), (h, w))
            views.append(keras.ops.convert_to_numpy(resized)[..., 0])
    return views


def predict_tta(model: keras.Model, images: np.ndarray, mode: str = "flip") -> np.ndarray:
    """Average probabilities over the TTA views."""
    return np.mean([predict_proba(model, v) for v in tta_views(images, mode)], axis=0)


def _accuracy_and_f1(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    return float(np.mean(y_pred == y_true)), float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def with_and_without(y_true: np.ndarray, probs: dict[str, np.ndarray], exclude: np.ndarray) -> pd.DataFrame:
    """Accuracy and macro-F1 of each model on all images and on those not flagged in ``exclude``."""
    keep, rows = ~exclude, {}
    for n, p in probs.items():
        pred = p.argmax(1)
        acc_all, f1_all = _accuracy_and_f1(y_true, pred)
        acc_without, f1_without = _accuracy_and_f1(y_true[keep], pred[keep])
        rows[n] = {
            "accuracy_all": acc_all,
            "accuracy_without": acc_without,
            "macro_f1_all": f1_all,
            "macro_f1_without": f1_without,
            "n_all": int(len(y_true)),
            "n_without": int(keep.sum()),
        }
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------- robustness


def _each(images: np.ndarray, fn) -> np.ndarray:
    return np.stack([fn(im) for im in images])


def _warp(im: np.ndarray, m: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(im, m, im.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _rescale(im: np.ndarray, factor: float) -> np.ndarray:
    small = cv2.resize(im, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, im.shape[::-1], interpolation=cv2.INTER_LINEAR)


def _jpeg(im: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_GRAYSCALE)


def _contrast(im: np.ndarray, factor: float) -> np.ndarray:
    return np.clip((im.astype(np.float32) - im.mean()) * factor + im.mean(), 0, 255).astype(np.uint8)


def _centre(im: np.ndarray) -> tuple[float, float]:
    return (im.shape[1] / 2, im.shape[0] / 2)


#: What a real photo does to a face crop, each applied to 48x48 gray uint8 images.
PERTURBATIONS: dict[str, object] = {
    "none": lambda x: x,
    "downscale to 24 px and back": lambda x: _each(x, lambda im: _rescale(im, 0.5)),
    "downscale to 16 px and back": lambda x: _each(x, lambda im: _rescale(im, 1 / 3)),
    "JPEG quality 30": lambda x: _each(x, lambda im: _jpeg(im, 30)),
    "brighter (+40)": lambda x: np.clip(x.astype(np.int16) + 40, 0, 255).astype(np.uint8),
    "darker (-40)": lambda x: np.clip(x.astype(np.int16) - 40, 0, 255).astype(np.uint8),
    "contrast x0.6": lambda x: _each(x, lambda im: _contrast(im, 0.6)),
    "rotated 15 degrees": lambda x: _each(x, lambda im: _warp(im, cv2.getRotationMatrix2D(_centre(im), 15, 1.0))),
    "crop shifted 4 px": lambda x: _each(x, lambda im: _warp(im, np.float32([[1, 0, 4], [0, 1, 4]]))),
    "horizontal flip": lambda x: x[:, :, ::-1],
}


def robustness(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Accuracy and macro-F1 under each of :data:`PERTURBATIONS`, and the change against unperturbed images."""
    rows = {}
    for name, fn in PERTURBATIONS.items():
        pred = predict_proba(model, np.ascontiguousarray(fn(images))).argmax(1)
        acc, f1 = _accuracy_and_f1(labels, pred)
        rows[name] = {"accuracy": acc, "macro_f1": f1}
    df = pd.DataFrame(rows).T
    df["accuracy_change"] = df["accuracy"] - df.loc["none", "accuracy"]
    return df


# --------------------------------------------------------------------------- uncertainty + ensembles


def _accuracy_macro_f1(labels: np.ndarray):
    def stat(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        f1 = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        return np.array([np.mean(y_true == y_pred), f1])

    return stat


def bootstrap_ci(
    y_true: np.ndarray, y_pred: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float, float]]:
    """Percentile bootstrap (point, low, high) for accuracy and macro-F1 (``scipy.stats.bootstrap``, paired)."""
    stat = _accuracy_macro_f1(np.unique(y_true))
    res = bootstrap(
        (y_true, y_pred),
        stat,
        paired=True,
        vectorized=False,
        n_resamples=n_boot,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    point = stat(y_true, y_pred)
    lo, hi = res.confidence_interval
    return {k: (float(point[i]), float(lo[i]), float(hi[i])) for i, k in enumerate(("accuracy", "macro_f1"))}


def paired_bootstrap(
    y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Does A beat B on the same images? Paired bootstrap of the accuracy and macro-F1 differences (A - B).

    Resamples images (each with both models' predictions), so the comparison keeps its pairing. Returns the
    differences, their 95% percentile intervals, and the share of resamples in which A does not beat B
    (a one-sided bootstrap p-value).
    """
    labels = np.unique(y_true)
    stat_one = _accuracy_macro_f1(labels)

    def diff(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return stat_one(y, a) - stat_one(y, b)

    res = bootstrap(
        (y_true, pred_a, pred_b),
        diff,
        paired=True,
        vectorized=False,
        n_resamples=n_boot,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    point, dist = diff(y_true, pred_a, pred_b), res.bootstrap_distribution
    lo, hi = res.confidence_interval
    return {
        "accuracy_diff": float(point[0]),
        "accuracy_diff_low": float(lo[0]),
        "accuracy_diff_high": float(hi[0]),
        "macro_f1_diff": float(point[1]),
        "macro_f1_diff_low": float(lo[1]),
        "macro_f1_diff_high": float(hi[1]),
        "p_accuracy_not_better": float(np.mean(dist[0] <= 0)),
        "p_macro_f1_not_better": float(np.mean(dist[1] <= 0)),
    }


def paired_table(
    y_true: np.ndarray, preds: dict[str, np.ndarray], reference: str, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """:func:`paired_bootstrap` of every model in ``preds`` against ``reference``, one row each (empty without it)."""
    if reference not in preds:
        return pd.DataFrame()
    rows = {n: paired_bootstrap(y_true, p, preds[reference], n_boot, seed) for n, p in preds.items() if n != reference}
    return pd.DataFrame(rows).T


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


def select_ensemble(probs_val: dict[str, np.ndarray], y_val: np.ndarray) -> list[str]:
    """Ensemble members chosen on validation by greedy forward selection.

    Starts from the best single model and adds, one at a time, the model that raises the averaged ensemble's
    validation accuracy most; stops when no model raises it. Weak models that would drag the mean down stay out.
    """

    def accuracy(names: list[str]) -> float:
        return float((ensemble_proba([probs_val[n] for n in names]).argmax(1) == y_val).mean())

    chosen = [best_on_validation(probs_val, y_val)]
    while rest := [n for n in probs_val if n not in chosen]:
        candidate = max(rest, key=lambda n: accuracy([*chosen, n]))
        if accuracy([*chosen, candidate]) <= accuracy(chosen):
            break
        chosen.append(candidate)
    return chosen


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
    fn = backend.compiled_forward(model)
    return {
        "predict_ms": median_ms(lambda: model.predict(x, verbose=0), repeats),
        "compiled_ms": median_ms(lambda: fn(x), repeats),
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
    trunk = keras.Model(model.inputs, fmap_layer.output)
    tail = keras.Model(fmap_layer.output, head.input)  # feature map -> the output layer's input
    size, channels = model.input_shape[1], model.input_shape[3]
    fmap = keras.ops.convert_to_numpy(trunk(to_model_input(images, size, channels), training=False))

    def logits(f):
        z = keras.ops.matmul(tail(f, training=False), head.kernel) + head.bias
        return keras.ops.concatenate([-z, z], axis=1) if z.shape[-1] == 1 else z  # sigmoid head: class 0 is -z

    chosen = np.argmax(keras.ops.convert_to_numpy(logits(fmap)), 1) if class_idx is None else np.asarray(class_idx)
    onehot = keras.ops.convert_to_tensor(np.eye(max(2, head.units), dtype="float32")[chosen])
    grads = backend.grad_of_sum(lambda f: keras.ops.multiply(logits(f), onehot), fmap)
    weights = grads.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((weights * fmap).sum(axis=-1), 0)[..., None]
    if upsample:
        cam = keras.ops.convert_to_numpy(keras.ops.image.resize(cam, images.shape[1:3]))
    cam = cam[..., 0]
    cam /= cam.max(axis=(1, 2), keepdims=True) + 1e-8
    return cam
