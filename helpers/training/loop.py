"""The epoch loop: the batches of :mod:`helpers.data.pipeline` through a compiled model, with Keras callbacks.

On TensorFlow with one device, our own loop feeds each NumPy batch to the model's compiled train step
(``model.train_function``, the step that ``train_on_batch`` runs); ``model.fit`` instead pulls its batches from a
``tf.data`` iterator inside the compiled step. In short repeated ``fit`` calls on a 2-core CPU that iterator ran some
calls on about one core (375 against 530 images/s); in 45-second runs (``make bench``, part ``sustained``) both ran at
full rate, ``fit`` 3% faster. The loop keeps one batch pipeline for every backend, with augmentation that a resumed
run repeats exactly. Elsewhere (JAX, PyTorch, several TensorFlow devices, where batches must be split over replicas)
this is ``model.fit``.

Both drive the same Keras callbacks with the same hooks and logs: train metrics are the epoch's running
values, validation metrics (``val_`` prefix) are computed over all validation batches after each epoch.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from helpers import backend


def fit(
    model: keras.Model,
    train: keras.utils.PyDataset,
    val: keras.utils.PyDataset,
    *,
    epochs: int,
    initial_epoch: int = 0,
    callbacks: list[keras.callbacks.Callback] | None = None,
    class_weight: dict[int, float] | None = None,
    verbose: int = 2,
    distribution: Any = None,
) -> None:
    """Train ``model`` from ``initial_epoch`` to ``epochs`` (or until a callback stops it), as ``model.fit``."""
    if not backend.is_tensorflow() or backend.replicas(distribution or backend.get_distribution()) > 1:
        model.fit(
            train,
            validation_data=val,
            epochs=epochs,
            initial_epoch=initial_epoch,
            class_weight=class_weight,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=False,
        )
        return
    hooks = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, model=model, verbose=verbose, epochs=epochs,
        steps=len(train),
    )  # fmt: skip
    model.stop_training = False
    hooks.on_train_begin()
    logs: dict = {}
    for epoch in range(initial_epoch, epochs):
        hooks.on_epoch_begin(epoch)
        for step in range(len(train)):
            hooks.on_train_batch_begin(step)
            batch_logs = _train_step(model, _weighted(train[step], class_weight), first=step == 0)
            hooks.on_train_batch_end(step, batch_logs)
            if model.stop_training:
                break
        logs = {k: float(v) for k, v in model.get_metrics_result().items()}
        logs.update({f"val_{k}": v for k, v in evaluate(model, val).items()})
        train.on_epoch_end()
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end(logs)


def evaluate(model: keras.Model, batches: keras.utils.PyDataset) -> dict[str, float]:
    """The compiled metrics (loss included) over every batch, as ``model.evaluate`` computes them."""
    for step in range(len(batches)):
        _test_step(model, batches[step], first=step == 0)
    return {k: float(v) for k, v in model.get_metrics_result().items()}


def _train_step(model: keras.Model, batch: tuple, first: bool) -> dict:
    """One optimizer step; the first of an epoch (``train_on_batch``) also builds the step and resets the metrics."""
    if first:
        return model.train_on_batch(*batch, return_dict=True)
    return model.train_function(iter([batch]))


def _test_step(model: keras.Model, batch: tuple, first: bool) -> None:
    if first:
        model.test_on_batch(*batch)
    else:
        model.test_function(iter([batch]))


def _weighted(batch: tuple, class_weight: dict[int, float] | None) -> tuple:
    """``(x, y)`` -> ``(x, y, sample_weight)`` from per-class weights (one-hot or binary ``y``), as ``fit`` does."""
    if not class_weight:
        return batch
    x, y = batch[:2]
    table = np.array([class_weight[c] for c in range(max(class_weight) + 1)], "float32")
    classes = np.argmax(y, axis=1) if y.shape[-1] > 1 else np.round(y[:, 0]).astype(int)
    return x, y, table[classes]
