# %% [markdown]
# # 04 · Deeper CNN vs baseline
#
# **Purpose:** train the deeper VGG-style DCNN and our CPU-efficient residual model, and compare them with the
# baseline on parameters, time per epoch, accuracy, macro-F1, per-class F1 and latency.
#
# **Inputs:** prepared data (02) and the baseline's metrics (03). **Outputs:**
# `outputs/models/{dcnn,efficient_cnn}.keras`,
# `outputs/figures/04_compare-*.png` (accuracy against training minutes among them), `outputs/metrics/04_compare.json`.

# %% tags=["parameters"]
profile = "quick"  # run profile name (smoke / quick / standard / full)
seed = 42  # seed for weights, shuffling and augmentation
models_to_train = ["dcnn", "efficient_cnn"]  # beside the baseline; also vgg_fer, vgg16, resnet50, mobilenet_v2
model_kwargs = {"dcnn": {"width": 16}, "efficient_cnn": {"widths": [48, 96, 192]}}  # builder arguments per model
epochs = 100  # maximum epochs per model (with a budget: an upper bound that the budget ends first)
batch_size = 64  # images per step
lr = 2e-3  # peak learning rate for every model here
optimizer = "adamw"  # "adam", "adamw" or "sgd" (Nesterov momentum 0.9)
weight_decay = 0.05  # decoupled weight decay (e.g. 5e-4 with sgd)
label_smoothing = 0.1  # label smoothing of the cross-entropy
schedule = "cosine"  # learning-rate schedule: plateau, cosine or constant (with a budget: cosine or linear)
budget_minutes = 1.5  # wall-clock minutes per model, learning rate annealed to 0 at the end; None: train by epochs
patience = 100  # early-stopping patience (epochs without val_accuracy improvement)
augment = "light"  # augmentation preset: none, seed, light, strong, strong_mixup, literature
latency_repeats = 30  # single-image latency measurements per model
model_overrides = {"efficient_cnn": {"budget_minutes": 4.0}}  # per-model changes to the settings above
include_shipped_curve = True  # draw the shipped model's own training curve beside these (real FER-2013 only)

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import pandas as pd

from helpers import config, models, training
from helpers.data import datasets
from helpers.evaluation import plots
from helpers.workbook import display, experiments, profiles

config.ensure_dirs()
training.set_seed(seed)

# %% [markdown]
# ## Prepare data

# %%
ds, meta = datasets.load_prepared()
display.banner(ds.synthetic)
baseline = experiments.load_recorded("03_baseline")

# %% [markdown]
# ## Build
# Parameter counts and compute per image of each architecture. Besides ours, `models_to_train` takes three ImageNet
# backbones from `keras.applications` (`vgg16`, `resnet50`, `mobilenet_v2`): the grey face is copied to three
# channels, resized to the backbone's input (48 for VGG16 and ResNet50, 96 for MobileNetV2) and scaled as its
# ImageNet weights expect, all inside the model. They start from ImageNet weights, read from `~/.keras/models/` or
# downloaded there; where neither works the build stops with the file to download and where to put it, and
# `model_kwargs = {"vgg16": {"weights": None}}` starts from random weights instead.
# `vgg_fer` is the VGG variant of Khaireddin & Chen (2021), 29.9M parameters on 40x40 faces: the `full` profile
# trains it for 300 epochs with their recipe (`profiles.LITERATURE_RECIPE`), a job for a GPU.

# %%
built = {
    name: models.build(name, n_classes=len(ds.class_names), **(model_kwargs.get(name) or {}))
    for name in ["baseline_cnn", *models_to_train]
}
arch = pd.DataFrame(
    {
        name: {"params": model.count_params(), "MFLOPs/image": models.flops_per_image(model) / 1e6}
        for name, model in built.items()
    }
).T
display.table(arch, "Architectures")

# %% [markdown]
# ## Train
# Each model with the same data and selection rule as the baseline, and the recipe above (with any per-model
# overrides).

# %%
settings = profiles.current("04", globals())
exps = [
    experiments.train_and_evaluate(experiments.train_config(settings, name), ds, name, latency_repeats)
    for name in models_to_train
]
records = {**baseline, **experiments.as_records(exps)}
plots.save(plots.learning_curves(experiments.histories(records)), "04_compare-learning-curves", ds.synthetic)

# %% [markdown]
# Accuracy against training minutes is the figure that matters on your own machine. On the real FER-2013 the shipped
# model's curve, recorded when `make release-model` trained it (a longer budget, the same kind of CPU), is drawn
# beside this run's models.

# %%
curves = experiments.histories(records)
if include_shipped_curve:
    curves = experiments.with_shipped_curve(curves, ds)
plots.save(plots.accuracy_vs_minutes(curves), "04_compare-accuracy-vs-minutes", ds.synthetic)
display.table(experiments.curve_summary(curves), "Validation accuracy against training minutes")

# %% [markdown]
# ## Evaluate on validation
# Side by side on validation (PublicTest), which also picks the best model.

# %%
display.table(experiments.comparison_table(records, rows="val"), "Comparison on validation")
f1_val = experiments.per_class_f1(records, split="val")
plots.save(
    plots.bar_compare(f1_val, "f1", "class", "model", "Per-class F1 on validation"),
    "04_compare-per-class-f1-val",
    ds.synthetic,
)
val_acc = {name: record["summary"]["val_accuracy"] for name, record in records.items()}
best = max(val_acc, key=val_acc.get)
display.md(f"Selected on validation: **{best}** (validation accuracy {val_acc[best]:.1%}).")

# %% [markdown]
# ## Final test: PrivateTest, reported once
# Test = PrivateTest; test_full = PublicTest + PrivateTest. Notebook 06 adds bootstrap intervals and paired
# comparisons on the same images.

# %%
display.table(experiments.comparison_table(records, rows="test"), "Comparison on test")
f1 = experiments.per_class_f1(records)
plots.save(
    plots.bar_compare(f1, "f1", "class", "model", "Per-class F1 on test"), "04_compare-per-class-f1", ds.synthetic
)
display.md(
    f"The model selected on validation, **{best}**: test accuracy {records[best]['summary']['test_accuracy']:.1%}, "
    f"macro-F1 {records[best]['summary']['test_macro_f1']:.3f}."
)
params = profiles.used("04", globals(), meta["profile"])
print(experiments.record("04_compare", exps, experiments.dataset_identity(ds, meta), params, seed))
