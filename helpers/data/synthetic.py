"""Embedded default dataset: procedurally drawn 48x48 grayscale faces with 7 expressions.

Used only when no FER-2013 download is found, so that every notebook runs on a fresh machine.
Classes differ in expression features (mouth curve and opening, brow angle and height, eye
opening, nose wrinkle); faces vary in identity (face shape, eye spacing, skin tone), pose
(shift, rotation, scale), lighting (gradient, contrast) and noise. Deterministic by seed.
Everything produced from it is labelled :data:`helpers.config.SYNTHETIC_LABEL`.
"""

from __future__ import annotations

import cv2
import numpy as np

from helpers import config
from helpers.data.datasets import FerDataset, LoadReport

#: Images per class in train / val / test, imbalanced like FER-2013 (disgust rare, happy common).
CLASS_WEIGHTS = (0.14, 0.03, 0.14, 0.25, 0.17, 0.11, 0.16)
SPLIT_SIZES = {"train": 8000, "val": 1000, "test": 1000}
S = 4  # supersampling factor for smooth anti-aliased drawing

# Expression parameters per class: (mouth_curve, mouth_open, brow_tilt, brow_raise, eye_open, wrinkle)
# mouth_curve > 0 smiles, < 0 frowns; brow_tilt > 0 lowers the inner ends (anger).
EXPRESSIONS = {
    "angry": (-0.25, 0.0, 1.0, -0.6, 0.6, 0.0),
    "disgust": (-0.45, 0.25, 0.5, -0.3, 0.45, 1.0),
    "fear": (-0.1, 0.55, -0.7, 0.8, 1.3, 0.0),
    "happy": (0.9, 0.2, 0.0, 0.1, 0.8, 0.0),
    "sad": (-0.8, 0.0, -0.9, 0.2, 0.7, 0.0),
    "surprise": (0.0, 1.0, 0.0, 1.2, 1.4, 0.0),
    "neutral": (0.0, 0.0, 0.0, 0.0, 0.9, 0.0),
}


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * S)), int(round(y * S))


def draw_face(cls: str, rng: np.random.Generator) -> np.ndarray:
    """One 48x48 uint8 face of expression ``cls`` with random identity, pose, lighting and noise."""
    curve, mopen, tilt, raise_, eye_open, wrinkle = (v + rng.normal(0, 0.12) for v in EXPRESSIONS[cls])
    n = config.IMAGE_SIZE * S
    bg = rng.uniform(20, 200)
    canvas = np.full((n, n), bg, np.float32)
    skin = rng.uniform(110, 230)
    dark = max(0.0, skin - rng.uniform(70, 130))
    cx, cy = 24 + rng.normal(0, 1.2), 25 + rng.normal(0, 1.2)
    fw, fh = rng.uniform(15, 19), rng.uniform(19, 23)
    cv2.ellipse(canvas, _pt(cx, cy), _pt(fw, fh), 0, 0, 360, skin, -1, cv2.LINE_AA)
    # hair / forehead band for identity variation
    if rng.random() < 0.6:
        cv2.ellipse(
            canvas,
            _pt(cx, cy - fh * 0.75),
            _pt(fw * 1.02, fh * 0.45),
            0,
            180,
            360,
            rng.uniform(10, 90),
            -1,
            cv2.LINE_AA,
        )
    eye_dx, eye_y = rng.uniform(6, 8), cy - rng.uniform(3, 5)
    eye_w, eye_h = rng.uniform(2.2, 3.0), max(0.6, 1.6 * eye_open)
    for side in (-1, 1):
        ex = cx + side * eye_dx
        cv2.ellipse(canvas, _pt(ex, eye_y), _pt(eye_w, eye_h), 0, 0, 360, 245, -1, cv2.LINE_AA)
        cv2.circle(canvas, _pt(ex, eye_y), int(S * min(eye_h, 1.3)), dark, -1, cv2.LINE_AA)
        by = eye_y - 3.2 - 1.6 * raise_
        inner = (ex - side * 2.8, by + 1.4 * tilt)
        outer = (ex + side * 2.8, by - 0.6 * tilt)
        cv2.line(canvas, _pt(*inner), _pt(*outer), dark, int(S * rng.uniform(0.9, 1.4)), cv2.LINE_AA)
    # nose, with a wrinkle for disgust
    cv2.line(canvas, _pt(cx, cy - 1), _pt(cx + 0.8, cy + 4), dark * 0.5 + skin * 0.5, S, cv2.LINE_AA)
    if wrinkle > 0.5:
        for dy in (0.0, 1.3):
            cv2.line(canvas, _pt(cx - 2.5, cy - 1.5 + dy), _pt(cx + 2.5, cy - 1.5 + dy), dark, S // 2 + 1, cv2.LINE_AA)
    # mouth: a parabola with curvature ``curve`` and an opening of height ``mopen``
    my, mw = cy + rng.uniform(8, 10), rng.uniform(5, 7.5)
    xs = np.linspace(-mw, mw, 24)
    upper = my + curve * 2.8 * (1 - (xs / mw) ** 2) - curve * 1.2  # image y grows downward
    lower = upper + max(0.0, mopen) * 3.5 * (1 - (xs / mw) ** 2)
    if mopen > 0.25:
        poly = np.concatenate([np.stack([cx + xs, upper], 1), np.stack([cx + xs, lower], 1)[::-1]])
        cv2.fillPoly(canvas, [np.round(poly * S).astype(np.int32)], dark * 0.6, cv2.LINE_AA)
    else:
        pts = np.round(np.stack([cx + xs, upper], 1) * S).astype(np.int32)
        cv2.polylines(canvas, [pts], False, dark, int(S * rng.uniform(0.9, 1.5)), cv2.LINE_AA)
    # pose: rotation, scale and shift
    m = cv2.getRotationMatrix2D((n / 2, n / 2), rng.normal(0, 8), rng.uniform(0.9, 1.1))
    m[:, 2] += rng.normal(0, 1.5, 2) * S
    canvas = cv2.warpAffine(canvas, m, (n, n), borderMode=cv2.BORDER_REPLICATE)
    img = cv2.resize(canvas, (config.IMAGE_SIZE, config.IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    # lighting: a linear gradient and contrast change, then sensor noise
    gx, gy = rng.normal(0, 0.6, 2)
    ramp = np.add.outer(np.linspace(-1, 1, 48) * gy, np.linspace(-1, 1, 48) * gx) * 25
    img = (img - 128) * rng.uniform(0.7, 1.2) + 128 + ramp + rng.normal(0, rng.uniform(2, 9), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_synthetic_dataset(seed: int = 0, sizes: dict[str, int] | None = None) -> FerDataset:
    """The embedded default dataset, in the same in-memory form as FER-2013."""
    sizes = sizes or SPLIT_SIZES
    rng = np.random.default_rng(seed)
    probs = np.asarray(CLASS_WEIGHTS) / sum(CLASS_WEIGHTS)
    images, labels, splits, sources = [], [], [], []
    for split, n in sizes.items():
        per_class = np.maximum(1, np.round(probs * n).astype(int))
        for c, k in enumerate(per_class):
            for i in range(k):
                images.append(draw_face(config.CLASS_NAMES[c], rng))
                labels.append(c)
                splits.append(split)
                sources.append(f"synthetic:{split}/{config.CLASS_NAMES[c]}/{i:05d}")
    report = LoadReport(f"embedded synthetic generator (seed {seed})", "synthetic")
    report.ok(len(labels))
    report.notes.append(f"No FER-2013 found: using the {config.SYNTHETIC_LABEL}. {config.KAGGLE_HINT}")
    return FerDataset(
        np.stack(images),
        np.asarray(labels, np.int8),
        np.asarray(splits),
        np.asarray(sources, dtype=object),
        report,
        synthetic=True,
        fingerprint=f"synthetic-seed{seed}-" + "-".join(f"{k}{v}" for k, v in sizes.items()),
    )
