# %% [markdown]
# # 06 · Evaluate: confusion, precision-recall, calibration, saliency
#
# **Purpose:** load the saved models (7 classes on FER-2013, 8 on FER+) without retraining and look deeper: confusion
# matrices, per-class reports, one-vs-rest precision-recall curves, the most confident mistakes, test-time
# augmentation, calibration, Grad-CAM, robustness to photo perturbations, an ensemble, bootstrap confidence intervals,
# paired comparisons, and predictions on new photos with face detection.
#
# **Inputs:** `outputs/models/*.keras` (03, 04) and prepared data (02). **Outputs:**
# `outputs/figures/06_evaluate-*.png`,
# `outputs/metrics/06_evaluate.json`.

# %% tags=["parameters"]
profile = "quick"  # run profile name (smoke / quick / standard / full)
seed = 42  # seed for bootstrap and example photos
model_names = ["baseline_cnn", "dcnn", "efficient_cnn"]  # saved models to evaluate (those missing are skipped)
include_shipped = True  # also evaluate the model shipped in helpers/shipped/, labelled "shipped"
tta_modes = ["flip", "tencrop"]  # test-time augmentation modes to measure
n_boot = 300  # bootstrap resamples for confidence intervals
n_mistakes = 16  # most confident mistakes shown
n_demo_photos = 4  # group photos made from test faces for the prediction demo
detector = "auto"  # face detector for the photo demo: "auto" (best installed), "mtcnn" or "haar"

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import artifacts, config, evaluation, inference, training
from helpers.data import audit, datasets
from helpers.evaluation import plots
from helpers.inference import photos
from helpers.workbook import display, experiments, profiles

config.ensure_dirs()
training.set_seed(seed)

# %% [markdown]
# ## Prepare data
# Validation (PublicTest) for selection and calibration, test (PrivateTest) for reporting.

# %%
ds, meta = datasets.load_prepared()
display.banner(ds.synthetic)
(x_val, y_val), (x_test, y_test) = ds.split("val"), ds.split("test")
loaded, not_loaded = experiments.load_saved(model_names, ds.class_names)
shipped_model, shipped_info = inference.load_shipped() if include_shipped else (None, None)
if shipped_info is not None and tuple(shipped_info.class_names) == tuple(ds.class_names):
    loaded["shipped"] = shipped_model
    source = shipped_info.manifest["source"]
    display.md(
        f"**shipped** is the model in `helpers/shipped/`, trained on all of FER-2013 Training by `{source['command']}` "
        f"at commit `{source['git_sha'][:12]}` (docs/MODEL_CARD.md), not by this run."
    )
elif shipped_info is not None:
    not_loaded["shipped"] = f"it predicts FER-2013's {len(shipped_info.class_names)} classes, not this data's"
display.md(
    f"Loaded {len(loaded)} model(s): {', '.join(loaded)}."
    + "".join(f" Not evaluated: **{name}** ({why})." for name, why in not_loaded.items())
)
probs_val = {name: evaluation.predict_proba(model, x_val) for name, model in loaded.items()}
probs_test = {name: evaluation.predict_proba(model, x_test) for name, model in loaded.items()}
best = evaluation.best_on_validation(probs_val, y_val)
display.md(f"Best on validation: **{best}**.")

# %% [markdown]
# ## Confusion matrices
# Counts and row-normalised (recall per true class) for the model chosen on validation.

# %%
m_best = evaluation.classification_metrics(y_test, probs_test[best], ds.class_names)
cm = np.array(m_best["confusion_matrix"])
plots.save(
    plots.confusion(cm, ds.class_names, False, f"{best}: counts (test)"), "06_evaluate-confusion-counts", ds.synthetic
)
plots.save(
    plots.confusion(cm, ds.class_names, True, f"{best}: row-normalised (test)"),
    "06_evaluate-confusion-normalised",
    ds.synthetic,
)
display.table(evaluation.per_class_table(m_best), f"Classification report, {best}, test")
display.md(
    f"Accuracy {m_best['accuracy']:.1%}, macro-F1 {m_best['macro_f1']:.3f}, weighted-F1 {m_best['weighted_f1']:.3f}."
)

# %% [markdown]
# ## Test images seen before
# Some PrivateTest images have exact pixel copies in Training or PublicTest (the audit in notebook 01 lists them). A
# model can score those by memory, so here is every model's test accuracy with and without them.

# %%
leaked = audit.seen_elsewhere(x_test, [ds.split("train")[0], x_val])
leak_table = evaluation.with_and_without(y_test, probs_test, leaked)
display.table(leak_table, f"Test with and without the {int(leaked.sum())} images seen in Training/PublicTest")

# %% [markdown]
# ## Precision-recall
# One-vs-rest curves with average precision per class.

# %%
plots.save(
    plots.pr_curves(y_test, probs_test[best], ds.class_names, f"{best}: precision-recall (test)"),
    "06_evaluate-pr-curves",
    ds.synthetic,
)

# %% [markdown]
# ## Most confident mistakes
# Title: true -> predicted (confidence).

# %%
mistakes = evaluation.most_confident_mistakes(y_test, probs_test[best], n_mistakes)
pred = probs_test[best].argmax(1)
plots.save(
    plots.image_grid(
        x_test[mistakes],
        [
            f"{ds.class_names[y_test[index]]}->{ds.class_names[pred[index]]} ({confidence:.2f})"
            for index, confidence in zip(mistakes, probs_test[best][mistakes, pred[mistakes]])
        ],
    ),
    "06_evaluate-confident-mistakes",
    ds.synthetic,
)

# %% [markdown]
# ## Test-time augmentation
# Average predictions over flipped (and ten-crop) views; gain over a single view.

# %%
tta = {"none": m_best["accuracy"]}
for mode in tta_modes:
    tta[mode] = float((evaluation.predict_tta(loaded[best], x_test, mode).argmax(1) == y_test).mean())
display.table(
    pd.DataFrame({"test_accuracy": tta, "gain_points": {mode: 100 * (acc - tta["none"]) for mode, acc in tta.items()}}),
    f"TTA, {best}",
)

# %% [markdown]
# ## Calibration
# Reliability diagram and expected calibration error (ECE), before and after temperature scaling fitted on validation.

# %%
temperature = evaluation.fit_temperature(y_val, probs_val[best])
calibrated = evaluation.apply_temperature(probs_test[best], temperature)
ece = {
    "raw": evaluation.expected_calibration_error(y_test, probs_test[best]),
    "temperature_scaled": evaluation.expected_calibration_error(y_test, calibrated),
}
plots.save(
    plots.reliability(
        {
            "raw": evaluation.reliability_table(y_test, probs_test[best]),
            f"T = {temperature:.2f}": evaluation.reliability_table(y_test, calibrated),
        }
    ),
    "06_evaluate-reliability",
    ds.synthetic,
)
display.md(f"Temperature {temperature:.2f}: ECE {ece['raw']:.3f} -> {ece['temperature_scaled']:.3f}.")

# %% [markdown]
# ## Grad-CAM
# Where the network looks: two test faces per class. The heatmap weights the last feature map of the trunk by the
# gradient of the predicted class's logit (before softmax).

# %%
pick = np.concatenate([np.flatnonzero(y_test == label)[:2] for label in range(len(ds.class_names))])
cams = evaluation.grad_cam(loaded[best], x_test[pick])
fmap = evaluation.feature_layer(loaded[best])
display.md(f"Feature map used: `{fmap.name}` ({fmap.__class__.__name__}), {fmap.output.shape[1:3]} px.")
plots.save(
    plots.cam_overlay(
        x_test[pick], cams, [f"{ds.class_names[y_test[index]]}->{ds.class_names[pred[index]]}" for index in pick]
    ),
    "06_evaluate-gradcam",
    ds.synthetic,
)

# %% [markdown]
# ## Robustness
# What a real photo does to a face crop: the chosen model's test accuracy after each perturbation, against the
# unperturbed images.

# %%
robust = evaluation.robustness(loaded[best], x_test, y_test)
plots.save(
    plots.robustness(robust, f"{best}: test accuracy under perturbations"), "06_evaluate-robustness", ds.synthetic
)
display.table(robust, f"Robustness, {best}, test (PrivateTest)")
worst = robust["accuracy_change"].idxmin()
display.md(f"The largest drop: **{worst}**, {-100 * robust.loc[worst, 'accuracy_change']:.1f} points.")

# %% [markdown]
# ## Ensemble and confidence intervals
# Two averages of the saved models' probabilities: all of them, and the members chosen on validation (greedy forward
# selection from the best model, adding a model only while validation accuracy rises); bootstrap 95% intervals.

# %%
members = evaluation.select_ensemble(probs_val, y_val)
rows = {name: evaluation.ci_row(y_test, probs, n_boot, seed) for name, probs in probs_test.items()}
if len(loaded) > 1:
    rows["ensemble (all)"] = evaluation.ci_row(
        y_test, evaluation.ensemble_proba(list(probs_test.values())), n_boot, seed
    )
    rows["ensemble (chosen on validation)"] = evaluation.ci_row(
        y_test, evaluation.ensemble_proba([probs_test[name] for name in members]), n_boot, seed
    )
ci_table = pd.DataFrame(rows).T
display.md(f"Members chosen on validation: {', '.join(members)}.")
display.table(ci_table, "Test (PrivateTest) with 95% bootstrap intervals")

# %% [markdown]
# ## Does a model beat the baseline?
# Paired bootstrap on the same test images: each model's difference to the baseline in accuracy and macro-F1, the
# 95% interval of that difference, and the share of resamples in which the model does not beat the baseline.

# %%
predictions = {name: probs.argmax(1) for name, probs in probs_test.items()}
paired = evaluation.paired_table(y_test, predictions, "baseline_cnn", n_boot, seed)
display.table(paired, "Against baseline_cnn, test (PrivateTest)")

# %% [markdown]
# ## Predictions on new photos
# Group photos made from test faces; every face is detected, cropped and classified.

# %%
demo_dir = Path(tempfile.mkdtemp())
rng = np.random.default_rng(seed)
for number in range(n_demo_photos):
    photos.save_rgb(demo_dir / f"group_{number}.jpg", photos.tile_faces(list(x_test[rng.choice(len(x_test), 3)]), rng))
predictor = inference.EmotionPredictor(loaded[best], ds.class_names, detector=detector)
results = [predictor.predict_path(path) for path in sorted(demo_dir.glob("*.jpg"))]
for result in results[:2]:
    plots.save(
        plots.photo(inference.annotate(result.image, result.faces), f"{len(result.faces)} face(s)"),
        f"06_evaluate-predict-{result.path.stem}",
        ds.synthetic,
    )
face_rows = [face.as_row(result.path.name) for result in results for face in result.faces]
display.table(pd.DataFrame(face_rows), "Faces found and classified")

# %% [markdown]
# ## Record

# %%
params = profiles.used("06", globals(), meta["profile"])
print(
    artifacts.save_metrics(
        "06_evaluate",
        {
            "best_model": best,
            "test": m_best,
            "tta_accuracy": tta,
            "temperature": temperature,
            "ece": ece,
            "ensemble_members": members,
            "bootstrap": ci_table.to_dict("index"),
            "paired_vs_baseline": paired.to_dict("index"),
            "robustness": robust.to_dict("index"),
            "test_images_seen_elsewhere": int(leaked.sum()),
            "with_and_without_seen_images": leak_table.to_dict("index"),
            "per_model_test": {
                name: evaluation.classification_metrics(y_test, probs, ds.class_names)
                for name, probs in probs_test.items()
            },
        },
        params=params,
        seed=seed,
        dataset=experiments.dataset_identity(ds, meta),
    )
)
