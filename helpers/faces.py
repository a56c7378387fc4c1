"""Reading arbitrary photos (EXIF orientation honoured) and detecting faces with OpenCV's Haar cascade.

The cascade ships inside opencv-python (``cv2.data.haarcascades``): nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers import config

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class ImageReadError(ValueError):
    """A file that is not a readable image; the message says why."""


def read_photo(path: str | Path) -> np.ndarray:
    """Read a JPEG/PNG/BMP/WebP photo as RGB uint8 (H, W, 3), with EXIF orientation applied."""
    path = Path(path)
    if path.suffix.lower() not in PHOTO_SUFFIXES:
        raise ImageReadError(f"unsupported format {path.suffix or '(none)'!r} (expected jpg, png, bmp or webp)")
    if path.stat().st_size == 0:
        raise ImageReadError("empty file")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageReadError(f"not an image or corrupt ({e.__class__.__name__}: {e})") from e


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """RGB or gray -> gray uint8."""
    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    clf = cv2.CascadeClassifier(str(path))
    if clf.empty():
        raise RuntimeError(f"OpenCV face cascade could not be loaded from {path}; reinstall opencv-python-headless<5")
    return clf


def detect_faces(image: np.ndarray, min_size: int = 24, scale_factor: float = 1.1, min_neighbors: int = 5) -> list[Box]:
    """Faces in an RGB or gray image, largest first."""
    gray = cv2.equalizeHist(to_gray(image))
    found = _cascade().detectMultiScale(
        gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(min_size, min_size)
    )
    boxes = [Box(int(x), int(y), int(w), int(h)) for x, y, w, h in (found if len(found) else [])]
    return sorted(boxes, key=lambda b: -b.w * b.h)


def crop_face(image: np.ndarray, box: Box, margin: float = 0.15, size: int = config.IMAGE_SIZE) -> np.ndarray:
    """Square gray crop around ``box`` with a relative ``margin``, resized to ``size``."""
    gray = to_gray(image)
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    half = max(box.w, box.h) * (1 + 2 * margin) / 2
    x0, y0 = int(round(cx - half)), int(round(cy - half))
    x1, y1 = int(round(cx + half)), int(round(cy + half))
    pad = max(0, -x0, -y0, x1 - gray.shape[1], y1 - gray.shape[0])
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    return cv2.resize(gray[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)


def resize_whole(image: np.ndarray, size: int = config.IMAGE_SIZE, gray: bool = True) -> np.ndarray:
    """The whole photo resized to a square (what the seed project feeds its model)."""
    img = to_gray(image) if gray else image
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
