"""Photos: ``<class>/`` folders of a user's photos (binary task), and composed 'photos' of faces for demos and tests.

Photo folders may need face detection (``face_crop``), so they live here, above the FER-2013 data layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from helpers.data.datasets import DatasetError, LoadReport
from helpers.inference import faces


@dataclass
class PhotoFolders:
    """Photos from ``<root>/<class>/*`` as uint8 arrays, with labels, sources and a load report."""

    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    class_names: tuple[str, ...]
    report: LoadReport


def load_class_folders(
    root: str | Path,
    classes: tuple[str, ...] | None = None,
    *,
    size: int = 48,
    face_crop: bool = False,
    gray: bool = True,
    detector: str | None = None,
) -> PhotoFolders:
    """Load any ``<class>/`` folders of photos (JPEG/PNG/BMP/WebP, any size, colour or gray, EXIF-rotated).

    ``classes`` fixes the label order (e.g. ("sad", "happy") makes happy the positive class) and
    files in other folders are skipped as 'unknown class folder'. With ``face_crop`` the largest face found by
    ``detector`` (default: the best installed) is cropped; a photo without a face is skipped with that reason.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"photo folder not found: {root} (expected {root}/<class>/*.jpg, e.g. happy/ and sad/)")
    dirs = sorted(p for p in root.iterdir() if p.is_dir())
    names = tuple(classes) if classes else tuple(d.name.lower() for d in dirs)
    index = {c.lower(): i for i, c in enumerate(names)}
    missing = [c for c in names if not (root / c).is_dir() and c.lower() not in {d.name.lower() for d in dirs}]
    if missing:
        raise DatasetError(f"{root}: class folder(s) {missing} missing (expected {', '.join(n + '/' for n in names)})")
    report = LoadReport(str(root), "class-folders")
    imgs, labels, sources = [], [], []
    for f in sorted(p for p in root.iterdir() if p.is_file()):
        report.skip(str(f), "not in a class folder")
    for d in dirs:
        files = sorted(p for p in d.rglob("*") if p.is_file())
        if d.name.lower() not in index:
            for f in files:
                report.skip(str(f), f"unknown class folder: {d.name!r} (expected one of {', '.join(names)})")
            continue
        if not files:
            report.notes.append(f"class folder {d.name}/ is empty")
        for f in files:
            try:
                rgb = faces.read_photo(f)
            except faces.ImageReadError as e:
                report.skip(str(f), str(e))
                continue
            if face_crop:
                found = faces.detect_faces(rgb, detector)
                if not found:
                    report.skip(str(f), "no face found")
                    continue
                img = faces.crop_face(rgb, found[0], size=size)
                if not gray:
                    img = np.repeat(img[..., None], 3, axis=-1)
            else:
                img = faces.resize_whole(rgb, size, gray=gray)
            report.ok()
            imgs.append(img)
            labels.append(index[d.name.lower()])
            sources.append(str(f))
    if not imgs:
        raise DatasetError(f"{root}: no loadable photos ({report.seen} files seen, all skipped)")
    return PhotoFolders(np.stack(imgs), np.asarray(labels, np.int8), np.asarray(sources, dtype=object), names, report)


def place_on_canvas(face: np.ndarray, rng: np.random.Generator, canvas: int = 0) -> np.ndarray:
    """An RGB 'photo': ``face`` upscaled and pasted at a random place on a larger textured background."""
    size = canvas or int(rng.integers(160, 320))
    bg = np.clip(rng.normal(rng.uniform(60, 190), 25, (size, size)), 0, 255).astype(np.uint8)
    bg = cv2.GaussianBlur(bg, (0, 0), 4)
    fsize = int(rng.integers(size // 3, int(size * 0.6)))
    f = cv2.resize(face, (fsize, fsize), interpolation=cv2.INTER_CUBIC)
    y, x = (int(rng.integers(0, size - fsize + 1)) for _ in range(2))
    bg[y : y + fsize, x : x + fsize] = f
    tint = rng.uniform(0.85, 1.15, 3)
    return np.clip(np.repeat(bg[..., None], 3, axis=-1) * tint, 0, 255).astype(np.uint8)


def tile_boxes(n: int, cell: int = 150) -> list[faces.Box]:
    """Where :func:`tile_faces` puts each of ``n`` faces."""
    s = cell - 20
    return [faces.Box(20 + i * cell + 10, 30, s, s) for i in range(n)]


def tile_faces(faces_: list[np.ndarray], rng: np.random.Generator, cell: int = 150) -> np.ndarray:
    """An RGB group 'photo' with each face upscaled into its own cell, side by side, with margins."""
    img = np.full((cell + 40, len(faces_) * cell + 40), int(rng.integers(40, 200)), np.uint8)
    for f, b in zip(faces_, tile_boxes(len(faces_), cell)):
        img[b.y : b.y + b.h, b.x : b.x + b.w] = cv2.resize(f, (b.w, b.h), interpolation=cv2.INTER_CUBIC)
    return np.repeat(img[..., None], 3, axis=-1)


def clutter(size: int, rng: np.random.Generator) -> np.ndarray:
    """A face-free RGB 'photo': textured background with random rectangles, discs and lines."""
    img = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 3)
    for _ in range(int(rng.integers(8, 20))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = (int(v) for v in rng.integers(0, size, 2))
        r = int(rng.integers(size // 20, size // 4))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + r, y + int(rng.integers(r // 3, 2 * r))), colour, -1)
        elif kind == 1:
            cv2.circle(img, (x, y), r // 2, colour, -1)
        else:
            cv2.line(img, (x, y), tuple(int(v) for v in rng.integers(0, size, 2)), colour, int(rng.integers(1, 6)))
    return img


def webcam_frame(
    faces_: list[np.ndarray], rng: np.random.Generator, shape: tuple[int, int] = (480, 640), sizes=(80, 220)
) -> tuple[np.ndarray, list[faces.Box]]:
    """A webcam-like RGB frame (``shape``, 640x480 by default) with each face at a random size in ``sizes`` pixels,
    each in its own vertical strip of the frame, on :func:`clutter`. Returns the frame and the faces' boxes."""
    h, w = shape
    img = clutter(max(h, w), rng)[:h, :w].copy()
    strip, boxes = w // max(1, len(faces_)), []
    for i, face in enumerate(faces_):
        size = int(rng.integers(sizes[0], min(sizes[1], strip, h) + 1))
        x = i * strip + int(rng.integers(0, strip - size + 1))
        y = int(rng.integers(0, h - size + 1))
        img[y : y + size, x : x + size] = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)[..., None]
        boxes.append(faces.Box(x, y, size, size))
    return img, boxes


def scatter_face(
    face: np.ndarray, rng: np.random.Generator, size: int = 320, max_angle: float = 20.0
) -> tuple[np.ndarray, faces.Box]:
    """``face`` at a random size, place and rotation (up to ``max_angle`` degrees) on :func:`clutter`.

    Returns the RGB photo and the face's box (the upright square it was pasted in).
    """
    img = clutter(size, rng)
    fsize = int(rng.integers(48, size // 2))
    f = cv2.resize(face, (fsize, fsize), interpolation=cv2.INTER_CUBIC)
    rot = cv2.getRotationMatrix2D((fsize / 2, fsize / 2), float(rng.uniform(-max_angle, max_angle)), 1.0)
    f = cv2.warpAffine(f, rot, (fsize, fsize), borderMode=cv2.BORDER_REPLICATE)
    x, y = (int(v) for v in rng.integers(0, size - fsize + 1, 2))
    img[y : y + fsize, x : x + fsize] = np.repeat(f[..., None], 3, axis=-1)
    return img, faces.Box(x, y, fsize, fsize)


def write_photo_folders(
    images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], out_dir, seed: int = 0
) -> None:
    """Write ``<out_dir>/<class>/*.jpg`` photos made by :func:`place_on_canvas` (for the binary task demo)."""
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    for i, (im, lab) in enumerate(zip(images, labels)):
        d = out / class_names[lab]
        d.mkdir(parents=True, exist_ok=True)
        save_rgb(d / f"photo_{i:05d}.jpg", place_on_canvas(im, rng))


def save_rgb(path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image (JPEG/PNG by suffix)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
