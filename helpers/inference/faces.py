"""Reading arbitrary photos (EXIF orientation honoured), face detectors behind one interface, and face crops.

Detectors: ``haar`` (OpenCV's frontal-face cascade, inside opencv-python) and ``mtcnn`` (the MIT-licensed
``mtcnn`` package; its weights ship inside the wheel). Neither downloads anything at run time. The default is
the best one installed (:func:`default_detector`).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers import config

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}

#: Photos are searched for faces at most this many pixels on their longer side (the crop keeps full resolution),
#: which bounds the detector's memory and time whatever the camera: a 48-megapixel photo is detected at 1600 px.
DETECT_MAX_SIDE = 1600
#: Live video (the live page, ``--camera``) is searched at most this many pixels on its longer side: a 640x480 frame
#: at less than a third of its size, where MTCNN still finds faces from about 64 pixels of the frame (a webcam's are
#: larger). ``make bench`` (part ``live``) measures this setting against full-size frames on the same frames.
LIVE_MAX_SIDE = 200


class ImageReadError(ValueError):
    """A file that is not a readable image; the message says why."""


def read_photo(path: str | Path) -> np.ndarray:
    """Read a JPEG/PNG/BMP/WebP/TIFF photo as RGB uint8 (H, W, 3), with EXIF orientation applied.

    Any mode PIL reads is converted: palette, alpha (dropped), CMYK, 1-bit, and 16-bit or float grey (scaled to
    its own range, not clipped). Images over Pillow's decompression-bomb limit (about 179 megapixels) are refused.
    """
    path = Path(path)
    if path.suffix.lower() not in PHOTO_SUFFIXES:
        raise ImageReadError(
            f"unsupported format {path.suffix or '(none)'!r} (expected {', '.join(sorted(PHOTO_SUFFIXES))})"
        )
    if path.stat().st_size == 0:
        raise ImageReadError("empty file")
    try:
        with Image.open(path) as im:
            im.load()
            return _to_rgb8(ImageOps.exif_transpose(im))
    except Image.DecompressionBombError as e:
        raise ImageReadError(f"image too large to read safely ({e})") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"not an image or corrupt ({e.__class__.__name__}: {e})") from e


def _to_rgb8(im: Image.Image) -> np.ndarray:
    """RGB uint8 from any PIL mode; high-bit-depth grey is stretched from its own minimum and maximum."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = np.asarray(im, dtype=np.float64)
        lo, hi = float(grey.min()), float(grey.max())
        grey = np.zeros_like(grey) if hi <= lo else (grey - lo) * (255.0 / (hi - lo))
        return np.repeat(np.round(grey).astype(np.uint8)[..., None], 3, axis=-1)
    return np.asarray(im.convert("RGB"))


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """RGB or gray -> gray uint8."""
    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Detection:
    """A detected face: its box, the detector's confidence, and (MTCNN) the eye centres in image pixels."""

    box: Box
    confidence: float
    left_eye: tuple[float, float] | None = None  # the eye on the image's left
    right_eye: tuple[float, float] | None = None


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB (or gray) uint8 image, largest first."""
        ...


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    clf = cv2.CascadeClassifier(str(path))
    if clf.empty():
        raise RuntimeError(f"OpenCV face cascade could not be loaded from {path}; reinstall opencv-python-headless<5")
    return clf


def _largest_first(found: list[Detection]) -> list[Detection]:
    return sorted(found, key=lambda d: -d.box.w * d.box.h)


@dataclass
class HaarDetector:
    """OpenCV's Haar cascade. Confidence: the cascade's final-stage weight (higher is surer; not a probability)."""

    min_size: int = 24
    scale_factor: float = 1.1
    min_neighbors: int = 5
    name: str = "haar"

    def detect(self, image: np.ndarray) -> list[Detection]:
        gray = cv2.equalizeHist(to_gray(image))
        boxes, _, weights = _cascade().detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
            outputRejectLevels=True,
        )
        return _largest_first(
            [Detection(Box(int(x), int(y), int(w), int(h)), float(c)) for (x, y, w, h), c in zip(boxes, weights)]
        )


@dataclass
class MtcnnDetector:
    """MTCNN (``mtcnn`` package): boxes, a face probability, and eye landmarks for alignment."""

    min_confidence: float = 0.9
    min_size: int = 20
    name: str = "mtcnn"

    def __post_init__(self) -> None:
        if not _mtcnn_installed():
            raise RuntimeError(
                "the MTCNN detector needs the mtcnn package and TensorFlow, which it runs on: "
                "pip install mtcnn tensorflow (or use --detector haar)"
            )
        from mtcnn import MTCNN

        self._net = MTCNN()

    def detect(self, image: np.ndarray) -> list[Detection]:
        rgb = np.ascontiguousarray(np.repeat(image[..., None], 3, -1) if image.ndim == 2 else image)
        if min(rgb.shape[:2]) < self.min_size:
            return []
        found = []
        for r in self._net.detect_faces(rgb, min_face_size=self.min_size):
            if r["confidence"] < self.min_confidence:
                continue
            x, y, w, h = (int(v) for v in r["box"])
            kp = r.get("keypoints", {})
            eyes = [tuple(float(v) for v in kp[k]) if k in kp else None for k in ("left_eye", "right_eye")]
            if eyes[0] and eyes[1] and eyes[0][0] > eyes[1][0]:
                eyes.reverse()  # left_eye is the one on the image's left
            found.append(Detection(Box(max(0, x), max(0, y), w, h), float(r["confidence"]), *eyes))
        return _largest_first(found)


DETECTORS = {"haar": HaarDetector, "mtcnn": MtcnnDetector}


def _mtcnn_installed() -> bool:
    """The mtcnn package and the TensorFlow it runs on (whatever Keras backend this process uses)."""
    return all(importlib.util.find_spec(m) is not None for m in ("mtcnn", "tensorflow"))


def available_detectors() -> list[str]:
    """Detectors usable here (``mtcnn`` only when its package and TensorFlow are installed)."""
    return [n for n in DETECTORS if n != "mtcnn" or _mtcnn_installed()]


def default_detector() -> str:
    """The best installed detector: MTCNN (finds more faces; measured in ``make bench``), else Haar."""
    return "mtcnn" if "mtcnn" in available_detectors() else "haar"


@lru_cache(maxsize=4)
def get_detector(name: str | None = None) -> Detector:
    """A detector by name (None or "auto": :func:`default_detector`); one instance per name."""
    name = default_detector() if name in (None, "auto") else name
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; choose from {', '.join(DETECTORS)}")
    return DETECTORS[name]()


def detect_faces(image: np.ndarray, detector: str | None = None) -> list[Detection]:
    """Faces in an RGB or gray image, largest first, found by ``detector`` (default: the best installed)."""
    return detect_scaled(get_detector(detector), image)


def detect_scaled(detector: Detector, image: np.ndarray, max_side: int = DETECT_MAX_SIDE) -> list[Detection]:
    """``detector`` run on ``image`` shrunk to at most ``max_side`` pixels (longer side); boxes and eyes in the
    full image's pixels."""
    scale = max(image.shape[:2]) / max_side
    if scale <= 1:
        return detector.detect(image)
    small = cv2.resize(
        image, (round(image.shape[1] / scale), round(image.shape[0] / scale)), interpolation=cv2.INTER_AREA
    )

    def up(point: tuple[float, float] | None) -> tuple[float, float] | None:
        return None if point is None else (point[0] * scale, point[1] * scale)

    return [
        Detection(
            Box(*(round(v * scale) for v in (d.box.x, d.box.y, d.box.w, d.box.h))),
            d.confidence,
            up(d.left_eye),
            up(d.right_eye),
        )
        for d in detector.detect(small)
    ]


def eye_angle(det: Detection) -> float:
    """Degrees to rotate the image by so that the eyes are level (0 without landmarks)."""
    if det.left_eye is None or det.right_eye is None:
        return 0.0
    (lx, ly), (rx, ry) = det.left_eye, det.right_eye
    return math.degrees(math.atan2(ry - ly, rx - lx))


def crop_face(
    image: np.ndarray,
    face: Box | Detection,
    margin: float = 0.15,
    size: int = config.IMAGE_SIZE,
    align: bool = False,
) -> np.ndarray:
    """Square gray crop around the face, ``margin`` wider on each side, resized with area interpolation.

    ``align`` (needs eye landmarks, i.e. MTCNN) first rotates the image about the face centre so the eyes are
    level, as FER-2013's faces mostly are.
    """
    box = face.box if isinstance(face, Detection) else face
    gray = to_gray(image)
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    angle = eye_angle(face) if align and isinstance(face, Detection) else 0.0
    if angle:
        rot = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
        gray = cv2.warpAffine(gray, rot, gray.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
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
