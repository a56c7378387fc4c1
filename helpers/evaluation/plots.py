"""Figures. Each function returns a matplotlib Figure; :func:`save` writes it under outputs/figures/."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.metrics import precision_recall_curve, roc_curve

from helpers import config
from helpers.artifacts import atomic_write_bytes


def save(fig: plt.Figure, name: str, synthetic: bool = False) -> str:
    """Save as ``outputs/figures/<name>.png`` (atomically); stamps the synthetic-data label when needed."""
    if synthetic:
        fig.text(
            0.5,
            0.995,
            config.SYNTHETIC_LABEL.upper(),
            ha="center",
            va="top",
            color="crimson",
            fontsize=9,
            weight="bold",
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    path = atomic_write_bytes(config.FIGURES_DIR / f"{name}.png", buf.getvalue())
    return str(path)


def class_distribution(counts: pd.DataFrame) -> plt.Figure:
    """Bar chart of images per class for each split (``counts`` from FerDataset.counts())."""
    df = (
        counts.drop(index="total", errors="ignore")
        .reset_index()
        .melt(id_vars="class", var_name="split", value_name="images")
    )
    fig, ax = plt.subplots(figsize=(9, 4))
    sns.barplot(data=df, x="class", y="images", hue="split", ax=ax)
    ax.set_title("Images per class and split")
    return fig


def agreement(table: pd.DataFrame) -> plt.Figure:
    """Stacked bars: faces per class by how many taggers agree (``table``: :func:`helpers.data.ferplus.agreement`)."""
    shares = table.div(table.sum(axis=1).replace(0, 1), axis=0)
    fig, ax = plt.subplots(figsize=(9, 4))
    shares.plot.bar(stacked=True, ax=ax, colormap="viridis", width=0.8)
    ax.set_ylabel("share of the class's faces")
    ax.set_title("How many of the 10 taggers chose each face's label")
    ax.legend(title="taggers", bbox_to_anchor=(1.01, 1), loc="upper left")
    return fig


def image_grid(
    images: np.ndarray,
    titles: list[str] | None = None,
    ncols: int = 8,
    size: float = 1.3,
    cmap: str = "gray",
    suptitle: str | None = None,
) -> plt.Figure:
    """A grid of grayscale images with optional titles."""
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap, vmin=0, vmax=255)
            if titles:
                ax.set_title(titles[i], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def samples_per_class(
    images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], per_class: int = 8, seed: int = 0
) -> plt.Figure:
    """A row of random samples for each class."""
    rng = np.random.default_rng(seed)
    picks, titles = [], []
    for c, name in enumerate(class_names):
        idx = np.flatnonzero(labels == c)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for j in range(per_class):
            picks.append(images[chosen[j]] if j < len(chosen) else np.zeros_like(images[0]))
            titles.append(name if j == 0 else "")
    return image_grid(np.stack(picks), titles, ncols=per_class)


def mean_faces(images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]) -> plt.Figure:
    """Per-class mean face."""
    means = np.stack(
        [
            images[labels == c].mean(0) if (labels == c).any() else np.zeros(images.shape[1:])
            for c in range(len(class_names))
        ]
    )
    return image_grid(means, list(class_names), ncols=len(class_names), size=1.6, suptitle="Mean face per class")


def intensity_histograms(images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]) -> plt.Figure:
    """Pixel-intensity density per class."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for c, name in enumerate(class_names):
        if (labels == c).any():
            h, edges = np.histogram(images[labels == c], bins=64, range=(0, 256), density=True)
            ax.plot(edges[:-1], h, label=name)
    ax.set(xlabel="pixel intensity", ylabel="density", title="Pixel intensities per class")
    ax.legend(fontsize=8)
    return fig


def learning_curves(histories: dict[str, pd.DataFrame]) -> plt.Figure:
    """Accuracy and loss per epoch, train (dashed) vs validation (solid), one colour per model."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, (name, h) in enumerate(histories.items()):
        color = f"C{i}"
        for ax, key in zip(axes, ("accuracy", "loss")):
            ax.plot(h["epoch"], h[key], "--", color=color, alpha=0.7, label=f"{name} train")
            ax.plot(h["epoch"], h[f"val_{key}"], "-", color=color, label=f"{name} validation")
    for ax, key in zip(axes, ("accuracy", "loss")):
        ax.set(xlabel="epoch", ylabel=key, title=key.capitalize())
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def learning_curve_by_size(curve: pd.DataFrame) -> plt.Figure:
    """Test accuracy against labelled training faces (log scale), mean and spread over seeds, one line per approach."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for approach, rows in curve.groupby("approach", sort=False):
        stats = rows.groupby("faces")["accuracy"].agg(["mean", "std"]).fillna(0.0)
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=3, label=approach)
    ax.set(xscale="log", xlabel="labelled training faces", ylabel="test accuracy", title="Accuracy by labelled faces")
    ax.axhline(0.9, color="grey", lw=0.8, ls=":")
    ax.legend()
    fig.tight_layout()
    return fig


def accuracy_vs_minutes(histories: dict[str, pd.DataFrame]) -> plt.Figure:
    """Validation accuracy against cumulative training minutes (validation included), one line per model; the minutes
    axis is logarithmic when the longest curve is more than ten times the shortest."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = {name: h for name, h in histories.items() if "minutes" in h and len(h)}
    for name, h in drawn.items():
        ax.plot(h["minutes"], h["val_accuracy"], "o-", ms=3, label=name)
    ends = [float(h["minutes"].max()) for h in drawn.values()]
    if ends and min(ends) > 0 and max(ends) / min(ends) > 10:  # budgets of minutes beside hours: a log axis
        ax.set_xscale("log")
    ax.set(xlabel="training minutes (wall clock, this machine)", ylabel="validation accuracy (PublicTest)")
    ax.set_title("Accuracy against training time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion(cm: np.ndarray, class_names: tuple[str, ...], normalize: bool = False, title: str = "") -> plt.Figure:
    """Confusion matrix heatmap; row-normalised (recall per true class) when ``normalize``."""
    cm = np.asarray(cm, dtype=float)
    data = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    sns.heatmap(
        data,
        annot=True,
        fmt=".2f" if normalize else ".0f",
        cmap="Blues",
        xticklabels=class_names,
        yticklabels=class_names,
        ax=ax,
        cbar=False,
    )
    ax.set(xlabel="predicted", ylabel="true", title=title or ("Row-normalised" if normalize else "Counts"))
    fig.tight_layout()
    return fig


def pr_curves(y_true: np.ndarray, probs: np.ndarray, class_names: tuple[str, ...], title: str = "") -> plt.Figure:
    """One-vs-rest precision-recall curve per class, with average precision in the legend."""
    from sklearn.metrics import average_precision_score

    fig, ax = plt.subplots(figsize=(6.5, 5))
    for c, name in enumerate(class_names):
        t = (y_true == c).astype(int)
        if t.any():
            p, r, _ = precision_recall_curve(t, probs[:, c])
            ax.plot(r, p, label=f"{name} (AP {average_precision_score(t, probs[:, c]):.2f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title or "Precision-recall")
    ax.legend(fontsize=8)
    return fig


def binary_curves(y_true: np.ndarray, scores: dict[str, np.ndarray]) -> plt.Figure:
    """ROC and PR curves of several binary models side by side."""
    from sklearn.metrics import auc, average_precision_score

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(y_true, s)
        a1.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
        p, r, _ = precision_recall_curve(y_true, s)
        a2.plot(r, p, label=f"{name} (AP {average_precision_score(y_true, s):.3f})")
    a1.plot([0, 1], [0, 1], ":", color="grey")
    a1.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    a2.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    for a in (a1, a2):
        a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reliability(tables: dict[str, pd.DataFrame]) -> plt.Figure:
    """Reliability diagram: accuracy vs confidence per bin for each labelled table."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    for name, t in tables.items():
        t = t[t["count"] > 0]
        ax.plot(t["confidence"], t["accuracy"], "o-", label=name)
    ax.set(xlabel="confidence", ylabel="accuracy", title="Reliability diagram", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    return fig


def cam_overlay(images: np.ndarray, cams: np.ndarray, titles: list[str], ncols: int = 7) -> plt.Figure:
    """Faces with Grad-CAM heatmaps blended on top."""
    n = len(images)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.6, nrows * 1.9), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            ax.imshow(cams[i], cmap="jet", alpha=0.4, vmin=0, vmax=1)
            ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig


def bar_compare(df: pd.DataFrame, value: str, by: str, hue: str, title: str) -> plt.Figure:
    """Grouped bars (e.g. per-class F1 by model)."""
    fig, ax = plt.subplots(figsize=(9, 4))
    sns.barplot(data=df, x=by, y=value, hue=hue, ax=ax)
    ax.set_title(title)
    return fig


def photo(image: np.ndarray, title: str = "") -> plt.Figure:
    """An RGB photo (e.g. one annotated by helpers.inference.annotate), at its aspect ratio."""
    fig, ax = plt.subplots(figsize=(6, 6 * image.shape[0] / image.shape[1]))
    ax.imshow(image)
    ax.axis("off")
    ax.set_title(title)
    return fig


def sharpness_hist(values: dict[str, np.ndarray]) -> plt.Figure:
    """Histogram of per-image sharpness (mean |Laplacian|) for each split, log-scaled x axis."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    bins = np.logspace(-0.5, 2.2, 60)
    for name, v in values.items():
        ax.hist(np.clip(v, bins[0], bins[-1]), bins=bins, alpha=0.5, label=name, density=True)
    ax.set_xscale("log")
    ax.set(xlabel="sharpness: mean |Laplacian| (log scale)", ylabel="density", title="Image sharpness per split")
    ax.legend()
    return fig


def robustness(df: pd.DataFrame, title: str = "") -> plt.Figure:
    """Horizontal bars of accuracy per perturbation (``evaluation.robustness``), unperturbed as a dashed line."""
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(df) + 1))
    order = df.sort_values("accuracy")
    ax.barh(order.index, order["accuracy"], color=["grey" if i == "none" else "steelblue" for i in order.index])
    ax.axvline(df.loc["none", "accuracy"], color="black", linestyle="--", linewidth=1)
    for y, v in enumerate(order["accuracy"]):
        ax.text(v + 0.005, y, f"{v:.1%}", va="center", fontsize=8)
    ax.set_xlabel("test accuracy")
    ax.set_xlim(0, min(1.0, float(order["accuracy"].max()) + 0.12))
    ax.set_title(title)
    fig.tight_layout()
    return fig
