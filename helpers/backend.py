"""The Keras backend in use (TensorFlow, JAX or PyTorch) and the few things that differ between them.

The rest of the package is backend-neutral Keras 3 (``keras.ops``, ``keras.random``). The backend is chosen
the Keras way, with ``KERAS_BACKEND=tensorflow|jax|torch`` before Keras is imported; TensorFlow is the
default. Here, and only here, live: seeding and determinism, the multi-device distribution, a compiled
inference call, and gradients (for Grad-CAM). TensorFlow-only features (``tf.data``, LiteRT export) call
:func:`require_tensorflow`, which says clearly what to do on another backend.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import weakref
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from helpers import config


class BackendUnsupported(RuntimeError):
    """A feature that exists only on another Keras backend."""


def name() -> str:
    """The Keras backend in use: ``tensorflow``, ``jax`` or ``torch``."""
    return keras.backend.backend()


def is_tensorflow() -> bool:
    return name() == "tensorflow"


def require_tensorflow(feature: str) -> None:
    """Raise :class:`BackendUnsupported` naming ``feature`` unless the backend is TensorFlow."""
    if not is_tensorflow():
        raise BackendUnsupported(
            f"{feature} needs the TensorFlow backend; this process runs Keras on {name()}. "
            "Run it with KERAS_BACKEND=tensorflow in the environment made by `make setup`."
        )


def python_for(backend: str) -> str | None:
    """An interpreter that can run Keras on ``backend``: this one if the backend's package is installed here,
    else the one in that backend's ``make setup BACKEND=...`` environment; ``None`` if neither exists."""
    if backend not in config.KERAS_BACKENDS:
        raise ValueError(f"unknown Keras backend {backend!r}; choose from {', '.join(config.KERAS_BACKENDS)}")
    if importlib.util.find_spec(backend) is not None:
        return sys.executable
    python = config.backend_venv(backend) / "bin" / "python"
    return str(python) if python.exists() else None


def set_seed(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and the backend; with ``deterministic``, ask the backend for repeatable kernels.

    TensorFlow: op determinism. PyTorch: deterministic algorithms. JAX on CPU is deterministic already
    (its random numbers are explicit keys drawn from the seed).
    """
    keras.utils.set_random_seed(seed)
    if not deterministic:
        return
    if name() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif name() == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)


def devices() -> list[str]:
    """The devices training can be spread over: TensorFlow's GPUs, JAX's devices of its default platform
    (GPUs when it has them, else CPU devices, one unless XLA is told otherwise), PyTorch's CUDA devices."""
    if name() == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices("GPU")]
    if name() == "jax":
        return keras.distribution.list_devices()
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())]


class _OneDevice:
    """The default placement (CPU or one accelerator): a scope that does nothing."""

    num_replicas_in_sync = 1

    def scope(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def get_distribution(on: list[str] | None = None) -> Any:
    """How to spread training over the devices present; use as ``with get_distribution().scope(): ...``.

    Chosen from the devices ``on`` (default: :func:`devices`). TensorFlow: ``tf.distribute.MirroredStrategy`` when
    there are several; JAX: ``keras.distribution.DataParallel`` when there are several. Otherwise (one device,
    or PyTorch, whose Keras backend trains on one device) the default placement.
    """
    found = on if on is not None else devices()
    if name() == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy(found) if len(found) > 1 else tf.distribute.get_strategy()
    if name() == "jax" and len(found) > 1:
        return keras.distribution.DataParallel(devices=found)
    return _OneDevice()


def replicas(distribution: Any) -> int:
    """How many devices ``distribution`` trains on (batches must divide evenly between them)."""
    if isinstance(distribution, keras.distribution.DataParallel):
        return int(np.prod(distribution.device_mesh.shape))
    return int(getattr(distribution, "num_replicas_in_sync", 1))


_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_forward(model: keras.Model) -> Callable[[Any], np.ndarray]:
    """``model(x, training=False)`` as a compiled call returning NumPy (one per model, traced once per input shape).

    Much faster than ``model.predict`` for one image or a few faces (no per-call set-up). TensorFlow:
    ``tf.function``; JAX: ``jax.jit`` of the model's stateless call, fed the current weights on every call;
    PyTorch: an eager call without autograd.
    """
    if model not in _FORWARD:
        _FORWARD[model] = _make_forward(model)
    return _FORWARD[model]


def _make_forward(model: keras.Model) -> Callable[[Any], np.ndarray]:
    if name() == "tensorflow":
        import tensorflow as tf

        # One trace per model: any batch size, the model's own image shape (inputs come from to_model_input).
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        return lambda x: fn(tf.convert_to_tensor(x, tf.float32)).numpy()
    if name() == "jax":
        import jax

        jitted = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])

        def call(x: Any) -> np.ndarray:
            tv = [v.value for v in model.trainable_variables]
            ntv = [v.value for v in model.non_trainable_variables]
            return np.asarray(jitted(tv, ntv, x))

        return call
    import torch

    def eager(x: Any) -> np.ndarray:
        with torch.no_grad():
            return keras.ops.convert_to_numpy(model(x, training=False))

    return eager


def compiled_batch_fn(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a batch transformation in ``keras.ops``) as one compiled graph on TensorFlow, as it is elsewhere.

    Eager TensorFlow dispatches each op of an augmentation from Python; the graph runs them in one call.
    """
    if name() != "tensorflow":
        return fn
    import tensorflow as tf

    return tf.function(fn, reduce_retracing=True)


def grad_of_sum(fn: Callable[[Any], Any], x: Any) -> np.ndarray:
    """The gradient of ``sum(fn(x))`` with respect to ``x``, as NumPy, with the backend's autodiff.

    When each row of ``fn(x)`` depends only on the same row of ``x`` (inference: no batch statistics),
    this is every sample's own gradient in one pass.
    """
    if name() == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(fn(x))
        return tape.gradient(total, x).numpy()
    if name() == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: keras.ops.sum(fn(v)))(x))
    import torch

    x = torch.as_tensor(keras.ops.convert_to_numpy(x)).requires_grad_(True)
    torch.sum(fn(x)).backward()
    return x.grad.detach().cpu().numpy()
