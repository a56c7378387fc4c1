"""Input pipeline: tf.data with on-graph Keras preprocessing layers for augmentation.

Augmentation runs on whole batches inside the tf.data graph (parallel to training), never inside
the saved model, so saved models stay small and inference sees exactly the raw image.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight


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

    def _uniform(self, n, low, high, k: int):
        seed = None if self.seed is None else self.seed + k
        return tf.random.uniform([n], low, high, seed=seed)

    def call(self, images, training: bool = True):
        if not training:
            return images
        x = tf.convert_to_tensor(images, tf.float32)
        n, h, w = tf.shape(x)[0], tf.cast(tf.shape(x)[1], tf.float32), tf.cast(tf.shape(x)[2], tf.float32)
        rot = math.radians(self.rotation_deg)
        theta = self._uniform(n, -rot, rot, 0)
        shear = math.radians(self.shear_deg)
        sh = self._uniform(n, -shear, shear, 1)
        zx = self._uniform(n, 1 - self.zoom, 1 + self.zoom, 2)
        zy = self._uniform(n, 1 - self.zoom, 1 + self.zoom, 3)
        tx = self._uniform(n, -self.translate, self.translate, 4) * w
        ty = self._uniform(n, -self.translate, self.translate, 5) * h
        flip = tf.where(self._uniform(n, 0.0, 1.0, 6) < (0.5 if self.hflip else 0.0), -1.0, 1.0)
        # Output pixel (x, y) samples input at A @ (x - c) + c + t, with A = R(theta) S(shear) Z F.
        c, s_ = tf.cos(theta), tf.sin(theta)
        a00, a01 = c * zx * flip, (-s_ + c * tf.tan(sh)) * zy
        a10, a11 = s_ * zx * flip, (c + s_ * tf.tan(sh)) * zy
        cx, cy = (w - 1) / 2, (h - 1) / 2
        b0 = cx - a00 * cx - a01 * cy + tx
        b1 = cy - a10 * cx - a11 * cy + ty
        zeros = tf.zeros_like(a00)
        transforms = tf.stack([a00, a01, b0, a10, a11, b1, zeros, zeros], axis=1)
        out = tf.raw_ops.ImageProjectiveTransformV3(
            images=x,
            transforms=transforms,
            output_shape=tf.shape(x)[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="NEAREST",
        )
        out.set_shape(x.shape)  # the raw op drops the static shape that later layers rely on
        return out


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


def to_model_input(images: tf.Tensor, size: int, channels: int) -> tf.Tensor:
    """uint8/float (N, H, W[, C]) -> float32 (N, size, size, channels), values kept in 0-255."""
    x = tf.cast(images, tf.float32)
    if x.shape.rank == 3:
        x = x[..., None]
    if x.shape[1] != size or x.shape[2] != size:
        x = tf.image.resize(x, (size, size))
    if channels == 3 and x.shape[-1] == 1:
        x = tf.repeat(x, 3, axis=-1)
    elif channels == 1 and x.shape[-1] == 3:
        x = tf.image.rgb_to_grayscale(x)
    return x


def encode_labels(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot for multi-class; float column for binary (n_classes == 1)."""
    if n_classes == 1:
        return labels.astype("float32").reshape(-1, 1)
    return keras.utils.to_categorical(labels, n_classes).astype("float32")


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
) -> tf.data.Dataset:
    """A batched tf.data pipeline: (shuffle) -> batch -> model input -> (augment, mixup) -> prefetch."""
    y = encode_labels(np.asarray(labels), n_classes)
    parts = (images, y) if sample_weight is None else (images, y, sample_weight.astype("float32"))
    ds = tf.data.Dataset.from_tensor_slices(parts)
    if training:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    aug = get_augment(augment)
    layers = augmentation_layers(aug, seed) if training and aug.active else None
    mixer = keras.layers.MixUp(alpha=aug.mixup, seed=seed + 6) if training and aug.mixup else None

    def prepare(x, *rest):
        x = to_model_input(x, size, channels)
        if layers is not None:
            x = layers(x, training=True)
        if mixer is not None:
            mixed = mixer({"images": x, "labels": rest[0]}, training=True)
            x, rest = mixed["images"], (mixed["labels"], *rest[1:])
        return (x, *rest)

    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """'Balanced' class weights, n_samples / (n_classes * count), for the imbalance."""
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
    outs = [layers(x, training=True).numpy()[..., 0] for _ in range(n_variants)]
    return np.clip(np.stack(outs, axis=1), 0, 255).astype(np.uint8)
