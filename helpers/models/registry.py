"""Model architectures. Each builder returns an uncompiled Keras 3 model taking raw 0-255 pixels.

Scaling to [0, 1] happens inside the model (a parameter-free ``Rescaling`` layer), so training,
evaluation and inference can never disagree on normalisation.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import keras
from keras import layers

from helpers import config

N_CLASSES = len(config.CLASS_NAMES)
INPUT_48 = (config.IMAGE_SIZE, config.IMAGE_SIZE, 1)


#: Name of the last spatial feature map of every trunk (Grad-CAM and feature inspection read it by name).
FEATURES = "features"


def _input_stem(inputs):
    """Scale 0-255 pixels to [0, 1] (a parameter-free layer, saved with the model)."""
    return layers.Rescaling(1 / 255.0)(inputs)


def _conv_bn_relu(x, filters: int, kernel: int = 3, padding: str = "same", name: str | None = None):
    x = layers.Conv2D(filters, kernel, padding=padding)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu", name=name)(x)


def _head(x, n_classes: int):
    """Output layer: one sigmoid unit for a binary task (``n_classes=1``), else a softmax over the classes."""
    if n_classes == 1:
        return layers.Dense(1, activation="sigmoid", name="prob")(x)
    return layers.Dense(n_classes, activation="softmax", name="probs")(x)


def baseline_cnn(input_shape: tuple[int, int, int] = INPUT_48, n_classes: int = N_CLASSES) -> keras.Model:
    """Seed tutorial baseline: 3 x [Conv-BN-ReLU-MaxPool-Dropout(0.25)], Dense(128)-BN-ReLU-Dropout(0.5).

    684,935 parameters at 48x48x1 with 7 classes.
    """
    inputs = keras.Input(input_shape, name="pixels")
    x = _input_stem(inputs)
    for filters in (32, 64, 128):
        x = _conv_bn_relu(x, filters, name=FEATURES if filters == 128 else None)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = _head(x, n_classes)
    return keras.Model(inputs, outputs, name="baseline_cnn")


def dcnn(
    input_shape: tuple[int, int, int] = INPUT_48,
    n_classes: int = N_CLASSES,
    width: int = 32,
    dense: int = 256,
) -> keras.Model:
    """Deeper VGG-style CNN: 4 stages of paired 3x3 Conv-BN-ReLU, MaxPool, Dropout; Dense head.

    Stages have ``width``, 2x, 4x, 8x filters (32-64-128-256 by default: 1,768,423 parameters,
    236 MFLOPs per image, about 5x the baseline's compute); ``width=64`` gives the 64-512 network of
    the VGG-on-FER-2013 literature (about 5x more compute again), which needs a GPU to train in
    reasonable time.
    """
    inputs = keras.Input(input_shape, name="pixels")
    x = _input_stem(inputs)
    for i, drop in enumerate((0.2, 0.25, 0.3, 0.35)):
        for j in range(2):
            x = _conv_bn_relu(x, width * 2**i, name=FEATURES if (i, j) == (3, 1) else None)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(drop)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = _head(x, n_classes)
    return keras.Model(inputs, outputs, name="dcnn")


def vgg_fer(
    input_shape: tuple[int, int, int] = INPUT_48,
    n_classes: int = N_CLASSES,
    crop: int = 40,
    dense: int = 4096,
    dropout: float = 0.2,
) -> keras.Model:
    """The VGG variant of Khaireddin & Chen (2021), 73.3% on FER-2013 with ten-crop averaging: the literature recipe.

    Four stages of two 3x3 Conv-BN-ReLU (64, 128, 256, 512 filters) each followed by 2x2 max-pooling, then two
    ``dense``-unit ReLU layers with dropout. They train on 40x40 crops of the 48x48 face; here the face is resized to
    ``crop`` pixels inside the model, so it takes 48x48 faces like every other model. 29,894,599 parameters (701
    MFLOPs per image) at the defaults; built for a GPU (the ``full`` profile).
    """
    inputs = keras.Input(input_shape, name="pixels")
    x = _input_stem(inputs)
    if crop != input_shape[0]:
        x = layers.Resizing(crop, crop)(x)
    for i, filters in enumerate((64, 128, 256, 512)):
        for j in range(2):
            x = _conv_bn_relu(x, filters, name=FEATURES if (i, j) == (3, 1) else None)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    for _ in range(2):
        x = layers.Dense(dense, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, _head(x, n_classes), name="vgg_fer")


def _res_block(x, filters: int, name: str | None = None):
    """Residual block: two 3x3 Conv-BN with a projection shortcut, then ReLU (named ``name``) and 2x2 max-pooling."""
    shortcut = x
    y = _conv_bn_relu(x, filters)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    if shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, use_bias=False)(shortcut)
        shortcut = layers.BatchNormalization()(shortcut)
    y = layers.Activation("relu", name=name)(layers.Add()([y, shortcut]))
    return layers.MaxPooling2D(2)(y)


def efficient_cnn(
    input_shape: tuple[int, int, int] = INPUT_48,
    n_classes: int = N_CLASSES,
    widths: tuple[int, ...] = (32, 64, 128),
    dropout: float = 0.3,
    name: str = "efficient_cnn",
) -> keras.Model:
    """Our CPU-friendly model: a strided stem, residual 3x3 blocks at 24/12/6 px, global average pooling.

    Designed for accuracy per CPU-minute: about as many FLOPs as the baseline but no 590k-weight dense
    layer. Plain 3x3 convolutions, because depthwise-separable ones run several times slower per FLOP
    on TensorFlow's CPU kernels (measured here).
    """
    inputs = keras.Input(input_shape, name="pixels")
    x = _input_stem(inputs)
    x = _conv_bn_relu(x, widths[0])
    x = layers.MaxPooling2D(2)(x)
    for i, filters in enumerate(widths):
        x = _res_block(x, filters, name=FEATURES if i == len(widths) - 1 else None)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = _head(x, n_classes)
    return keras.Model(inputs, outputs, name=name)


def binary_seed_cnn(input_shape: tuple[int, int, int] = (256, 256, 3), n_classes: int = 1) -> keras.Model:
    """Seed happy/sad project: Conv 32/64/128 (3x3 valid, ReLU) each + MaxPool; Dense(512); sigmoid.

    59,076,673 parameters at 256x256x3.
    """
    inputs = keras.Input(input_shape, name="pixels")
    x = _input_stem(inputs)
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, padding="valid", activation="relu", name=FEATURES if filters == 128 else None)(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = _head(x, n_classes)
    return keras.Model(inputs, outputs, name="binary_seed_cnn")


def binary_compact_cnn(
    input_shape: tuple[int, int, int] = INPUT_48,
    n_classes: int = 1,
    widths: tuple[int, ...] = (16, 32, 64),
    dropout: float = 0.3,
) -> keras.Model:
    """Compact binary model at 48x48 grayscale: the efficient backbone with a sigmoid head.

    77,969 parameters at the default widths 16-32-64; 481,001 (0.81% of the seed architecture) at 40-80-160.
    """
    return efficient_cnn(input_shape, n_classes, widths, dropout, name="binary_compact_cnn")


def pretrained(
    input_shape: tuple[int, int, int] = INPUT_48,
    n_classes: int = N_CLASSES,
    base: str | None = None,
    base_sha256: str | None = None,
    new_head: bool = True,
    train_trunk: bool = False,
    head_from: list[int] | None = None,
) -> keras.Model:
    """A saved model (``base``; None: the shipped FER-2013 model) to fine-tune on other classes.

    ``new_head``: the trunk (everything before the old output layer) under a new softmax head for ``n_classes``
    (1: a sigmoid unit); ``train_trunk`` False freezes the trunk, whose batch-norm layers then keep their statistics.
    ``head_from``: for classes the base already knows, the base's output index of each new class, in order; the new
    head starts as the base's head restricted to them (softmax over those classes; a sigmoid unit gets the second's
    logit minus the first's), so fine-tuning starts from what the base already predicts instead of at chance.
    ``new_head`` False: the saved model as it is, every layer trainable (the second phase of fine-tuning).
    ``base_sha256`` pins the file's content, so a changed base never passes for the same training run.
    """
    from pathlib import Path

    from helpers.models import shipped

    path = Path(base) if base else shipped.verify().path
    if base_sha256 is not None and shipped.sha256_of(path) != base_sha256:
        raise ValueError(f"{path} changed since this fine-tuning run was configured (SHA-256 differs)")
    loaded = keras.models.load_model(path, compile=False, safe_mode=True)
    if tuple(loaded.input_shape[1:]) != tuple(input_shape):
        raise ValueError(f"{path} takes {loaded.input_shape[1:]} images, not {tuple(input_shape)}")
    if not new_head:
        for layer in loaded.layers:
            layer.trainable = True
        return loaded
    trunk = keras.Model(loaded.inputs, loaded.layers[-1].input)
    for layer in trunk.layers:
        layer.trainable = train_trunk
    model = keras.Model(trunk.inputs, _head(trunk.output, n_classes), name="pretrained")
    if head_from is not None:
        model.layers[-1].set_weights(_restricted_head(loaded.layers[-1], head_from, n_classes))
    return model


def _restricted_head(old_head, indices: list[int], n_classes: int) -> list:
    """Kernel and bias of a new output layer equal to ``old_head`` restricted to the classes at ``indices``."""
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in old_head.weights[:2])
    if len(indices) != max(n_classes, 2) or not all(0 <= i < kernel.shape[1] for i in indices):
        wanted = max(n_classes, 2)
        raise ValueError(f"head_from {indices} does not name {wanted} of the base's {kernel.shape[1]} outputs")
    if n_classes == 1:  # sigmoid of (positive logit - negative logit) = softmax over the pair
        negative, positive = indices
        return [kernel[:, [positive]] - kernel[:, [negative]], bias[[positive]] - bias[[negative]]]
    return [kernel[:, indices], bias[indices]]


class WeightsUnavailable(RuntimeError):
    """ImageNet weights could not be found locally nor downloaded; the message says which file to put where."""


_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"

#: ImageNet backbones from ``keras.applications``: (application, input size, preprocessing, weights file without top).
IMAGENET: dict[str, tuple[str, int, str, str]] = {
    "vgg16": ("VGG16", 48, "caffe", "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "resnet50": ("ResNet50", 48, "caffe", "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "mobilenet_v2": (
        "MobileNetV2", 96, "tf", "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"
    ),
}  # fmt: skip


def imagenet_weights_path(arch: str) -> Path:
    """Where Keras keeps (and this builder looks for) ``arch``'s ImageNet weights: ``$KERAS_HOME/models/`` or
    ``~/.keras/models/``."""
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    return home / "models" / IMAGENET[arch][3].split("/")[1]


def _resolve_weights(arch: str, weights: str | None) -> str | None:
    """None, a weights file's path, or "imagenet" (the local copy when there is one, else Keras downloads it)."""
    if weights != "imagenet":
        return weights
    local = imagenet_weights_path(arch)
    return str(local) if local.exists() else "imagenet"


def imagenet_backbone(
    arch: str,
    input_shape: tuple[int, int, int] = INPUT_48,
    n_classes: int = N_CLASSES,
    weights: str | None = "imagenet",
    size: int | None = None,
    dropout: float = 0.3,
) -> keras.Model:
    """``keras.applications`` ``arch`` (vgg16, resnet50, mobilenet_v2) on grey 48x48 faces, with a new softmax head.

    Inside the model: grey -> three equal channels, resized to ``size`` (default: the backbone's), scaled as the
    ImageNet weights expect. ``weights``: "imagenet" (the file in ``~/.keras/models/`` if present, else downloaded),
    None (random start) or a weights file. Raises :class:`WeightsUnavailable` naming the file and where it goes.
    """
    app_name, default_size, mode, rel = IMAGENET[arch]
    size = size or default_size
    inputs = keras.Input(input_shape)
    x = layers.Concatenate()([inputs] * 3) if input_shape[-1] == 1 else inputs
    if size != input_shape[0]:
        x = layers.Resizing(size, size)(x)
    if mode == "caffe":  # BGR means of ImageNet (the three channels are equal, so their order does not matter)
        x = layers.Normalization(mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0])(x)
    else:
        x = layers.Rescaling(1 / 127.5, offset=-1.0)(x)
    try:
        app = getattr(keras.applications, app_name)(
            include_top=False, weights=_resolve_weights(arch, weights), input_tensor=x, input_shape=(size, size, 3)
        )
    except Exception as e:  # no network, a proxy, a truncated download: one clear message
        if weights != "imagenet":
            raise
        raise WeightsUnavailable(
            f"ImageNet weights for {arch} are not in {imagenet_weights_path(arch).parent} and could not be downloaded "
            f"({e.__class__.__name__}: {str(e)[:120]}). On a machine with internet access, download "
            f"{_KERAS_APPS}{rel} and put it at {imagenet_weights_path(arch)}; or build with weights=None for a "
            f"random start."
        ) from e
    x = layers.Activation("linear", name=FEATURES)(app.output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, _head(x, n_classes), name=arch)


#: Registry: name -> builder. Every builder takes ``input_shape`` and ``n_classes`` (1: sigmoid output).
BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "baseline_cnn": baseline_cnn,
    "dcnn": dcnn,
    "vgg_fer": vgg_fer,
    "efficient_cnn": efficient_cnn,
    "binary_seed_cnn": binary_seed_cnn,
    "binary_compact_cnn": binary_compact_cnn,
    "pretrained": pretrained,
    **{arch: functools.partial(imagenet_backbone, arch) for arch in IMAGENET},
}


def build(name: str, **kwargs) -> keras.Model:
    """Build a registered model by name."""
    if name not in BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(BUILDERS)}")
    return BUILDERS[name](**kwargs)


#: Optimizers ``compile_model`` knows: Adam (the seed recipes), AdamW, SGD with Nesterov momentum 0.9.
OPTIMIZERS = ("adam", "adamw", "sgd")


def make_optimizer(
    name: str, lr: float | keras.optimizers.schedules.LearningRateSchedule, weight_decay: float = 0.0
) -> keras.optimizers.Optimizer:
    """A Keras optimizer by name; ``weight_decay`` is decoupled (applied to the weights, not the loss)."""
    wd = weight_decay or None
    if name == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=weight_decay)
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


def compile_model(
    model: keras.Model,
    lr: float | keras.optimizers.schedules.LearningRateSchedule,
    label_smoothing: float = 0.0,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
) -> keras.Model:
    """Compile with the named optimizer and the loss/metrics that fit the model's output (softmax or sigmoid)."""
    if model.output_shape[-1] == 1:
        loss = keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
        metrics = [
            "accuracy",
            keras.metrics.Precision(name="precision"),
            keras.metrics.Recall(name="recall"),
            keras.metrics.AUC(name="auc"),
        ]
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        metrics = ["accuracy"]
    model.compile(optimizer=make_optimizer(optimizer, lr, weight_decay), loss=loss, metrics=metrics)
    return model


def flops_per_image(model: keras.Model) -> int:
    """Multiply-accumulates x2 per image for conv/dense layers (analytic count)."""
    total = 0
    for layer in model.layers:
        out = layer.output.shape
        if isinstance(layer, layers.SeparableConv2D):
            k = layer.kernel_size[0] * layer.kernel_size[1]
            cin = layer.input.shape[-1]
            total += out[1] * out[2] * cin * k + out[1] * out[2] * cin * layer.filters
        elif isinstance(layer, layers.Conv2D):
            k = layer.kernel_size[0] * layer.kernel_size[1]
            total += out[1] * out[2] * out[3] * k * layer.input.shape[-1]
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return 2 * int(total)
