"""Input pipeline: NumPy arrays -> shuffled batches -> model input -> augmentation, on any Keras backend.

Augmentation is Keras layers written with ``keras.ops``, run on whole batches and never inside the saved
model, so saved models stay small and inference sees exactly the raw image. Batches come from a
``keras.utils.PyDataset`` over the arrays on every backend (a seeded shuffle per epoch, so a resumed run sees
the order an uninterrupted one would); on TensorFlow each batch's transformation is a compiled graph.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import keras
import numpy as np
from keras import ops
from sklearn.utils.class_weight import compute_class_weight

from helpers import backend


@dataclass(frozen=True)
class Augment:
    """Augmentation settings. Rotation and shear in degrees, like ImageDataGenerator."""

    rotation_deg: float = 0.0  # random rotation up to +/- this many degrees
    shear_deg: float = 0.0  # random shear angle up to this (ImageDataGenerator's shear_range is in degrees)
    zoom: float = 0.0  # random zoom in [1 - zoom, 1 + zoom]
    hflip: bool = False  # random horizontal flip
    translate: float = 0.0  # random shift up to this fraction of height/width
    erasing: float = 0.0  # probability of erasing a random rectangle (random erasing / cutout)
    mixup: float = 0.0  # Beta(alpha, alpha) mixup strength; 0 disables

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def active(self) -> bool:
        return any(v for v in asdict(self).values())


#: Named settings. "seed" is the seed tutorial's ImageDataGenerator(rotation_range=30, shear_range=0.2,
#: zoom_range=0.2, horizontal_flip=True); "strong" adds the FER-2013 regularisers from the literature.
AUGMENTATIONS: dict[str, Augment] = {
    "none": Augment(),
    "seed": Augment(rotation_deg=30, shear_deg=0.2, zoom=0.2, hflip=True),
    "light": Augment(rotation_deg=10, zoom=0.1, hflip=True, translate=0.1),
    "strong": Augment(rotation_deg=15, zoom=0.15, hflip=True, translate=0.1, erasing=0.5),
    "strong_mixup": Augment(rotation_deg=15, zoom=0.15, hflip=True, translate=0.1, erasing=0.5, mixup=0.2),
    # Khaireddin & Chen (2021): resized crops at scale 0.8-1.2, shift 0.2, flip, rotation 10 degrees, erasing p=0.5
    "literature": Augment(rotation_deg=10, zoom=0.2, hflip=True, translate=0.2, erasing=0.5),
}


def get_augment(aug: str | Augment | dict) -> Augment:
    """An :class:`Augment` from a preset name, a dict of settings, or itself."""
    if isinstance(aug, Augment):
        return aug
    if isinstance(aug, dict):
        return replace(Augment(), **aug)
    if aug not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {aug!r}; choose from {sorted(AUGMENTATIONS)}")
    return AUGMENTATIONS[aug]


class RandomAffine(keras.layers.Layer):
    """Random flip, rotation, shear, zoom and shift composed into one affine map per image.

    One bilinear resample per image, as ImageDataGenerator does. Chaining Keras' separate
    RandomRotation/RandomShear/RandomZoom layers resamples (and blurs) the image once per layer,
    which makes training images blurrier than validation images.
    """

    def __init__(
        self,
        rotation_deg: float = 0.0,
        shear_deg: float = 0.0,
        zoom: float = 0.0,
        translate: float = 0.0,
        hflip: bool = False,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rotation_deg, self.shear_deg, self.zoom = rotation_deg, shear_deg, zoom
        self.translate, self.hflip, self.seed = translate, hflip, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rotation_deg": self.rotation_deg,
            "shear_deg": self.shear_deg,
            "zoom": self.zoom,
            "translate": self.translate,
            "hflip": self.hflip,
            "seed": self.seed,
        }

    def _uniform(self, n, low: float, high: float, k: int):
        return keras.random.uniform((n,), low, high, seed=self.seed_generator)

    def call(self, images, training: bool = True):
        if not training:
            return images
        x = ops.cast(images, "float32")
        n, h, w = ops.shape(x)[0], float(x.shape[1]), float(x.shape[2])
        rot = math.radians(self.rotation_deg)
        theta = self._uniform(n, -rot, rot, 0)
        shear = math.radians(self.shear_deg)
        sh = self._uniform(n, -shear, shear, 1)
        zx = self._uniform(n, 1 - self.zoom, 1 + self.zoom, 2)
        zy = self._uniform(n, 1 - self.zoom, 1 + self.zoom, 3)
        tx = self._uniform(n, -self.translate, self.translate, 4) * w
        ty = self._uniform(n, -self.translate, self.translate, 5) * h
        flip = ops.where(self._uniform(n, 0.0, 1.0, 6) < (0.5 if self.hflip else 0.0), -1.0, 1.0)
        # Output pixel (x, y) samples input at A @ (x - c) + c + t, with A = R(theta) S(shear) Z F.
        c, s_ = ops.cos(theta), ops.sin(theta)
        a00, a01 = c * zx * flip, (-s_ + c * ops.tan(sh)) * zy
        a10, a11 = s_ * zx * flip, (c + s_ * ops.tan(sh)) * zy
        cx, cy = (w - 1) / 2, (h - 1) / 2
        b0 = cx - a00 * cx - a01 * cy + tx
        b1 = cy - a10 * cx - a11 * cy + ty
        zeros = ops.zeros_like(a00)
        transforms = ops.stack([a00, a01, b0, a10, a11, b1, zeros, zeros], axis=1)
        return ops.image.affine_transform(x, transforms, interpolation="bilinear", fill_mode="nearest")


def augmentation_layers(aug: Augment, seed: int = 0) -> keras.Sequential:
    """On-graph augmentation for one setting (mixup excluded: it mixes labels too)."""
    ls: list[keras.layers.Layer] = []
    if aug.rotation_deg or aug.shear_deg or aug.zoom or aug.translate or aug.hflip:
        ls.append(RandomAffine(aug.rotation_deg, aug.shear_deg, aug.zoom, aug.translate, aug.hflip, seed=seed))
    if aug.erasing:
        ls.append(
            keras.layers.RandomErasing(factor=aug.erasing, scale=(0.02, 0.2), value_range=(0, 255), seed=seed + 5)
        )
    return keras.Sequential(ls or [keras.layers.Identity()], name="augment")


def to_model_input(images: Any, size: int, channels: int) -> Any:
    """uint8/float (N, H, W[, C]) -> float32 (N, size, size, channels) backend tensor, values kept in 0-255."""
    x = ops.cast(images, "float32")
    if len(x.shape) == 3:
        x = ops.expand_dims(x, -1)
    if x.shape[1] != size or x.shape[2] != size:
        x = ops.image.resize(x, (size, size))
    if channels == 3 and x.shape[-1] == 1:
        x = ops.repeat(x, 3, axis=-1)
    elif channels == 1 and x.shape[-1] == 3:
        x = ops.image.rgb_to_grayscale(x)
    return x


def encode_labels(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot for multi-class; float column for binary (n_classes == 1); soft targets (N x classes) as they are."""
    if labels.ndim == 2:
        return labels.astype("float32")
    if n_classes == 1:
        return labels.astype("float32").reshape(-1, 1)
    return keras.utils.to_categorical(labels, n_classes).astype("float32")


class _Batcher:
    """One batch's transformation: model input, then (when training) augmentation and mixup."""

    def __init__(self, augment: str | Augment, training: bool, seed: int, size: int, channels: int):
        aug = get_augment(augment)
        self.size, self.channels = size, channels
        self.layers = augmentation_layers(aug, seed) if training and aug.active else None
        self.mixer = keras.layers.MixUp(alpha=aug.mixup, seed=seed + 6) if training and aug.mixup else None

    def __call__(self, x, *rest):
        x = to_model_input(x, self.size, self.channels)
        if self.layers is not None:
            x = self.layers(x, training=True)
        if self.mixer is not None:
            mixed = self.mixer({"images": x, "labels": rest[0]}, training=True)
            x, rest = mixed["images"], (mixed["labels"], *rest[1:])
        return (x, *rest)

    def reseed(self, epoch: int) -> None:
        """Start the random streams of ``epoch``: a resumed run augments as an uninterrupted one would."""
        layers = [*(self.layers.layers if self.layers is not None else []), *([self.mixer] if self.mixer else [])]
        for layer in layers:
            for generator in vars(layer).values():
                if isinstance(generator, keras.random.SeedGenerator):
                    base = keras.ops.convert_to_numpy(generator.state)[0]
                    generator.state.assign(np.array([base, epoch << 20], "uint32"))


class ArrayBatches(keras.utils.PyDataset):
    """Batches of NumPy arrays: a seeded shuffle per epoch, then :class:`_Batcher` (compiled on TensorFlow).

    Batches are made in order in this process, so a run repeats exactly. ``epoch`` is the epoch whose order
    and augmentation come next; a resumed run sets it to the epoch it resumes at.
    """

    def __init__(self, parts: tuple[np.ndarray, ...], batch_size: int, shuffle: bool, seed: int, batcher: _Batcher):
        super().__init__()
        self.parts, self.batch_size, self.shuffle, self.seed, self.batcher = parts, batch_size, shuffle, seed, batcher
        self._transform = backend.compiled_batch_fn(batcher)
        self.set_epoch(0)

    def _permutation(self) -> np.ndarray:
        n = len(self.parts[0])
        return np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else np.arange(n)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._order = self._permutation()
        self.batcher.reseed(epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.parts[0]) / self.batch_size)

    def __getitem__(self, i: int) -> tuple[np.ndarray, ...]:
        idx = self._order[i * self.batch_size : (i + 1) * self.batch_size]
        out = self._transform(*(p[idx] for p in self.parts))
        return tuple(ops.convert_to_numpy(t) for t in out)

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    batch_size: int = 64,
    training: bool = False,
    augment: str | Augment = "none",
    seed: int = 0,
    size: int = 48,
    channels: int = 1,
    sample_weight: np.ndarray | None = None,
) -> Any:
    """Batches for training and validation (:class:`ArrayBatches`): (shuffle) -> batch -> model input -> (augment,
    mixup). On TensorFlow the per-batch transformation runs as one compiled graph (``tf.function``).
    """
    y = encode_labels(np.asarray(labels), n_classes)
    parts = (images, y) if sample_weight is None else (images, y, sample_weight.astype("float32"))
    batcher = _Batcher(augment, training, seed, size, channels)
    return ArrayBatches(parts, batch_size, training, seed, batcher)


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """'Balanced' class weights, n_samples / (n_classes * count), for the imbalance (soft targets: of their argmax)."""
    labels = np.asarray(labels)
    labels = labels.argmax(1) if labels.ndim == 2 else labels
    classes = np.arange(n_classes)
    present = np.unique(labels)
    w = compute_class_weight("balanced", classes=present, y=labels)
    out = dict.fromkeys(classes.tolist(), 1.0)
    out.update({int(c): float(v) for c, v in zip(present, w)})
    return out


def sample_augmented(images: np.ndarray, aug: str | Augment, n_variants: int = 6, seed: int = 0) -> np.ndarray:
    """Augmented copies of ``images``: array (n_images, n_variants, 48, 48) uint8, for figures."""
    layers = augmentation_layers(get_augment(aug), seed)
    x = to_model_input(images, images.shape[1], 1)
    outs = [ops.convert_to_numpy(layers(x, training=True))[..., 0] for _ in range(n_variants)]
    return np.clip(np.stack(outs, axis=1), 0, 255).astype(np.uint8)
