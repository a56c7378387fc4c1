"""Writes notebooks/*.ipynb from the cell lists below (run once after editing: python tests/build_notebooks.py).

Keeping the notebooks' source here makes review easy and guarantees they carry no outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]


def params(src: str):
    cell = new_code_cell(src.strip())
    cell.metadata["tags"] = ["parameters"]
    return cell


def code(src: str):
    return new_code_cell(src.strip())


def md(src: str):
    return new_markdown_cell(src.strip())


SETUP = """
%matplotlib inline
import numpy as np
from helpers import artifacts, audit, config, data, display, evaluation, experiments, models, pipeline, plots, training
config.ensure_dirs()
training.set_seed(seed)
"""

NB = {}

NB["01_explore_fer2013"] = [
    md("""
# 01 · Explore FER-2013

**Purpose:** look at the data before modelling: what was loaded, how the classes are distributed, what faces look
like, and what is wrong with the dataset (duplicates, blank frames, imbalance).

**Inputs:** FER-2013 from `FER2013_PATH` or `data/` (CSV, image folders or zip); without it, the embedded synthetic
sample (clearly labelled). **Outputs:** `outputs/figures/01_explore-*.png`, `outputs/metrics/01_explore.json`.
"""),
    params("""
profile = "quick"  # run profile name (smoke / quick / full), recorded in the metrics
dataset_path = None  # FER-2013 csv, folder or zip; None: $FER2013_PATH, then data/, then the embedded sample
seed = 42  # seed for sampling example images
samples_per_class = 8  # example faces shown per class
near_blank_std = 5.0  # an image whose pixel standard deviation is below this counts as near-blank
max_duplicate_groups = 6  # cross-split duplicate groups shown as images
"""),
    md("## Setup\nImport the shared helpers and fix the seed."),
    code(SETUP),
    md(
        "## Prepare data\nLoad the dataset. The load report accounts for every file or CSV row: loaded, or skipped "
        "with its reason (`seen = loaded + skipped`)."
    ),
    code("""
ds = data.load_fer2013(dataset_path, seed=seed)
display.banner(ds.synthetic)
print(data.format_report(ds))
"""),
    md("### Class distribution\nImages per class and split (Training / PublicTest = validation / PrivateTest = test)."),
    code("""
counts = ds.counts()
display.table(counts, "Images per class and split")
plots.save(plots.class_distribution(counts), "01_explore-class-distribution", ds.synthetic)
imb = audit.imbalance(ds)
display.table(imb, "Training-set imbalance")
display.md(f"The largest class, **{imb['train'].idxmax()}**, has {imb['train'].max() / imb['train'].min():.1f}x "
           f"as many training images as the smallest, **{imb['train'].idxmin()}** ({imb['train'].min()} images).")
"""),
    md("### Sample faces\nRandom training images, one row per class."),
    code("""
x_train, y_train = ds.split("train")
plots.save(plots.samples_per_class(x_train, y_train, ds.class_names, samples_per_class, seed),
           "01_explore-samples-per-class", ds.synthetic)
"""),
    md("### Mean faces and pixel intensities\nThe average face of each class, and how bright each class is."),
    code("""
plots.save(plots.mean_faces(x_train, y_train, ds.class_names), "01_explore-mean-faces", ds.synthetic)
plots.save(plots.intensity_histograms(x_train, y_train, ds.class_names), "01_explore-intensity-histograms",
           ds.synthetic)
"""),
    md(
        "## Audit\nExact duplicates (identical pixels) within and across splits. Duplicates across splits leak test "
        "images into training; duplicates with different labels are label noise."
    ),
    code("""
dups = audit.duplicate_groups(ds)
dup_summary = audit.duplicate_summary(dups)
display.table(dup_summary, "Exact duplicates by pixel hash")
within_train = int(dup_summary.loc[dup_summary["where"] == "within train", "extra_copies"].iloc[0])
cross = dup_summary[dup_summary["where"].str.contains("&")]
display.md(f"Training holds **{within_train}** extra copies of images it already contains; "
           f"**{int(cross['groups'].sum())}** pixel patterns appear in more than one split.")
"""),
    md("Examples of images shared between splits (title: split and label)."),
    code("""
shown = audit.cross_split_examples(dups, max_duplicate_groups)
if len(shown):
    plots.save(plots.image_grid(ds.images[shown["index"].to_numpy()],
                                [f"{s}/{lab}" for s, lab in zip(shown["split"], shown["label"])], ncols=8),
               "01_explore-cross-split-duplicates", ds.synthetic)
display.table(shown.drop(columns="index").head(20), "Cross-split duplicates (first groups)")
"""),
    md("Near-blank images: almost uniform frames with no visible face."),
    code("""
blanks = audit.near_blank(ds, near_blank_std)
display.md(f"**{len(blanks)}** images have a pixel standard deviation below {near_blank_std}.")
if len(blanks):
    plots.save(plots.image_grid(ds.images[blanks["index"].to_numpy()[:16]],
                                [f"{s}/{lab}" for s, lab in zip(blanks["split"][:16], blanks["label"][:16])]),
               "01_explore-near-blank", ds.synthetic)
display.table(blanks.head(20), "Near-blank images")
"""),
    md(
        "### Sharpness: do train and test look alike?\nA model trained on one image domain and tested on another "
        "fails quietly. Per-image sharpness (mean absolute Laplacian) and contrast per split:"
    ),
    code("""
sharp = audit.sharpness_by_split(ds)
display.table(sharp, "Sharpness and contrast per split")
plots.save(plots.sharpness_hist({s: audit.sharpness(ds.images[ds.splits == s][:3000]) for s in sharp.index}),
           "01_explore-sharpness", ds.synthetic)
blur_sigma = audit.train_blur_sigma(ds)
if blur_sigma:
    display.md(f"**Domain shift:** training images are {sharp.loc['val', 'median_sharpness'] / sharp.loc['train', 'median_sharpness']:.0f}x "
               f"less sharp than validation images; a Gaussian blur of sigma = {blur_sigma:.2f} px makes validation "
               f"images match them. Models trained here learn blurred faces, so notebook 02 records this sigma and the "
               f"models blur their inputs by it at inference (never during training).")
    pair = np.concatenate([ds.split("train")[0][:8], ds.split("test")[0][:8]])
    plots.save(plots.image_grid(pair, ["train"] * 8 + ["test"] * 8), "01_explore-train-vs-test", ds.synthetic)
else:
    display.md("Train and evaluation splits have similar sharpness: no domain correction is needed.")
"""),
    md("## Record\nSave the numbers of this notebook with its parameters, seed, git SHA and package versions."),
    code("""
params = dict(profile=profile, dataset_path=dataset_path, seed=seed, samples_per_class=samples_per_class,
              near_blank_std=near_blank_std)
path = artifacts.save_metrics("01_explore", {
    "load_report": {"seen": ds.report.seen, "loaded": ds.report.loaded, "skipped": len(ds.report.skipped),
                    "skip_reasons": ds.report.skip_reasons()},
    "counts": counts.to_dict(), "imbalance": imb.to_dict(), "duplicates": dup_summary.to_dict("records"),
    "near_blank": len(blanks), "sharpness": sharp.to_dict(), "train_blur_sigma": blur_sigma},
    params=params, seed=seed, dataset=ds.identity())
print(path)
"""),
]

NB["02_preprocess_augment"] = [
    md("""
# 02 · Preprocess and augment

**Purpose:** fix the split protocol, normalisation, class weights and augmentation settings, show what each
augmentation does, and cache the prepared data for notebooks 03-06.

**Inputs:** the dataset (as in 01). **Outputs:** `outputs/prepared/fer_prepared.npz`,
`outputs/figures/02_preprocess-*.png`, `outputs/metrics/02_preprocess.json`.
"""),
    params("""
profile = "quick"  # run profile name (smoke / quick / full)
dataset_path = None  # FER-2013 csv, folder or zip; None: $FER2013_PATH, then data/, then the embedded sample
seed = 42  # seed for subsampling and augmentation examples
max_train = None  # keep at most this many training images (stratified); None keeps all
max_eval = None  # keep at most this many validation and test images each; None keeps all (use for smoke runs only)
augmentations = ["none", "seed", "light", "strong"]  # augmentation presets to illustrate
n_examples = 6  # faces per augmentation figure
n_variants = 6  # augmented copies per face
match_train_blur = True  # if training images are blurrier than validation (see 01), blur inputs at inference to match
"""),
    md("## Setup"),
    code(SETUP),
    md(
        "## Prepare data\nLoad, then apply the official protocol: Training -> train, PublicTest -> validation "
        "(model selection), PrivateTest -> test (reported once)."
    ),
    code("""
full = data.load_fer2013(dataset_path, seed=seed)
display.banner(full.synthetic)
ds = data.subsample(full, max_train=max_train, max_eval=max_eval, seed=seed)
display.table(ds.counts(), "Images used per class and split")
display.md(f"Using **{int((ds.splits == 'train').sum())}** of {int((full.splits == 'train').sum())} training "
           f"images, {int((ds.splits == 'val').sum())} validation and {int((ds.splits == 'test').sum())} test images.")
"""),
    md(
        "### Normalisation\nModels take raw 0-255 pixels and divide by 255 in their first layer, so training, "
        "evaluation and inference can never disagree on scaling. Pixel statistics per split:"
    ),
    code("""
display.table(audit.pixel_stats(ds), "Pixel statistics (0-255)")
"""),
    md(
        "### Class weights\n'Balanced' weights `n / (classes x count)`, optional in training (parameter `class_weight`)."
    ),
    code("""
x_train, y_train = ds.split("train")
weights = pipeline.class_weights(y_train, len(ds.class_names))
display.table(__import__("pandas").DataFrame({"class": ds.class_names, "weight": list(weights.values())}),
              "Balanced class weights")
"""),
    md(
        "## Augmentation\nEach preset, applied on the tf.data graph. `seed` reproduces the seed tutorial's "
        "ImageDataGenerator (rotation 30 deg, shear 0.2 deg, zoom 0.2, flip) with one resample per image."
    ),
    code("""
for name in augmentations:
    aug = pipeline.get_augment(name)
    variants = pipeline.sample_augmented(x_train[:n_examples], aug, n_variants, seed)
    grid = variants.reshape(-1, *variants.shape[2:])
    fig = plots.image_grid(grid, ncols=n_variants, suptitle=f"augmentation: {name}  {aug.as_dict()}")
    plots.save(fig, f"02_preprocess-augment-{name}", ds.synthetic)
"""),
    md(
        "### Input domain\nIf the training split is blurrier than validation (notebook 01), the models get a fixed "
        "Gaussian blur of the estimated sigma that acts at inference only: evaluation images then look like training "
        "images. It is estimated from train and validation, never test."
    ),
    code("""
blur_sigma = audit.train_blur_sigma(full) if match_train_blur else 0.0
display.md(f"Inference-time blur for the models: sigma = **{blur_sigma:.2f} px**" + (" (none needed)." if not blur_sigma else "."))
"""),
    md("## Record\nCache the prepared splits for the next notebooks and save this notebook's metrics."),
    code("""
params = dict(profile=profile, dataset_path=dataset_path, seed=seed, max_train=max_train, max_eval=max_eval,
              match_train_blur=match_train_blur)
prepared = data.save_prepared(ds, {**params, "identity": full.identity(), "class_weights": weights,
                                   "blur_sigma": blur_sigma})
artifacts.save_metrics("02_preprocess", {"used_counts": ds.counts().to_dict(), "class_weights": weights,
                                         "blur_sigma": blur_sigma,
                                         "augmentations": {n: pipeline.get_augment(n).as_dict() for n in augmentations}},
                       params=params, seed=seed, dataset=full.identity())
print(prepared)
"""),
]

NB["03_cnn_baseline"] = [
    md("""
# 03 · Baseline CNN

**Purpose:** train the seed tutorial's baseline CNN (3 conv blocks, 684,935 parameters) and measure it honestly:
select the epoch on validation (PublicTest), report test (PrivateTest) and the full 7,178-image test set.

**Inputs:** `outputs/prepared/fer_prepared.npz` from notebook 02. **Outputs:** `outputs/models/baseline_cnn.keras`,
`outputs/figures/03_baseline-*.png`, `outputs/metrics/03_baseline.json`.
"""),
    params("""
profile = "quick"  # run profile name (smoke / quick / full)
seed = 42  # seed for weights, shuffling and augmentation
epochs = 8  # maximum epochs (early stopping may end sooner)
batch_size = 64  # images per step
lr = 1e-3  # Adam learning rate; the seed tutorial used 1e-4, which learns about 5x slower (see README)
schedule = "plateau"  # learning-rate schedule: plateau, cosine or constant
patience = 8  # early-stopping patience (epochs without val_accuracy improvement)
augment = "seed"  # augmentation preset: none, seed, light, strong, strong_mixup
class_weight = False  # weight the loss by inverse class frequency
label_smoothing = 0.0  # label smoothing of the cross-entropy
"""),
    md("## Setup"),
    code(SETUP),
    md("## Prepare data\nThe splits prepared by notebook 02."),
    code("""
ds, meta = data.load_prepared()
display.banner(ds.synthetic)
display.table(ds.counts(), "Images per class and split")
"""),
    md("## Build\nThe seed architecture, exactly; scaling to [0, 1] happens in its first (parameter-free) layer."),
    code("""
cfg = training.TrainConfig(model="baseline_cnn", epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule,
                           patience=patience, augment=augment, class_weight=class_weight,
                           label_smoothing=label_smoothing, seed=seed,
                           model_kwargs={"blur_sigma": meta["blur_sigma"]})
models.baseline_cnn(blur_sigma=meta["blur_sigma"]).summary()
"""),
    md("## Train\nCheckpoints are written atomically after every epoch; an interrupted run resumes where it stopped."),
    code("""
exp = experiments.train_and_evaluate(cfg, ds, "baseline_cnn")
plots.save(plots.learning_curves({"baseline_cnn": exp.result.history}), "03_baseline-learning-curves", ds.synthetic)
display.table(exp.result.history, "History")
"""),
    md("## Evaluate\nValidation picked the epoch; test is reported once."),
    code("""
s = exp.summary
display.md(f"Best epoch **{s['best_epoch']}** of {s['epochs_run']} ({s['seconds_per_epoch']:.0f} s/epoch). "
           f"Validation accuracy **{s['val_accuracy']:.1%}**; test (PrivateTest) accuracy **{s['test_accuracy']:.1%}**, "
           f"macro-F1 **{s['test_macro_f1']:.3f}**; full test set ({exp.metrics['test_full']['n']} images) "
           f"accuracy {s['test_full_accuracy']:.1%}.")
display.table(evaluation.per_class_table(exp.metrics["test"]), "Per-class metrics on test (PrivateTest)")
params = dict(cfg.__dict__, profile=profile)
print(experiments.record("03_baseline", [exp], experiments.dataset_identity(ds, meta), params, seed))
"""),
]

NB["04_dcnn_compare"] = [
    md("""
# 04 · Deeper CNN vs baseline

**Purpose:** train the deeper VGG-style DCNN and our CPU-efficient residual model, and compare them with the
baseline on parameters, time per epoch, accuracy, macro-F1, per-class F1 and latency.

**Inputs:** prepared data (02) and the baseline's metrics (03). **Outputs:** `outputs/models/{dcnn,efficient_cnn}.keras`,
`outputs/figures/04_compare-*.png`, `outputs/metrics/04_compare.json`.
"""),
    params("""
profile = "quick"  # run profile name (smoke / quick / full)
seed = 42  # seed for weights, shuffling and augmentation
models_to_train = ["dcnn", "efficient_cnn"]  # architectures to train and compare with the baseline
epochs = 8  # maximum epochs per model
batch_size = 64  # images per step
lr = 1e-3  # Adam learning rate for every model here
schedule = "plateau"  # learning-rate schedule: plateau, cosine or constant
patience = 8  # early-stopping patience
augment = "seed"  # augmentation preset (same as the baseline for a fair comparison)
latency_repeats = 30  # single-image latency measurements per model
"""),
    md("## Setup"),
    code(SETUP),
    md("## Prepare data"),
    code("""
ds, meta = data.load_prepared()
display.banner(ds.synthetic)
baseline = experiments.load_recorded("03_baseline")
"""),
    md("## Build\nParameter counts and compute per image of each architecture."),
    code("""
import pandas as pd
arch = pd.DataFrame({m: {"params": models.build(m).count_params(), "MFLOPs/image": models.flops_per_image(models.build(m)) / 1e6}
                     for m in ["baseline_cnn", *models_to_train]}).T
display.table(arch, "Architectures")
"""),
    md("## Train\nEach model with the same data, augmentation and selection rule as the baseline."),
    code("""
exps = [experiments.train_and_evaluate(
            training.TrainConfig(model=m, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule,
                                 patience=patience, augment=augment, seed=seed,
                                 model_kwargs={"blur_sigma": meta["blur_sigma"]}), ds, m, latency_repeats)
        for m in models_to_train]
records = {**baseline, **experiments.as_records(exps)}
plots.save(plots.learning_curves(experiments.histories(records)), "04_compare-learning-curves", ds.synthetic)
"""),
    md("## Evaluate\nSide by side; test = PrivateTest, test_full = PublicTest + PrivateTest."),
    code("""
table = experiments.comparison_table(records)
display.table(table, "Comparison")
f1 = experiments.per_class_f1(records)
plots.save(plots.bar_compare(f1, "f1", "class", "model", "Per-class F1 on test"), "04_compare-per-class-f1",
           ds.synthetic)
best = table.loc["val_accuracy"].astype(float).idxmax()
display.md(f"Selected on validation: **{best}** (val {table.loc['val_accuracy', best]:.1%}, "
           f"test {table.loc['test_accuracy', best]:.1%}, macro-F1 {table.loc['test_macro_f1', best]:.3f}).")
params = dict(profile=profile, models=models_to_train, epochs=epochs, batch_size=batch_size, lr=lr,
              schedule=schedule, augment=augment, seed=seed)
print(experiments.record("04_compare", exps, experiments.dataset_identity(ds, meta), params, seed))
"""),
]

NB["05_binary_happy_sad"] = [
    md("""
# 05 · Binary happy vs sad

**Purpose:** the seed project's binary task. Part A uses FER-2013's happy and sad faces; part B uses folders of
photos (`happy/` + `sad/`, 70/15/15 split as in the seed project), where detecting and cropping the face first is
compared with feeding the whole resized photo. The seed architecture (256x256 RGB, 59M parameters) is compared
with our compact 48x48 model. The decision threshold is chosen on validation.

**Inputs:** prepared data (02); optional `photos_path`. **Outputs:** `outputs/models/binary_*.keras`,
`outputs/figures/05_binary-*.png`, `outputs/metrics/05_binary.json`.
"""),
    params("""
profile = "quick"  # run profile name (smoke / quick / full)
seed = 42  # seed for weights, splits and augmentation
photos_path = None  # folder with happy/ and sad/ photo folders; None: photos made from FER-2013 test faces
epochs = 8  # epochs for the compact model
seed_epochs = 2  # epochs for the seed architecture (slow on a CPU: about 0.7 GFLOPs per image)
seed_max_train = 1500  # training images for the seed architecture (None: all)
batch_size = 32  # images per step
compact_lr = 1e-3  # Adam learning rate of the compact model
seed_lr = 1e-5  # Adam learning rate of the seed architecture (as published)
augment = "light"  # augmentation preset
n_demo_photos = 600  # photos generated when photos_path is None
"""),
    md("## Setup"),
    code(SETUP),
    md("## Prepare data\nPart A: FER-2013 happy (positive) vs sad, official splits."),
    code("""
import numpy as np
ds, meta = data.load_prepared()
display.banner(ds.synthetic)
happy, sad = ds.class_names.index("happy"), ds.class_names.index("sad")
hs = ds.subset(np.isin(ds.labels, [happy, sad]))
hs.labels = (hs.labels == happy).astype(np.int8)
display.md(f"{int((hs.splits == 'train').sum())} training, {int((hs.splits == 'val').sum())} validation, "
           f"{int((hs.splits == 'test').sum())} test images; {hs.labels.mean():.1%} happy.")
"""),
    md("## Build\nThe seed architecture vs the compact model: parameters and compute per image."),
    code("""
import pandas as pd
display.table(pd.DataFrame({m: {"params": models.build(m).count_params(),
                                "MFLOPs/image": models.flops_per_image(models.build(m)) / 1e6}
                            for m in ["binary_seed_cnn", "binary_compact_cnn"]}).T, "Binary architectures")
"""),
    md("## Train\nCompact model on all training images; seed architecture on at most `seed_max_train` (CPU cost)."),
    code("""
common = dict(n_classes=1, monitor="val_auc", augment=augment, batch_size=batch_size, seed=seed, patience=epochs)
blur = meta["blur_sigma"]
compact_cfg = training.TrainConfig(model="binary_compact_cnn", epochs=epochs, lr=compact_lr,
                                   model_kwargs={"blur_sigma": blur}, **common)
seed_cfg = training.TrainConfig(model="binary_seed_cnn", epochs=seed_epochs, lr=seed_lr, input_size=256, channels=3,
                                model_kwargs={"blur_sigma": blur * 256 / 48}, **common)
hs_seed = hs.subset(data.limit_split(hs, "train", seed_max_train, seed))
runs = {"binary_compact_cnn": training.train(compact_cfg, hs.split("train"), hs.split("val"), name="binary_compact_cnn"),
        "binary_seed_cnn": training.train(seed_cfg, hs_seed.split("train"), hs_seed.split("val"), name="binary_seed_cnn")}
plots.save(plots.learning_curves({n: r.history for n, r in runs.items()}), "05_binary-learning-curves", ds.synthetic)
"""),
    md("## Evaluate\nThreshold maximising F1 on validation, then test metrics at that threshold."),
    code("""
x_val, y_val = hs.split("val")
x_test, y_test = hs.split("test")
scores = {n: (evaluation.predict_proba(r.model, x_val)[:, 1], evaluation.predict_proba(r.model, x_test)[:, 1])
          for n, r in runs.items()}
thresholds = {n: experiments.choose_threshold(y_val, s[0]) for n, s in scores.items()}
fer_results = {n: experiments.binary_metrics(y_test, s[1], thresholds[n]) for n, s in scores.items()}
display.table(pd.DataFrame(fer_results), "FER-2013 happy vs sad, test (PrivateTest)")
plots.save(plots.binary_curves(y_test, {n: s[1] for n, s in scores.items()}), "05_binary-roc-pr", ds.synthetic)
"""),
    md(
        "## Photos: face crop vs whole photo\nPart B. Without `photos_path`, photos are made by pasting FER-2013 "
        "test faces (PublicTest/PrivateTest, which are sharp like real photos) at random places and scales on larger "
        "backgrounds, so the face is a small part of the frame."
    ),
    code("""
import tempfile
from pathlib import Path
if photos_path is None:
    demo = Path(tempfile.mkdtemp()) / "photos"
    sharp_pool = np.flatnonzero(hs.splits != "train")  # evaluation faces: sharp, like real photos
    pick = np.random.default_rng(seed).permutation(sharp_pool)[:n_demo_photos]
    from helpers import synthetic
    synthetic.write_photo_folders(hs.images[pick], hs.labels[pick], ("sad", "happy"), demo, seed)
    photos = demo
else:
    photos = Path(photos_path)
photo_results = {}
for crop in (False, True):
    pf = data.load_class_folders(photos, classes=("sad", "happy"), face_crop=crop)
    split = data.stratified_split(pf.labels, (0.7, 0.15, 0.15), seed)
    xy = {s: (pf.images[split == s], pf.labels[split == s]) for s in ("train", "val", "test")}
    name = f"binary_photos_{'facecrop' if crop else 'whole'}"
    photo_cfg = training.TrainConfig(model="binary_compact_cnn", epochs=epochs, lr=compact_lr, **common)
    r = training.train(photo_cfg, xy["train"], xy["val"], name=name)
    s_val, s_test = (evaluation.predict_proba(r.model, xy[k][0])[:, 1] for k in ("val", "test"))
    photo_results[name] = {**experiments.binary_metrics(xy["test"][1], s_test,
                                                        experiments.choose_threshold(xy["val"][1], s_val)),
                           "photos_loaded": pf.report.loaded, "photos_skipped": len(pf.report.skipped),
                           "skip_reasons": pf.report.skip_reasons()}
display.table(pd.DataFrame(photo_results), "Photos: whole resized photo vs detected face crop (compact model)")
"""),
    md("## Record"),
    code("""
w, f = photo_results["binary_photos_whole"], photo_results["binary_photos_facecrop"]
display.md(f"Cropping the face first changes test accuracy from {w['accuracy']:.1%} (whole photo) to "
           f"{f['accuracy']:.1%} (face crop); the detector found no face in {f['photos_skipped']} of "
           f"{f['photos_loaded'] + f['photos_skipped']} photos, which the crop pipeline skips and counts.")
params = dict(profile=profile, seed=seed, photos_path=photos_path, epochs=epochs, seed_epochs=seed_epochs,
              seed_max_train=seed_max_train, batch_size=batch_size, compact_lr=compact_lr, seed_lr=seed_lr,
              augment=augment)
print(artifacts.save_metrics("05_binary", {"fer_happy_sad_test": fer_results, "thresholds": thresholds,
                                          "photos": photo_results,
                                          "params": {n: r.model.count_params() for n, r in runs.items()}},
                             params=params, seed=seed, dataset=experiments.dataset_identity(ds, meta)))
"""),
]

NB["06_evaluate_confusion_pr"] = [
    md("""
# 06 · Evaluate: confusion, precision-recall, calibration, saliency

**Purpose:** load the saved 7-class models without retraining and look deeper: confusion matrices, per-class
reports, one-vs-rest precision-recall curves, the most confident mistakes, test-time augmentation, calibration,
Grad-CAM, an ensemble, bootstrap confidence intervals, and predictions on new photos with face detection.

**Inputs:** `outputs/models/*.keras` (03, 04) and prepared data (02). **Outputs:** `outputs/figures/06_evaluate-*.png`,
`outputs/metrics/06_evaluate.json`.
"""),
    params("""
profile = "quick"  # run profile name (smoke / quick / full)
seed = 42  # seed for bootstrap and example photos
model_names = ["baseline_cnn", "dcnn", "efficient_cnn"]  # saved models to evaluate (those missing are skipped)
tta_modes = ["flip", "tencrop"]  # test-time augmentation modes to measure
n_boot = 300  # bootstrap resamples for confidence intervals
n_mistakes = 16  # most confident mistakes shown
n_demo_photos = 4  # group photos made from test faces for the prediction demo
"""),
    md("## Setup"),
    code(SETUP + "import numpy as np, pandas as pd\nfrom helpers import inference"),
    md("## Prepare data\nValidation (PublicTest) for selection and calibration, test (PrivateTest) for reporting."),
    code("""
ds, meta = data.load_prepared()
display.banner(ds.synthetic)
(x_val, y_val), (x_test, y_test) = ds.split("val"), ds.split("test")
loaded = {n: training.load_model(config.MODELS_DIR / f"{n}.keras") for n in model_names
          if (config.MODELS_DIR / f"{n}.keras").exists()}
display.md(f"Loaded {len(loaded)} saved model(s): {', '.join(loaded)}.")
probs_val = {n: evaluation.predict_proba(m, x_val) for n, m in loaded.items()}
probs_test = {n: evaluation.predict_proba(m, x_test) for n, m in loaded.items()}
best = evaluation.best_on_validation(probs_val, y_val)
display.md(f"Best on validation: **{best}**.")
"""),
    md("## Confusion matrices\nCounts and row-normalised (recall per true class) for the model chosen on validation."),
    code("""
m_best = evaluation.classification_metrics(y_test, probs_test[best], ds.class_names)
cm = np.array(m_best["confusion_matrix"])
plots.save(plots.confusion(cm, ds.class_names, False, f"{best}: counts (test)"), "06_evaluate-confusion-counts", ds.synthetic)
plots.save(plots.confusion(cm, ds.class_names, True, f"{best}: row-normalised (test)"), "06_evaluate-confusion-normalised",
           ds.synthetic)
display.table(evaluation.per_class_table(m_best), f"Classification report, {best}, test")
display.md(f"Accuracy {m_best['accuracy']:.1%}, macro-F1 {m_best['macro_f1']:.3f}, weighted-F1 {m_best['weighted_f1']:.3f}.")
"""),
    md("## Precision-recall\nOne-vs-rest curves with average precision per class."),
    code("""
plots.save(plots.pr_curves(y_test, probs_test[best], ds.class_names, f"{best}: precision-recall (test)"),
           "06_evaluate-pr-curves", ds.synthetic)
"""),
    md("## Most confident mistakes\nTitle: true -> predicted (confidence)."),
    code("""
idx = evaluation.most_confident_mistakes(y_test, probs_test[best], n_mistakes)
pred = probs_test[best].argmax(1)
plots.save(plots.image_grid(x_test[idx], [f"{ds.class_names[y_test[i]]}->{ds.class_names[pred[i]]} "
                                          f"({probs_test[best][i, pred[i]]:.2f})" for i in idx]),
           "06_evaluate-confident-mistakes", ds.synthetic)
"""),
    md("## Test-time augmentation\nAverage predictions over flipped (and ten-crop) views; gain over a single view."),
    code("""
tta = {"none": m_best["accuracy"]}
for mode in tta_modes:
    tta[mode] = float((evaluation.predict_tta(loaded[best], x_test, mode).argmax(1) == y_test).mean())
display.table(pd.DataFrame({"test_accuracy": tta, "gain_points": {k: 100 * (v - tta["none"]) for k, v in tta.items()}}),
              f"TTA, {best}")
"""),
    md(
        "## Calibration\nReliability diagram and expected calibration error (ECE), before and after temperature scaling "
        "fitted on validation."
    ),
    code("""
temperature = evaluation.fit_temperature(y_val, probs_val[best])
calibrated = evaluation.apply_temperature(probs_test[best], temperature)
ece = {"raw": evaluation.expected_calibration_error(y_test, probs_test[best]),
       "temperature_scaled": evaluation.expected_calibration_error(y_test, calibrated)}
plots.save(plots.reliability({"raw": evaluation.reliability_table(y_test, probs_test[best]),
                              f"T = {temperature:.2f}": evaluation.reliability_table(y_test, calibrated)}),
           "06_evaluate-reliability", ds.synthetic)
display.md(f"Temperature {temperature:.2f}: ECE {ece['raw']:.3f} -> {ece['temperature_scaled']:.3f}.")
"""),
    md("## Grad-CAM\nWhere the network looks: two test faces per class, heatmap for the predicted class."),
    code("""
pick = np.concatenate([np.flatnonzero(y_test == c)[:2] for c in range(len(ds.class_names))])
cams = evaluation.grad_cam(loaded[best], x_test[pick])
plots.save(plots.cam_overlay(x_test[pick], cams, [f"{ds.class_names[y_test[i]]}->{ds.class_names[pred[i]]}" for i in pick]),
           "06_evaluate-gradcam", ds.synthetic)
"""),
    md("## Ensemble and confidence intervals\nAverage of the saved models' probabilities; bootstrap 95% intervals."),
    code("""
rows = {n: evaluation.ci_row(y_test, p, n_boot, seed) for n, p in probs_test.items()}
if len(loaded) > 1:
    rows["ensemble"] = evaluation.ci_row(y_test, evaluation.ensemble_proba(list(probs_test.values())), n_boot, seed)
ci_table = pd.DataFrame(rows).T
display.table(ci_table, "Test (PrivateTest) with 95% bootstrap intervals")
"""),
    md(
        "## Predictions on new photos\nGroup photos made from test faces; every face is detected, cropped and classified."
    ),
    code("""
import tempfile
from pathlib import Path
from helpers import synthetic
demo_dir = Path(tempfile.mkdtemp())
rng = np.random.default_rng(seed)
for k in range(n_demo_photos):
    synthetic.save_rgb(demo_dir / f"group_{k}.jpg", synthetic.tile_faces(list(x_test[rng.choice(len(x_test), 3)]), rng))
predictor = inference.EmotionPredictor(loaded[best], ds.class_names)
results = [predictor.predict_path(p) for p in sorted(demo_dir.glob("*.jpg"))]
for r in results[:2]:
    plots.save(plots.annotated(r.image, r.faces, ds.class_names), f"06_evaluate-predict-{r.path.stem}", ds.synthetic)
display.table(pd.DataFrame([f.as_row(r.path.name) for r in results for f in r.faces]), "Faces found and classified")
"""),
    md("## Record"),
    code("""
params = dict(profile=profile, seed=seed, model_names=model_names, tta_modes=tta_modes, n_boot=n_boot)
print(artifacts.save_metrics("06_evaluate", {
    "best_model": best, "test": m_best, "tta_accuracy": tta, "temperature": temperature, "ece": ece,
    "bootstrap": ci_table.to_dict("index"),
    "per_model_test": {n: evaluation.classification_metrics(y_test, p, ds.class_names) for n, p in probs_test.items()}},
    params=params, seed=seed, dataset=experiments.dataset_identity(ds, meta)))
"""),
]


def build() -> list[Path]:
    out = []
    for name, cells in NB.items():
        for i, cell in enumerate(cells):  # stable ids keep regenerated notebooks diff-free
            cell["id"] = f"{name[:2]}-{i:02d}-{cell['cell_type'][:4]}"
        nb = new_notebook(
            cells=cells,
            metadata={
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"},
            },
        )
        path = ROOT / "notebooks" / f"{name}.ipynb"
        nbformat.write(nb, path)
        out.append(path)
    return out


if __name__ == "__main__":
    for p in build():
        print(p.relative_to(ROOT))
    sys.exit(0)
