# %% [markdown]
# # 05 · Binary happy vs sad
#
# **Purpose:** the seed project's binary task. Part A uses FER-2013's happy and sad faces; part B uses folders of
# photos (`happy/` + `sad/`, 70/15/15 split as in the seed project), where detecting and cropping the face first is
# compared with feeding the whole resized photo. The seed architecture (256x256 RGB, 59M parameters) is compared
# with our compact 48x48 model. The decision threshold is chosen on validation.
#
# **Inputs:** prepared data (02); optional `photos_path`. **Outputs:** `outputs/models/binary_*.keras`,
# `outputs/figures/05_binary-*.png`, `outputs/metrics/05_binary.json`.

# %% tags=["parameters"]
profile = "quick"  # run profile name (smoke / quick / full)
seed = 42  # seed for weights, splits and augmentation
photos_path = None  # folder with happy/ and sad/ photo folders; None: photos made from FER-2013 test faces
epochs = 8  # maximum epochs for the compact model (early stopping may end sooner)
patience = 3  # early-stopping patience (epochs without val_auc improvement)
seed_epochs = 2  # epochs for the seed architecture (slow on a CPU: about 0.7 GFLOPs per image)
seed_max_train = 1000  # training images for the seed architecture (None: all)
batch_size = 32  # images per step
compact_lr = 1e-3  # Adam learning rate of the compact model
seed_lr = 1e-5  # Adam learning rate of the seed architecture (as published)
augment = "light"  # augmentation preset
n_demo_photos = 600  # photos generated when photos_path is None

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import (
    artifacts,
    config,
    data,
    display,
    evaluation,
    experiments,
    models,
    photos,
    plots,
    profiles,
    training,
)

config.ensure_dirs()
training.set_seed(seed)

# %% [markdown]
# ## Prepare data
# Part A: FER-2013 happy (positive) vs sad, official splits.

# %%
ds, meta = data.load_prepared()
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
            m: {"params": models.build(m).count_params(), "MFLOPs/image": models.flops_per_image(models.build(m)) / 1e6}
            for m in ["binary_seed_cnn", "binary_compact_cnn"]
        }
    ).T,
    "Binary architectures",
)

# %% [markdown]
# ## Train
# Compact model on all training images; seed architecture on at most `seed_max_train` (CPU cost).

# %%
common = dict(n_classes=1, monitor="val_auc", augment=augment, batch_size=batch_size, seed=seed, patience=patience)
compact_cfg = training.TrainConfig(model="binary_compact_cnn", epochs=epochs, lr=compact_lr, **common)
seed_cfg = training.TrainConfig(
    model="binary_seed_cnn", epochs=seed_epochs, lr=seed_lr, input_size=256, channels=3, **common
)
hs_seed = hs.subset(data.limit_split(hs, "train", seed_max_train, seed))
runs = {
    "binary_compact_cnn": training.train(compact_cfg, hs.split("train"), hs.split("val"), name="binary_compact_cnn"),
    "binary_seed_cnn": training.train(seed_cfg, hs_seed.split("train"), hs_seed.split("val"), name="binary_seed_cnn"),
}
plots.save(plots.learning_curves({n: r.history for n, r in runs.items()}), "05_binary-learning-curves", ds.synthetic)

# %% [markdown]
# ## Evaluate
# Threshold maximising F1 on validation, then test metrics at that threshold.

# %%
x_val, y_val = hs.split("val")
x_test, y_test = hs.split("test")
scores = {
    n: (evaluation.predict_proba(r.model, x_val)[:, 1], evaluation.predict_proba(r.model, x_test)[:, 1])
    for n, r in runs.items()
}
thresholds = {n: evaluation.choose_threshold(y_val, s[0]) for n, s in scores.items()}
fer_results = {n: evaluation.binary_metrics(y_test, s[1], thresholds[n]) for n, s in scores.items()}
display.table(pd.DataFrame(fer_results), "FER-2013 happy vs sad, test (PrivateTest)")
plots.save(plots.binary_curves(y_test, {n: s[1] for n, s in scores.items()}), "05_binary-roc-pr", ds.synthetic)

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
    pf = photos.load_class_folders(photo_dir, classes=("sad", "happy"), face_crop=crop)
    split = data.stratified_split(pf.labels, (0.7, 0.15, 0.15), seed)
    xy = {s: (pf.images[split == s], pf.labels[split == s]) for s in ("train", "val", "test")}
    name = f"binary_photos_{'facecrop' if crop else 'whole'}"
    photo_cfg = training.TrainConfig(model="binary_compact_cnn", epochs=epochs, lr=compact_lr, **common)
    r = training.train(photo_cfg, xy["train"], xy["val"], name=name)
    s_val, s_test = (evaluation.predict_proba(r.model, xy[k][0])[:, 1] for k in ("val", "test"))
    photo_results[name] = {
        **evaluation.binary_metrics(xy["test"][1], s_test, evaluation.choose_threshold(xy["val"][1], s_val)),
        "photos_loaded": pf.report.loaded,
        "photos_skipped": len(pf.report.skipped),
        "skip_reasons": pf.report.skip_reasons(),
    }
display.table(pd.DataFrame(photo_results), "Photos: whole resized photo vs detected face crop (compact model)")

# %% [markdown]
# ## Record

# %%
w, f = photo_results["binary_photos_whole"], photo_results["binary_photos_facecrop"]
display.md(
    f"Cropping the face first changes test accuracy from {w['accuracy']:.1%} (whole photo) to "
    f"{f['accuracy']:.1%} (face crop); the detector found no face in {f['photos_skipped']} of "
    f"{f['photos_loaded'] + f['photos_skipped']} photos, which the crop pipeline skips and counts."
)
params = profiles.used("05", globals(), meta["profile"])
print(
    artifacts.save_metrics(
        "05_binary",
        {
            "fer_happy_sad_test": fer_results,
            "thresholds": thresholds,
            "photos": photo_results,
            "params": {n: r.model.count_params() for n, r in runs.items()},
        },
        params=params,
        seed=seed,
        dataset=experiments.dataset_identity(ds, meta),
    )
)
