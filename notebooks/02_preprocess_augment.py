# %% [markdown]
# # 02 · Preprocess and augment
#
# **Purpose:** fix the split protocol, normalisation, class weights and augmentation settings, show what each
# augmentation does, and cache the prepared data for notebooks 03-06.
#
# **Inputs:** the dataset (as in 01): FER-2013, or FER+ with `dataset = "ferplus"` (notebooks 03-06 follow: class
# names and count come from the prepared data). **Outputs:** `outputs/prepared/fer_prepared.npz`,
# `outputs/figures/02_preprocess-*.png`, `outputs/metrics/02_preprocess.json`.

# %% tags=["parameters"]
profile = "quick"  # run profile name (smoke / quick / standard / full)
dataset = "fer2013"  # fer2013 (7 classes, one label per face) or ferplus (8 classes from 10 votes per face)
dataset_path = None  # the download; None: $FER2013_PATH or $FERPLUS_PATH, then data/ (FER-2013: else the sample)
label_mode = "majority"  # FER+ only: train on the majority label, or on the vote distribution ("probability")
seed = 42  # seed for subsampling and augmentation examples
max_train = None  # keep at most this many training images (stratified); None keeps all 28,709
max_eval = None  # keep at most this many validation and test images each; None keeps all (use for smoke runs only)
augmentations = ["none", "seed", "light", "strong"]  # augmentation presets to illustrate
n_examples = 6  # faces per augmentation figure
n_variants = 6  # augmented copies per face

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline

import pandas as pd

from helpers import artifacts, config, training
from helpers.data import audit, datasets, ferplus, pipeline
from helpers.evaluation import plots
from helpers.workbook import display, profiles

config.ensure_dirs()
training.set_seed(seed)

# %% [markdown]
# ## Prepare data
# Load, then apply the official protocol: Training -> train, PublicTest -> validation (model selection), PrivateTest ->
# test (reported once). On FER+ the label mode decides the training targets: `majority` keeps the faces where one
# emotion has more than half the votes (single votes removed first, as FER+'s code does), `probability` trains on the
# distribution of the top votes; validation and test always use the majority label.

# %%
full = ferplus.load_any(dataset, dataset_path, seed=seed, label_mode=label_mode)
display.banner(full.synthetic)
ds = datasets.subsample(full, max_train=max_train, max_eval=max_eval, seed=seed)
display.table(ds.counts(), "Images used per class and split")
display.md(
    f"{ds.name}, {len(ds.class_names)} classes. Using **{int((ds.splits == 'train').sum())}** of "
    f"{int((full.splits == 'train').sum())} training "
    f"images, {int((ds.splits == 'val').sum())} validation and {int((ds.splits == 'test').sum())} test images."
)

# %% [markdown]
# ### Normalisation
# Models take raw 0-255 pixels and divide by 255 in their first layer, so training, evaluation and inference can never
# disagree on scaling. Pixel statistics per split:

# %%
display.table(audit.pixel_stats(ds), "Pixel statistics (0-255)")

# %% [markdown]
# ### Class weights
# 'Balanced' weights `n / (classes x count)`, optional in training (parameter `class_weight`).

# %%
x_train, y_train = ds.split("train")
weights = pipeline.class_weights(y_train, len(ds.class_names))
display.table(pd.DataFrame({"class": ds.class_names, "weight": list(weights.values())}), "Balanced class weights")

# %% [markdown]
# ## Augmentation
# Each preset, applied to whole batches with `keras.ops` on every backend (outside the model, so saved models see raw
# pixels). `seed` reproduces the seed tutorial's ImageDataGenerator (rotation 30 deg,
# shear 0.2 deg, zoom 0.2, flip) with one resample per image.

# %%
for name in augmentations:
    aug = pipeline.get_augment(name)
    variants = pipeline.sample_augmented(x_train[:n_examples], aug, n_variants, seed)
    grid = variants.reshape(-1, *variants.shape[2:])
    fig = plots.image_grid(grid, ncols=n_variants, suptitle=f"augmentation: {name}  {aug.as_dict()}")
    plots.save(fig, f"02_preprocess-augment-{name}", ds.synthetic)

# %% [markdown]
# ## Record
# Cache the prepared splits for the next notebooks and save this notebook's metrics.

# %%
params = profiles.used("02", globals())
prepared = datasets.save_prepared(
    ds,
    {"profile": params["profile"], "params": params["params"], "identity": full.identity(), "class_weights": weights},
)
artifacts.save_metrics(
    "02_preprocess",
    {
        "used_counts": ds.counts().to_dict(),
        "class_weights": weights,
        "augmentations": {name: pipeline.get_augment(name).as_dict() for name in augmentations},
    },
    params=params,
    seed=seed,
    dataset=full.identity(),
)
print(prepared)
