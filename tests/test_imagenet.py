"""ImageNet backbones from keras.applications on grey 48x48 faces: weights from a local file, one clear error when
they can be neither found nor downloaded, and a saved model that loads in safe mode."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import models, training
from helpers.models import registry


def test_every_backbone_takes_grey_faces_and_exposes_its_feature_map():
    for arch in models.IMAGENET:
        model = models.build(arch, weights=None, n_classes=8)
        assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 8)
        assert len(model.get_layer(models.FEATURES).output.shape) == 4  # Grad-CAM's layer


def test_weights_come_from_a_locally_written_file(tmp_path):
    source = models.build("mobilenet_v2", weights=None, n_classes=3)
    path = tmp_path / "backbone.weights.h5"
    keras.Model(source.inputs, source.get_layer(models.FEATURES).output).save_weights(path)
    loaded = models.build("mobilenet_v2", weights=str(path), n_classes=3)
    conv = next(layer for layer in source.layers if isinstance(layer, keras.layers.Conv2D))
    np.testing.assert_array_equal(loaded.get_layer(conv.name).get_weights()[0], conv.get_weights()[0])


def test_a_cached_imagenet_file_is_used_without_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert registry._resolve_weights("vgg16", "imagenet") == "imagenet"  # not cached: Keras would download it
    cached = models.imagenet_weights_path("vgg16")
    assert cached == tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert registry._resolve_weights("vgg16", "imagenet") == str(cached)


def test_missing_weights_name_the_file_and_where_it_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    import keras.src.applications.mobilenet_v2 as app  # the module that calls get_file

    monkeypatch.setattr(app.file_utils, "get_file", offline)
    with pytest.raises(models.WeightsUnavailable) as err:
        models.build("mobilenet_v2")
    message = str(err.value)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5" in message
    assert str(tmp_path / "models") in message and "weights=None" in message


def test_a_trained_backbone_saves_and_loads_in_safe_mode(tmp_path):
    model = models.build("mobilenet_v2", weights=None, n_classes=7)
    path = training.save_model_atomic(model, tmp_path / "m.keras")
    back = training.load_model(path)
    x = np.random.default_rng(0).integers(0, 255, (2, 48, 48, 1)).astype("float32")
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
