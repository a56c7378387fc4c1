# %% [markdown]
# # 05 · Binary happy vs sad
#
# **Purpose:** the seed project's binary task. Part A uses FER-2013's happy and sad faces; part B uses folders of
# photos (`happy/` + `sad/`, 70/15/15 split as in the seed project), where detecting and cropping the face first is
# compared with feeding the whole resized photo. Three approaches train on the same images for the same wall-clock
# budget: the seed architecture (256x256 RGB, 59M parameters) and our compact 48x48 model from random weights, and
# the shipped FER-2013 emotion model fine-tuned (a new happy/sad head, then every layer). A learning curve shows how
# many labelled faces each approach needs. The saved multi-class models, restricted to their happy and sad outputs,
# are scored too. The decision threshold is always chosen on validation.
#
# **Inputs:** prepared data (02); the 7-class models of 03-04 if saved; optional `photos_path`.
# **Outputs:** `outputs/models/binary_*.keras`,
# `outputs/figures/05_binary-*.png`, `outputs/metrics/05_binary.json`.

# %% tags=["parameters"]
profile = "quick"  # run profile name (smoke / quick / standard / full)
seed = 42  # seed for weights, splits and augmentation
photos_path = None  # folder with happy/ and sad/ photo folders; None: photos made from FER-2013 test faces
budget_minutes = 0.6  # wall-clock training minutes of each from-scratch FER model (None: train `epochs`)
epochs = 30  # maximum epochs of each FER model (with a budget, an upper bound the budget normally ends first)
patience = 3  # early-stopping patience (epochs without val_auc improvement)
schedule = "cosine"  # learning rate: "cosine" or "linear" decay to zero (over the budget, else over `epochs`)
photo_epochs = 4  # maximum epochs of the compact model on the photo folders (part B)
batch_size = 32  # images per step
compact_widths = [16, 32, 64]  # channels of the compact model's three stages ([40, 80, 160]: 0.81% of the seed's)
compact_optimizer = "adam"  # optimizer of the compact model: "adam", "adamw" (decoupled weight decay) or "sgd"
compact_lr = 1e-3  # peak learning rate of the compact model
compact_weight_decay = 0.0  # decoupled weight decay of the compact model
seed_lr = 1e-4  # Adam peak learning rate of the seed architecture (its published 1e-5 barely moves in a short budget)
augment = "light"  # augmentation preset
n_demo_photos = 300  # photos generated when photos_path is None
detector = "auto"  # face detector for the face-crop pipeline: "auto" (best installed), "mtcnn" or "haar"
seven_class_models = ["baseline_cnn", "dcnn", "efficient_cnn"]  # saved multi-class models also scored on happy vs sad
finetune_base = None  # model the fine-tuned approach starts from: None = the shipped FER-2013 model, or a .keras path
finetune_minutes = 0.6  # wall-clock fine-tuning budget (head, then every layer); as budget_minutes, to compare
curve_sizes = [100, 1000]  # labelled training faces per learning-curve point (None: all); [] skips the curve
curve_seeds = [0]  # seeds per learning-curve point (different faces and initialisation each)
curve_minutes = 0.15  # wall-clock training budget of each learning-curve run

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import artifacts, config, evaluation, models, training
from helpers.data import datasets
from helpers.evaluation import plots
from helpers.inference import photos
from helpers.workbook import display, experiments, profiles, transfer

config.ensure_dirs()
training.set_seed(seed)

# %% [markdown]
# ## Prepare data
# Part A: FER-2013 happy (positive) vs sad, official splits.

# %%
ds, meta = datasets.load_prepared()
display.banner(ds.synthetic)
happy, sad = ds.class_names.index("happy"), ds.class_names.index("sad")
hs = ds.subset(np.isin(ds.labels, [happy, sad]))
hs.labels = (hs.labels == happy).astype(np.int8)
display.md(
    f"{int((hs.splits == 'train').sum())} training, {int((hs.splits == 'val').sum())} validation, "
    f"{int((hs.splits == 'test').sum())} test images; {hs.labels.mean():.1%} happy."
)

# %% [markdown]
# ## Build
# The seed architecture vs the compact model: parameters and compute per image.

# %%
display.table(
    pd.DataFrame(
        {
            m: {"params": built.count_params(), "MFLOPs/image": models.flops_per_image(built) / 1e6}
            for m, built in {
                "binary_seed_cnn": models.build("binary_seed_cnn"),
                "binary_compact_cnn": models.build("binary_compact_cnn", widths=compact_widths),
            }.items()
        }
    ).T,
    "Binary architectures",
)

# %% [markdown]
# ## Train
# All three see the same training images for the same wall-clock budget; the seed architecture, at 256x256 RGB,
# gets through far fewer of them in that time. The fine-tuned model starts from the shipped model, which learnt the
# seven FER-2013 emotions on FER-2013 Training (these happy and sad faces among them) and never saw PrivateTest; its
# new two-class head starts as its own happy and sad outputs, so it starts from the shipped model's answer.

# %%
common = dict(n_classes=1, monitor="val_auc", augment=augment, batch_size=batch_size, seed=seed, patience=patience)
fer_common = dict(common, epochs=epochs, schedule=schedule, budget_minutes=budget_minutes)
compact_recipe = dict(
    lr=compact_lr,
    optimizer=compact_optimizer,
    weight_decay=compact_weight_decay,
    model_kwargs={"widths": list(compact_widths)},
)
compact_cfg = training.TrainConfig(model="binary_compact_cnn", **compact_recipe, **fer_common)
seed_cfg = training.TrainConfig(model="binary_seed_cnn", lr=seed_lr, input_size=256, channels=3, **fer_common)
runs = {
    name: training.train(cfg, hs.split("train"), hs.split("val"), name=name, class_names=("sad", "happy"))
    for name, cfg in {"binary_compact_cnn": compact_cfg, "binary_seed_cnn": seed_cfg}.items()
}
runs["binary_finetuned"] = transfer.train_finetuned(
    hs.split("train"), hs.split("val"), finetune_minutes, seed, "binary_finetuned", finetune_base
)
display.table(
    pd.DataFrame(
        {
            name: {"minutes": run.train_minutes, "epochs": len(run.history), "images seen": run.images_seen}
            for name, run in runs.items()
        }
    ).T,
    "Training time and images seen",
)
plots.save(
    plots.learning_curves({name: run.history for name, run in runs.items()}), "05_binary-learning-curves", ds.synthetic
)

# %% [markdown]
# ## Evaluate on validation
# The threshold maximises F1 on validation (PublicTest happy and sad faces); validation metrics at that threshold
# (optimistic, since the threshold was fitted there) are what settings are compared on.

# %%
x_val, y_val = hs.split("val")
x_test, y_test = hs.split("test")
scores = {
    name: (evaluation.predict_proba(run.model, x_val)[:, 1], evaluation.predict_proba(run.model, x_test)[:, 1])
    for name, run in runs.items()
}
thresholds = {name: evaluation.choose_threshold(y_val, s_val) for name, (s_val, _) in scores.items()}
val_results = {name: evaluation.binary_metrics(y_val, s_val, thresholds[name]) for name, (s_val, _) in scores.items()}
display.table(pd.DataFrame(val_results), f"{ds.name} happy vs sad, validation (PublicTest)")

# %% [markdown]
# The 7-class models (notebooks 03-04), restricted to their happy and sad outputs, score the same images; their
# threshold is chosen on validation the same way.

# %%
seven = experiments.load_saved(seven_class_models, ds.class_names)[0]
seven_scores = {
    name: [evaluation.two_class_scores(model, images, happy, sad) for images in (x_val, x_test)]
    for name, model in seven.items()
}
seven_thresholds = {name: evaluation.choose_threshold(y_val, s_val) for name, (s_val, _) in seven_scores.items()}

# %% [markdown]
# ## Final test: PrivateTest, reported once
# Test metrics at the thresholds fixed above, on FER-2013's PrivateTest happy and sad faces.

# %%
fer_results = {
    name: evaluation.binary_metrics(y_test, s_test, thresholds[name]) for name, (_, s_test) in scores.items()
}
display.table(pd.DataFrame(fer_results), f"{ds.name} happy vs sad, test (PrivateTest)")
seven_results = {
    name: evaluation.binary_metrics(y_test, s_test, seven_thresholds[name])
    for name, (_, s_test) in seven_scores.items()
}
display.table(pd.DataFrame(seven_results), "7-class models on happy vs sad, test (PrivateTest)")
plots.save(
    plots.binary_curves(y_test, {name: s_test for name, (_, s_test) in scores.items()}),
    "05_binary-roc-pr",
    ds.synthetic,
)

# %% [markdown]
# Does fine-tuning beat the compact model from scratch on the same test faces? A paired bootstrap of the accuracy
# difference (each at its own validation threshold).

# %%
predicted = {name: scores[name][1] >= thresholds[name] for name in scores}
finetuned_vs_compact = evaluation.paired_bootstrap(
    y_test, predicted["binary_finetuned"].astype(int), predicted["binary_compact_cnn"].astype(int)
)
display.md(
    f"Fine-tuned minus compact: **{finetuned_vs_compact['accuracy_diff']:+.1%}** test accuracy (95% interval "
    f"{finetuned_vs_compact['accuracy_diff_low']:+.1%} to {finetuned_vs_compact['accuracy_diff_high']:+.1%}); the "
    f"fine-tuned model's ROC AUC is {fer_results['binary_finetuned']['roc_auc']:.3f}."
)

# %% [markdown]
# ## Learning curve: how many labelled faces each approach needs
# The fine-tuned model and the compact model from scratch, trained on stratified samples of the training faces
# (`curve_sizes`, each with `curve_seeds`) for `curve_minutes` each; validation picks the epoch and the threshold, and
# the test faces are the same for every point.

# %%
curve = transfer.learning_curve(
    hs.split("train"),
    hs.split("val"),
    hs.split("test"),
    transfer.approaches(compact_cfg, finetune_base),
    curve_sizes,
    curve_seeds,
    curve_minutes,
)
if len(curve):
    display.table(transfer.curve_summary(curve), "Test accuracy by labelled training faces (mean, std over seeds)")
    plots.save(plots.learning_curve_by_size(curve), "05_binary-faces-needed", ds.synthetic)
    needed = transfer.faces_needed(curve, 0.9)
    display.md(
        "Fewest labelled faces with a mean test accuracy of 90% or more: "
        + ", ".join(f"**{a}** {n if n is not None else 'not reached'}" for a, n in needed.items())
        + "."
    )

# %% [markdown]
# ## Photos: face crop vs whole photo
# Part B. Without `photos_path`, photos are made by pasting FER-2013 test faces (PublicTest/PrivateTest, faces no model
# here trained on) at random places and scales on larger backgrounds, so the face is a small part of the frame.

# %%
if photos_path is None:
    photo_dir = Path(tempfile.mkdtemp()) / "photos"
    test_pool = np.flatnonzero(hs.splits != "train")
    pick = np.random.default_rng(seed).permutation(test_pool)[:n_demo_photos]
    photos.write_photo_folders(hs.images[pick], hs.labels[pick], ("sad", "happy"), photo_dir, seed)
else:
    photo_dir = Path(photos_path)
photo_results = {}
for crop in (False, True):
    folders = photos.load_class_folders(photo_dir, classes=("sad", "happy"), face_crop=crop, detector=detector)
    split = datasets.stratified_split(folders.labels, (0.7, 0.15, 0.15), seed)
    xy = {part: (folders.images[split == part], folders.labels[split == part]) for part in ("train", "val", "test")}
    name = f"binary_photos_{'facecrop' if crop else 'whole'}"
    photo_cfg = training.TrainConfig(model="binary_compact_cnn", epochs=photo_epochs, **compact_recipe, **common)
    run = training.train(photo_cfg, xy["train"], xy["val"], name=name, class_names=("sad", "happy"))
    s_val, s_test = (evaluation.predict_proba(run.model, xy[part][0])[:, 1] for part in ("val", "test"))
    photo_results[name] = {
        **evaluation.binary_metrics(xy["test"][1], s_test, evaluation.choose_threshold(xy["val"][1], s_val)),
        "photos_loaded": folders.report.loaded,
        "photos_skipped": len(folders.report.skipped),
        "skip_reasons": folders.report.skip_reasons(),
    }
display.table(pd.DataFrame(photo_results), "Photos: whole resized photo vs detected face crop (compact model)")

# %% [markdown]
# ## Record

# %%
whole, crop = photo_results["binary_photos_whole"], photo_results["binary_photos_facecrop"]
display.md(
    f"Cropping the face first changes test accuracy from {whole['accuracy']:.1%} (whole photo) to "
    f"{crop['accuracy']:.1%} (face crop); the detector found no face in {crop['photos_skipped']} of "
    f"{crop['photos_loaded'] + crop['photos_skipped']} photos, which the crop pipeline skips and counts."
)
params = profiles.used("05", globals(), meta["profile"])
print(
    artifacts.save_metrics(
        "05_binary",
        {
            "fer_happy_sad_val": val_results,
            "fer_happy_sad_test": fer_results,
            "seven_class_models_happy_sad_test": seven_results,
            "thresholds": thresholds,
            "finetuned_vs_compact_test": finetuned_vs_compact,
            "learning_curve": curve.to_dict("records"),
            "photos": photo_results,
            "params": {name: run.model.count_params() for name, run in runs.items()},
        },
        params=params,
        seed=seed,
        dataset=experiments.dataset_identity(ds, meta),
    )
)
