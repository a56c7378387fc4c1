"""Emotion prediction on real photos: detect every face, crop with a margin, classify with a compiled call."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf

from helpers import config, faces
from helpers.models import compiled_forward
from helpers.pipeline import to_model_input


@dataclass
class FacePrediction:
    box: faces.Box
    label: str
    confidence: float
    probabilities: dict[str, float]

    def as_row(self, source: str = "") -> dict:
        return {
            "source": source,
            "x": self.box.x,
            "y": self.box.y,
            "w": self.box.w,
            "h": self.box.h,
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
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # keras raises many types for a bad file
        raise ModelLoadError(f"cannot load model {path}: {e.__class__.__name__}: {str(e).splitlines()[0][:200]}") from e
    shape = model.input_shape
    if len(shape) != 4 or model.output_shape[-1] not in (1, len(config.CLASS_NAMES)):
        raise ModelLoadError(
            f"incompatible model {path}: input {shape}, output {model.output_shape}; expected "
            f"(None, H, W, C) images and {len(config.CLASS_NAMES)} classes"
        )
    return model


class EmotionPredictor:
    """Detect, crop and classify faces. Single faces go through a compiled forward call, not ``predict``."""

    def __init__(
        self, model: keras.Model | str | Path, class_names: tuple[str, ...] = config.CLASS_NAMES, margin: float = 0.15
    ):
        self.model = load_classifier(model) if isinstance(model, str | Path) else model
        self.class_names = class_names if self.model.output_shape[-1] > 1 else ("negative", "positive")
        self.margin = margin
        self.size, self.channels = self.model.input_shape[1], self.model.input_shape[3]
        self._forward = compiled_forward(self.model)

    def classify_crops(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, C) for gray 48x48 (or any size) face crops."""
        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        p = self._forward(to_model_input(tf.constant(crops), self.size, self.channels)).numpy()
        return np.hstack([1 - p, p]) if p.shape[1] == 1 else p

    def predict_image(self, image: np.ndarray, path: Path | None = None) -> ImagePrediction:
        """All faces of an RGB image, largest first."""
        boxes = faces.detect_faces(image)
        crops = np.stack([faces.crop_face(image, b, self.margin) for b in boxes]) if boxes else np.zeros((0, 48, 48))
        probs = self.classify_crops(crops)
        preds = [
            FacePrediction(
                b, self.class_names[int(p.argmax())], float(p.max()), {c: float(v) for c, v in zip(self.class_names, p)}
            )
            for b, p in zip(boxes, probs)
        ]
        return ImagePrediction(path, image, preds)

    def predict_path(self, path: str | Path) -> ImagePrediction:
        """Read a photo (raises faces.ImageReadError with the reason) and predict every face."""
        return self.predict_image(faces.read_photo(path), Path(path))


def predict_emotion(
    image_or_path: str | Path | np.ndarray, model: keras.Model | str | Path | None = None
) -> list[dict]:
    """As in the seed tutorial: labels and probabilities per face found in an image or file.

    ``model`` defaults to the best saved model (outputs/models/baseline_cnn.keras).
    """
    predictor = EmotionPredictor(model or config.MODELS_DIR / "baseline_cnn.keras")
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


def annotate(image: np.ndarray, preds: list[FacePrediction]) -> np.ndarray:
    """RGB copy of ``image`` with a box and 'label confidence' for each face."""
    out = np.ascontiguousarray(image.copy())
    thick = max(1, round(min(out.shape[:2]) / 250))
    for f in preds:
        b = f.box
        cv2.rectangle(out, (b.x, b.y), (b.x + b.w, b.y + b.h), (0, 200, 0), thick + 1)
        text = f"{f.label} {f.confidence:.0%}"
        scale = max(0.4, b.w / 220)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        y = max(th + 4, b.y - 4)
        cv2.rectangle(out, (b.x, y - th - 4), (b.x + tw + 4, y + 2), (0, 200, 0), -1)
        cv2.putText(out, text, (b.x + 2, y - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out
