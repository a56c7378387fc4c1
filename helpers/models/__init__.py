"""Models: the registry of architectures (``models.build(name, **kwargs)``, as timm has) and the shipped model.

``registry`` holds the builders and ``build``; ``shipped`` the 7-class model inside the package, checked
against its SHA-256.
"""

from helpers.models.registry import (
    BUILDERS,
    FEATURES,
    IMAGENET,
    INPUT_48,
    N_CLASSES,
    OPTIMIZERS,
    WeightsUnavailable,
    baseline_cnn,
    binary_compact_cnn,
    binary_seed_cnn,
    build,
    compile_model,
    dcnn,
    efficient_cnn,
    flops_per_image,
    imagenet_backbone,
    imagenet_weights_path,
    make_optimizer,
    pretrained,
)

__all__ = [
    "N_CLASSES",
    "INPUT_48",
    "FEATURES",
    "baseline_cnn",
    "dcnn",
    "efficient_cnn",
    "binary_seed_cnn",
    "binary_compact_cnn",
    "pretrained",
    "WeightsUnavailable",
    "IMAGENET",
    "imagenet_weights_path",
    "imagenet_backbone",
    "BUILDERS",
    "build",
    "OPTIMIZERS",
    "make_optimizer",
    "compile_model",
    "flops_per_image",
]
