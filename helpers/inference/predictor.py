"""Emotion prediction on real photos: detect every face, crop with a margin, classify with a compiled call."""

from __future__ import annotations

import zipfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import keras
import numpy as np

from helpers import backend, config, training
from helpers.data.pipeline import to_model_input
from helpers.inference import faces
from helpers.models import shipped


@dataclass
class FacePrediction:
    box: faces.Box
    label: str
    confidence: float  # probability of ``label``
    probabilities: dict[str, float]
    detector_confidence: float = float("nan")  # the face detector's score for this box

    @classmethod
    def from_probs(
        cls, box: faces.Box, names: list[str] | tuple[str, ...], p: np.ndarray, detector_confidence: float
    ) -> FacePrediction:
        """The most probable class, its probability, and every class's probability."""
        probs = {c: float(v) for c, v in zip(names, p)}
        return cls(box, names[int(np.argmax(p))], float(np.max(p)), probs, detector_confidence)

    def as_row(self, source: str = "") -> dict:
        return {
            "source": source,
            "x": self.box.x,
            "y": self.box.y,
            "w": self.box.w,
            "h": self.box.h,
            "detector_confidence": round(self.detector_confidence, 4),
            "label": self.label,
            "confidence": round(self.confidence, 4),
            **{f"p_{k}": round(v, 4) for k, v in self.probabilities.items()},
        }


@dataclass
class ImagePrediction:
    path: Path | None
    image: np.ndarray
    faces: list[FacePrediction] = field(default_factory=list)


class ModelLoadError(RuntimeError):
    """A model file that is missing or cannot serve as a 7-class 48x48 emotion classifier."""


def load_classifier(path: str | Path) -> keras.Model:
    """Load and check a saved emotion model; raises :class:`ModelLoadError` with one clear line."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model file not found: {path} (train one with `make run NB=03`, or pass --model)")
    if path.is_dir():
        raise ModelLoadError(f"{path} is a folder, not a .keras model file")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelLoadError(
            f"{path} is not a readable Keras model: a .keras file is a zip archive, and this one is "
            f"{'empty' if path.stat().st_size == 0 else 'truncated or corrupt'} ({path.stat().st_size:,} bytes)"
        )
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # keras raises many types for a bad file
        raise ModelLoadError(f"cannot load model {path}: {e.__class__.__name__}: {str(e).splitlines()[0][:200]}") from e
    shape = model.input_shape
    if len(shape) != 4 or len(model.output_shape) != 2:
        raise ModelLoadError(
            f"incompatible model {path}: input {shape}, output {model.output_shape}; expected "
            "(None, H, W, C) images in and one probability per class out"
        )
    return model


def default_class_names(model: keras.Model) -> tuple[str, ...]:
    """Names for a model saved without them: FER-2013's seven, FER+'s eight, or (negative, positive) for one sigmoid."""
    n = model.output_shape[-1]
    if n == 1:
        return ("negative", "positive")
    for names in (config.CLASS_NAMES, config.FERPLUS_CLASS_NAMES):
        if n == len(names):
            return names
    return tuple(f"class_{i}" for i in range(n))


def load_shipped() -> tuple[keras.Model, shipped.Shipped]:
    """The shipped model, verified against its SHA-256; raises :class:`ModelLoadError` with one clear line."""
    try:
        info = shipped.verify()
    except shipped.ShippedModelError as e:
        raise ModelLoadError(str(e)) from e
    return load_classifier(info.path), info


class EmotionPredictor:
    """Detect, crop and classify faces. Single faces go through a compiled forward call, not ``predict``.

    ``model``: a model, a ``.keras`` file, or None for the shipped model (:mod:`helpers.models.shipped`), whose manifest
    also sets ``tta`` (``flip``: average each face with its mirror image; chosen on validation). Class names:
    ``class_names``, else those stored in the model file (:func:`training.read_class_names`), else
    :func:`default_class_names`. Faces are searched in the image shrunk to at most ``max_side`` pixels
    (:data:`faces.DETECT_MAX_SIDE` for photos, :data:`faces.LIVE_MAX_SIDE` for live video) and cropped at full size.
    """

    def __init__(
        self,
        model: keras.Model | str | Path | None = None,
        class_names: tuple[str, ...] | None = None,
        margin: float = 0.15,
        detector: str | None = None,
        align: bool = False,
        tta: str | None = None,
        max_side: int = faces.DETECT_MAX_SIDE,
    ):
        stored: tuple[str, ...] | None = None
        self.source = "given model"
        if model is None:  # the shipped model, verified against its SHA-256
            model, info = load_shipped()
            stored, tta = info.class_names, tta or info.tta
            self.source = f"shipped model ({info.manifest.get('source', {}).get('command', 'make release-model')})"
        elif isinstance(model, str | Path):
            stored, self.source = training.read_class_names(model), str(model)
            model = load_classifier(model)
        self.model = model
        self.class_names = tuple(class_names or stored or default_class_names(self.model))
        if (tta or "none") not in ("none", "flip"):
            raise ValueError(f"unknown test-time augmentation {tta!r}: choose none or flip")
        self.tta = tta or "none"
        self.margin, self.align, self.max_side = margin, align, max_side
        self.detector = faces.get_detector(detector)
        self.size, self.channels = self.model.input_shape[1], self.model.input_shape[3]
        self._forward = backend.compiled_forward(self.model)

    def classify_crops(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, C) for gray 48x48 (or any size) face crops."""
        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        views = [crops, crops[:, :, ::-1]] if self.tta == "flip" else [crops]
        p = np.mean([self._forward(to_model_input(v, self.size, self.channels)) for v in views], axis=0)
        return np.hstack([1 - p, p]) if p.shape[1] == 1 else p

    def detect_faces(self, image: np.ndarray, max_side: int | None = None) -> tuple[list, list[np.ndarray]]:
        """The faces of an RGB image, largest first: (detections, grey face crops); searched at ``max_side``
        pixels (default: the predictor's)."""
        found = faces.detect_scaled(self.detector, image, max_side or self.max_side)
        return found, [faces.crop_face(image, d, self.margin, align=self.align) for d in found]

    def classify_detected(self, detected: list[tuple[list, list[np.ndarray]]]) -> list[list[FacePrediction]]:
        """Every face of several images (:meth:`detect_faces` of each) in one batched model call."""
        crops = [c for _, image_crops in detected for c in image_crops]
        probs = self.classify_crops(np.stack(crops) if crops else np.zeros((0, 48, 48), np.uint8))
        out, start = [], 0
        for found, image_crops in detected:
            p = probs[start : start + len(image_crops)]
            start += len(image_crops)
            out.append([FacePrediction.from_probs(d.box, self.class_names, q, d.confidence) for d, q in zip(found, p)])
        return out

    def predict_image(
        self, image: np.ndarray, path: Path | None = None, max_side: int | None = None
    ) -> ImagePrediction:
        """All faces of an RGB image, largest first (searched at ``max_side`` pixels, default: the predictor's)."""
        return ImagePrediction(path, image, self.classify_detected([self.detect_faces(image, max_side)])[0])

    def predict_path(self, path: str | Path) -> ImagePrediction:
        """Read a photo (raises faces.ImageReadError with the reason) and predict every face."""
        return self.predict_image(faces.read_photo(path), Path(path))


def predict_emotion(
    image_or_path: str | Path | np.ndarray, model: keras.Model | str | Path | None = None
) -> list[dict]:
    """As in the seed tutorial: labels and probabilities per face found in an image or file.

    ``model`` defaults to the shipped model (``helpers/shipped/``, no training needed).
    """
    predictor = EmotionPredictor(model)
    if isinstance(image_or_path, np.ndarray):
        result = predictor.predict_image(image_or_path)
    else:
        result = predictor.predict_path(image_or_path)
    return [
        {
            "box": (f.box.x, f.box.y, f.box.w, f.box.h),
            "label": f.label,
            "confidence": f.confidence,
            "probabilities": f.probabilities,
        }
        for f in result.faces
    ]


def iou(a: faces.Box, b: faces.Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union else 0.0


class TrackSmoother:
    """Averages each face's class probabilities over its last ``window`` frames (video).

    Faces are followed from frame to frame by box overlap (IoU >= ``min_iou``); a face not seen in a frame
    loses its history. ``window=1`` leaves predictions unchanged.
    """

    def __init__(self, window: int = 5, min_iou: float = 0.3):
        if window < 1:
            raise ValueError(f"smoothing window must be >= 1 frame, got {window}")
        self.window, self.min_iou = window, min_iou
        self._tracks: list[tuple[faces.Box, deque]] = []

    def update(self, preds: list[FacePrediction]) -> list[FacePrediction]:
        free, tracks, out = list(self._tracks), [], []
        for f in preds:
            best = max(free, key=lambda t: iou(t[0], f.box), default=None)
            if best is not None and iou(best[0], f.box) >= self.min_iou:
                free.remove(best)
                history = best[1]
            else:
                history = deque(maxlen=self.window)
            history.append(np.array(list(f.probabilities.values())))
            tracks.append((f.box, history))
            mean = np.mean(history, axis=0)
            out.append(FacePrediction.from_probs(f.box, list(f.probabilities), mean, f.detector_confidence))
        self._tracks = tracks
        return out


def annotate(image: np.ndarray, preds: list[FacePrediction]) -> np.ndarray:
    """RGB copy of ``image`` with a box and 'label confidence' for each face, legible at any image size."""
    out = np.ascontiguousarray(image.copy())
    short = min(out.shape[:2])
    thick = max(1, round(short / 300))
    for f in preds:
        b = f.box
        cv2.rectangle(out, (b.x, b.y), (b.x + b.w, b.y + b.h), (0, 200, 0), thick + 1)
        text = f"{f.label} {f.confidence:.0%}"
        scale = float(np.clip(max(b.w / 220, short / 900), 0.35, 3.0))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        x = int(np.clip(b.x, 0, max(0, out.shape[1] - tw - 4)))
        y = b.y - 4 if b.y - th - 8 >= 0 else min(out.shape[0] - base - 2, b.y + b.h + th + 6)
        cv2.rectangle(out, (x, y - th - 4), (x + tw + 4, y + base), (0, 200, 0), -1)
        cv2.putText(out, text, (x + 2, y - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out
