# %% [markdown]
# # 03 · Baseline CNN
#
# **Purpose:** train the seed tutorial's baseline CNN (3 conv blocks, 684,935 parameters) and measure it honestly:
# select the epoch on validation (PublicTest), report test (PrivateTest) and the full 7,178-image test set.
#
# **Inputs:** `outputs/prepared/fer_prepared.npz` from notebook 02. **Outputs:** `outputs/models/baseline_cnn.keras`,
# `outputs/figures/03_baseline-*.png`, `outputs/metrics/03_baseline.json`.

# %% tags=["parameters"]
profile = "quick"  # run profile name (smoke / quick / standard / full)
seed = 42  # seed for weights, shuffling and augmentation
epochs = 100  # maximum epochs (with a budget: an upper bound that the budget ends first)
batch_size = 64  # images per step
lr = 1e-3  # peak learning rate; the seed tutorial used Adam at 1e-4 (run with lr=1e-4 for its exact recipe)
optimizer = "adam"  # "adam", "adamw" or "sgd" (Nesterov momentum 0.9)
weight_decay = 0.0  # decoupled weight decay (e.g. 5e-4 with sgd)
schedule = "cosine"  # learning-rate schedule: plateau, cosine or constant (with a budget: cosine or linear)
budget_minutes = 1.5  # wall-clock minutes of training, learning rate annealed to 0 at the end; None: train by epochs
patience = 100  # early-stopping patience (epochs without val_accuracy improvement)
augment = "seed"  # augmentation preset: none, seed, light, strong, strong_mixup, literature
class_weight = False  # weight the loss by inverse class frequency
label_smoothing = 0.0  # label smoothing of the cross-entropy

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline

from helpers import config, evaluation, models, training
from helpers.data import datasets
from helpers.evaluation import plots
from helpers.workbook import display, experiments, profiles

config.ensure_dirs()
training.set_seed(seed)

# %% [markdown]
# ## Prepare data
# The splits prepared by notebook 02.

# %%
ds, meta = datasets.load_prepared()
display.banner(ds.synthetic)
display.table(ds.counts(), "Images per class and split")

# %% [markdown]
# ## Build
# The seed architecture, exactly; scaling to [0, 1] happens in its first (parameter-free) layer.

# %%
cfg = experiments.train_config(profiles.current("03", globals()), "baseline_cnn")
models.baseline_cnn(n_classes=len(ds.class_names)).summary()

# %% [markdown]
# ## Train
# Checkpoints are written atomically after every epoch; an interrupted run resumes where it stopped.

# %%
experiment = experiments.train_and_evaluate(cfg, ds, "baseline_cnn")
plots.save(
    plots.learning_curves({"baseline_cnn": experiment.result.history}), "03_baseline-learning-curves", ds.synthetic
)
display.table(experiment.result.history, "History")

# %% [markdown]
# ## Evaluate on validation
# Validation (PublicTest) picked the epoch; these are the numbers to develop and compare settings with.

# %%
summary = experiment.summary
display.md(
    f"Best epoch **{summary['best_epoch']}** of {summary['epochs_run']} ({summary['seconds_per_epoch']:.0f} s/epoch, "
    f"{summary['train_minutes']:.1f} training minutes, {summary['images_seen']:,} images seen). Validation accuracy "
    f"**{summary['val_accuracy']:.1%}**, macro-F1 **{experiment.metrics['val']['macro_f1']:.3f}**."
)
display.table(evaluation.per_class_table(experiment.metrics["val"]), "Per-class metrics on validation (PublicTest)")

# %% [markdown]
# ## Final test: PrivateTest, reported once
# Nothing above looked at these images. Test = PrivateTest (3,589 images on FER-2013); the full test set adds
# PublicTest, for comparison with published numbers.

# %%
display.md(
    f"Test (PrivateTest) accuracy **{summary['test_accuracy']:.1%}**, macro-F1 **{summary['test_macro_f1']:.3f}**; "
    f"full test set ({experiment.metrics['test_full']['n']} images) accuracy {summary['test_full_accuracy']:.1%}, "
    f"macro-F1 {summary['test_full_macro_f1']:.3f}."
)
display.table(evaluation.per_class_table(experiment.metrics["test"]), "Per-class metrics on test (PrivateTest)")
params = profiles.used("03", globals(), meta["profile"])
print(experiments.record("03_baseline", [experiment], experiments.dataset_identity(ds, meta), params, seed))
