"""Evaluation: metrics, calibration, test-time augmentation, robustness, bootstrap intervals, ensembles,
latency and Grad-CAM, one module each; figures in ``plots``. The names below are what notebooks call:
``evaluation.classification_metrics(...)``.
"""

from helpers.evaluation.bootstrap import (
    bootstrap_ci,
    ci_row,
    paired_bootstrap,
    paired_table,
)
from helpers.evaluation.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    reliability_table,
)
from helpers.evaluation.ensembles import (
    best_on_validation,
    ensemble_proba,
    select_ensemble,
)
from helpers.evaluation.gradcam import (
    feature_layer,
    grad_cam,
)
from helpers.evaluation.latency import (
    latency_ms,
    median_ms,
)
from helpers.evaluation.metrics import (
    binary_metrics,
    choose_threshold,
    classification_metrics,
    evaluate_model,
    most_confident_mistakes,
    official_splits,
    per_class_table,
    predict_proba,
    two_class_scores,
)
from helpers.evaluation.robustness import (
    PERTURBATIONS,
    robustness,
)
from helpers.evaluation.tta import (
    predict_tta,
    tta_views,
    with_and_without,
)

__all__ = [
    "predict_proba",
    "classification_metrics",
    "per_class_table",
    "evaluate_model",
    "official_splits",
    "binary_metrics",
    "two_class_scores",
    "choose_threshold",
    "most_confident_mistakes",
    "expected_calibration_error",
    "reliability_table",
    "fit_temperature",
    "apply_temperature",
    "tta_views",
    "predict_tta",
    "with_and_without",
    "PERTURBATIONS",
    "robustness",
    "bootstrap_ci",
    "paired_bootstrap",
    "paired_table",
    "ci_row",
    "best_on_validation",
    "ensemble_proba",
    "select_ensemble",
    "median_ms",
    "latency_ms",
    "feature_layer",
    "grad_cam",
]
