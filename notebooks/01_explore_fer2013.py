# %% [markdown]
# # 01 · Explore FER-2013
#
# **Purpose:** look at the data before modelling: what was loaded, how the classes are distributed, what faces look
# like, and what is wrong with the dataset (duplicates, blank frames, imbalance, train/test processing). On FER+
# (`dataset = "ferplus"`), also how far the 10 taggers of each face agree and which faces the label rule drops.
#
# **Inputs:** FER-2013 from `FER2013_PATH` or `data/` (CSV, image folders or zip); without it, the embedded synthetic
# sample (clearly labelled). FER+ from `FERPLUS_PATH` or `data/ferplus/`. **Outputs:**
# `outputs/figures/01_explore-*.png`, `outputs/metrics/01_explore.json`.

# %% tags=["parameters"]
profile = "quick"  # run profile name (smoke / quick / standard / full), recorded in the metrics
dataset = "fer2013"  # fer2013 (7 classes, one label per face) or ferplus (8 classes from 10 votes per face)
dataset_path = None  # the download; None: $FER2013_PATH or $FERPLUS_PATH, then data/ (FER-2013: else the sample)
label_mode = "majority"  # FER+ only: majority or probability (which training faces are kept; see notebook 02)
seed = 42  # seed for sampling example images
samples_per_class = 8  # example faces shown per class
near_blank_std = 5.0  # an image whose pixel standard deviation is below this counts as near-blank
max_duplicate_groups = 6  # cross-split duplicate groups shown as images
quality_sample = 2000  # images per split (drawn from every class) for the sharpness/contrast check

# %% [markdown]
# ## Setup
# Import the shared helpers and fix the seed.

# %%
# %matplotlib inline

from helpers import artifacts, config, training
from helpers.data import audit, datasets, ferplus
from helpers.evaluation import plots
from helpers.workbook import display, profiles

config.ensure_dirs()
training.set_seed(seed)

# %% [markdown]
# ## Prepare data
# Load the dataset. The load report accounts for every file or CSV row: loaded, or skipped with its reason (`seen =
# loaded + skipped`).

# %%
ds = ferplus.load_any(dataset, dataset_path, seed=seed, label_mode=label_mode)
display.banner(ds.synthetic)
print(datasets.format_report(ds))

# %% [markdown]
# ### Class distribution
# Images per class and split (Training / PublicTest = validation / PrivateTest = test).

# %%
counts = ds.counts()
display.table(counts, "Images per class and split")
plots.save(plots.class_distribution(counts), "01_explore-class-distribution", ds.synthetic)
imb = audit.imbalance(ds)
display.table(imb, "Training-set imbalance")
display.md(
    f"The largest class, **{imb['train'].idxmax()}**, has {imb['train'].max() / imb['train'].min():.1f}x "
    f"as many training images as the smallest, **{imb['train'].idxmin()}** ({imb['train'].min()} images)."
)

# %% [markdown]
# ### Sample faces
# Random training images, one row per class.

# %%
x_train, y_train = ds.split("train")
plots.save(
    plots.samples_per_class(x_train, y_train, ds.class_names, samples_per_class, seed),
    "01_explore-samples-per-class",
    ds.synthetic,
)

# %% [markdown]
# ### Mean faces and pixel intensities
# The average face of each class, and how bright each class is.

# %%
plots.save(plots.mean_faces(x_train, y_train, ds.class_names), "01_explore-mean-faces", ds.synthetic)
plots.save(
    plots.intensity_histograms(x_train, y_train, ds.class_names), "01_explore-intensity-histograms", ds.synthetic
)

# %% [markdown]
# ### Tagger agreement (FER+)
# FER+ gives each face 10 taggers' votes. How many of them chose the face's label, per class; and the faces the label
# rule dropped, per reason and split. FER-2013 has one label per face, so there is nothing to show for it.

# %%
if ds.votes is None:
    display.md(f"{ds.name} has one label per face: no votes to show.")
else:
    agreement = ferplus.agreement(ds.votes, ds.labels, ds.class_names)
    display.table(agreement, "Faces per class by how many of the 10 taggers chose the label")
    plots.save(plots.agreement(agreement), "01_explore-tagger-agreement", ds.synthetic)
    unanimous = agreement[10].sum() / agreement.to_numpy().sum()
    display.table(ferplus.skipped_by_reason(ds), "Faces dropped by the label rule, per reason and split")
    display.md(
        f"All 10 taggers agree on **{unanimous:.0%}** of the kept faces; the label rule dropped "
        f"**{sum(why.startswith('label rule') for _, why in ds.report.skipped):,}** faces."
    )

# %% [markdown]
# ## Audit
# Exact duplicates (identical pixels) within and across splits. Duplicates across splits leak test images into training;
# duplicates with different labels are label noise.

# %%
dups = audit.duplicate_groups(ds)
dup_summary = audit.duplicate_summary(dups)
display.table(dup_summary, "Exact duplicates by pixel hash")
within_train = int(dup_summary.loc[dup_summary["where"] == "within train", "extra_copies"].iloc[0])
cross = dup_summary[dup_summary["where"].str.contains("&")]
display.md(
    f"Training holds **{within_train}** extra copies of images it already contains; "
    f"**{int(cross['groups'].sum())}** pixel patterns appear in more than one split."
)

# %% [markdown]
# Examples of images shared between splits (title: split and label).

# %%
shown = audit.cross_split_examples(dups, max_duplicate_groups)
if len(shown):
    plots.save(
        plots.image_grid(
            ds.images[shown["index"].to_numpy()],
            [f"{s}/{lab}" for s, lab in zip(shown["split"], shown["label"])],
            ncols=8,
        ),
        "01_explore-cross-split-duplicates",
        ds.synthetic,
    )
display.table(shown.drop(columns="index").head(20), "Cross-split duplicates (first groups)")

# %% [markdown]
# Near-blank images: almost uniform frames with no visible face.

# %%
blanks = audit.near_blank(ds, near_blank_std)
display.md(f"**{len(blanks)}** images have a pixel standard deviation below {near_blank_std}.")
if len(blanks):
    plots.save(
        plots.image_grid(
            ds.images[blanks["index"].to_numpy()[:16]],
            [f"{s}/{lab}" for s, lab in zip(blanks["split"][:16], blanks["label"][:16])],
        ),
        "01_explore-near-blank",
        ds.synthetic,
    )
display.table(blanks.head(20), "Near-blank images")

# %% [markdown]
# ### Processing: were train and test images prepared alike?
# A model trained on one image domain and tested on another fails quietly: a download whose training images
# were blurred, re-encoded or contrast-stretched differently from its test images is damaged. Per-image sharpness
# (mean absolute Laplacian) and contrast (pixel standard deviation) on a seeded random sample from every class:

# %%
processing = audit.processing_check(ds.images, ds.labels, ds.splits, quality_sample, seed)
display.table(processing.stats, "Sharpness and contrast per split (seeded sample from every class)")
plots.save(plots.sharpness_hist(processing.sharpness), "01_explore-sharpness", ds.synthetic)
display.md(
    "\n\n".join(f"**{warning}**" for warning in processing.warnings)
    or "Training and evaluation images are processed alike: sharpness and contrast match across splits."
)

# %% [markdown]
# ## Record
# Save the numbers of this notebook with its parameters, seed, git SHA and package versions.

# %%
params = profiles.used("01", globals())
path = artifacts.save_metrics(
    "01_explore",
    {
        "load_report": {
            "seen": ds.report.seen,
            "loaded": ds.report.loaded,
            "skipped": len(ds.report.skipped),
            "skip_reasons": ds.report.skip_reasons(),
        },
        "counts": counts.to_dict(),
        "imbalance": imb.to_dict(),
        "duplicates": dup_summary.to_dict("records"),
        "near_blank": len(blanks),
        "processing": processing.stats.to_dict(),
        "processing_warnings": processing.warnings,
    },
    params=params,
    seed=seed,
    dataset=ds.identity(),
)
print(path)
