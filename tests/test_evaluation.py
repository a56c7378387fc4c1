"""Evaluation pieces that must hold for every architecture: Grad-CAM on the right layer, from logits."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import evaluation, models, training
from helpers.synthetic import make_synthetic_dataset


@pytest.fixture(scope="module")
def faces():
    return make_synthetic_dataset(seed=5, sizes={"train": 0, "val": 0, "test": 14}).images[:6]


@pytest.mark.parametrize("name", sorted(models.BUILDERS))
def test_grad_cam_uses_last_trunk_feature_map(name, trained_models, faces):
    model = training.load_model(trained_models[name])
    layer = evaluation.feature_layer(model)
    assert layer.name == models.FEATURES
    shape = tuple(layer.output.shape[1:3])
    assert min(shape) > 1, "a spatial map, not a pooled vector"
    # never a 1x1 projection shortcut or a pooling/dropout layer
    assert isinstance(layer, keras.layers.Activation) or (
        isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)
    ), layer
    cams = evaluation.grad_cam(model, faces, upsample=False)
    assert cams.shape == (len(faces), *shape)
    assert np.isfinite(cams).all() and cams.min() >= 0 and cams.max() <= 1 + 1e-6
    assert any(np.ptp(c) > 1e-3 for c in cams), "heatmaps are constant"
    full = evaluation.grad_cam(model, faces)
    assert full.shape == (len(faces), 48, 48)


def test_grad_cam_gradients_come_from_logits(trained_models, faces):
    """A saturated softmax has near-zero probability gradients; logit gradients still give a heatmap."""
    model = training.load_model(trained_models["baseline_cnn"])
    head = model.layers[-1]
    head.kernel.assign(head.kernel * 1e4)  # push the softmax into saturation
    probs = evaluation.predict_proba(model, faces)
    assert probs.max(1).min() > 0.999
    cams = evaluation.grad_cam(model, faces, upsample=False)
    assert all(np.ptp(c) > 1e-3 for c in cams)


def test_feature_layer_by_role_for_foreign_models():
    """Without a layer named 'features', the last spatial non-linearity is used, not a later 1x1 conv."""
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inp)
    x = keras.layers.ReLU(name="act")(x)
    x = keras.layers.Conv2D(4, 1, name="shortcut")(x)  # linear 1x1 conv after it
    x = keras.layers.GlobalAveragePooling2D()(x)
    m = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(x))
    assert evaluation.feature_layer(m).name == "act"
