"""Metrics: class probabilities, per-class precision/recall/F1, confusion, PR/ROC, the binary task's threshold."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
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

from helpers import backend, config
from helpers.data.pipeline import to_model_input
from helpers.evaluation.calibration import expected_calibration_error


def predict_proba(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, C) through a compiled forward call, batch by batch."""
    size, channels = model.input_shape[1], model.input_shape[3]
    fn = backend.compiled_forward(model)
    out = [fn(to_model_input(images[i : i + batch_size], size, channels)) for i in range(0, len(images), batch_size)]
    probs = np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)
    return np.hstack([1 - probs, probs]) if probs.shape[1] == 1 else probs


def accuracy_and_macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    """Accuracy and macro-F1 of predicted labels."""
    return float(np.mean(y_pred == y_true)), float(f1_score(y_true, y_pred, average="macro", zero_division=0))


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


def most_confident_mistakes(y_true: np.ndarray, probs: np.ndarray, k: int = 16) -> np.ndarray:
    """Indices of the ``k`` wrong predictions with the highest confidence."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y_true)
    return wrong[np.argsort(-probs[wrong, pred[wrong]])][:k]
