"""Saliency: Grad-CAM heat maps of the last convolutional feature map."""

from __future__ import annotations

import keras
import numpy as np

from helpers import backend, models
from helpers.data.pipeline import to_model_input


def feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The last spatial feature map of the trunk: the layer named ``features`` (every builder here names it).

    For models from elsewhere: the last layer with a spatial (rank-4) output that is a non-linearity
    (an activation, or a convolution with one), never a 1x1 shortcut, pooling or dropout layer.
    """
    names = {ly.name for ly in model.layers}
    if models.FEATURES in names:
        return model.get_layer(models.FEATURES)
    for ly in reversed(model.layers):
        if len(ly.output.shape) != 4:
            continue
        act = getattr(ly, "activation", None)
        if isinstance(ly, keras.layers.Activation | keras.layers.ReLU) or (
            isinstance(ly, keras.layers.Conv2D) and act is not None and act.__name__ != "linear"
        ):
            return ly
    raise ValueError(f"{model.name}: no spatial feature map found for Grad-CAM")


def _logit_head(model: keras.Model) -> keras.layers.Dense:
    head = model.layers[-1]
    if not isinstance(head, keras.layers.Dense):
        raise ValueError(f"{model.name}: Grad-CAM needs a Dense output layer, found {head.__class__.__name__}")
    return head


def grad_cam(
    model: keras.Model, images: np.ndarray, class_idx: np.ndarray | None = None, upsample: bool = True
) -> np.ndarray:
    """Grad-CAM heatmaps in [0, 1] for the predicted (or given) class.

    Gradients are those of the class's pre-softmax (or pre-sigmoid) logit, recomputed from the output
    layer's kernel, with respect to :func:`feature_layer`'s map. Returns (N, H, W) at the image size,
    or at the feature map's own size with ``upsample=False``.
    """
    fmap_layer, head = feature_layer(model), _logit_head(model)
    trunk = keras.Model(model.inputs, fmap_layer.output)
    tail = keras.Model(fmap_layer.output, head.input)  # feature map -> the output layer's input
    size, channels = model.input_shape[1], model.input_shape[3]
    fmap = keras.ops.convert_to_numpy(trunk(to_model_input(images, size, channels), training=False))

    def logits(f):
        z = keras.ops.matmul(tail(f, training=False), head.kernel) + head.bias
        return keras.ops.concatenate([-z, z], axis=1) if z.shape[-1] == 1 else z  # sigmoid head: class 0 is -z

    chosen = np.argmax(keras.ops.convert_to_numpy(logits(fmap)), 1) if class_idx is None else np.asarray(class_idx)
    onehot = keras.ops.convert_to_tensor(np.eye(max(2, head.units), dtype="float32")[chosen])
    grads = backend.grad_of_sum(lambda f: keras.ops.multiply(logits(f), onehot), fmap)
    weights = grads.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((weights * fmap).sum(axis=-1), 0)[..., None]
    if upsample:
        cam = keras.ops.convert_to_numpy(keras.ops.image.resize(cam, images.shape[1:3]))
    cam = cam[..., 0]
    cam /= cam.max(axis=(1, 2), keepdims=True) + 1e-8
    return cam
