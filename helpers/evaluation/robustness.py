"""Robustness: accuracy under the perturbations a face meets outside FER-2013 (shift, scale, JPEG, contrast)."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pandas as pd

from helpers.evaluation.metrics import accuracy_and_macro_f1, predict_proba


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
        acc, f1 = accuracy_and_macro_f1(labels, pred)
        rows[name] = {"accuracy": acc, "macro_f1": f1}
    df = pd.DataFrame(rows).T
    df["accuracy_change"] = df["accuracy"] - df.loc["none", "accuracy"]
    return df
