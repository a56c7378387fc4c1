"""Fine-tune a trained emotion model on your own labelled faces: one function, one command.

    python -m helpers finetune PHOTOS/ [--base shipped|MODEL.keras] [--budget-minutes 10] [--out my_model.keras]

``PHOTOS/`` holds one folder per class, named as you like (``happy/ sad/``, ``calm/ stressed/ ...``). Each photo's
largest face is found and cropped as prediction does (``--no-face-crop`` for folders of face crops); photos where no
face is found are named and counted. The photos are split 70/15/15 (stratified, seeded); the starting model (default:
the shipped FER-2013 model) gets a new head for your classes, which trains first with the trunk frozen (30% of the
budget), then the whole network at a tenth of the learning rate (70%), each phase through :func:`helpers.training.train`
(budget, checkpoints, resume). The best validation epoch is kept, evaluated once on the test split, and saved with
your class names, so ``python -m helpers predict --model my_model.keras`` prints them.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import config, evaluation, training
from helpers.artifacts import save_json
from helpers.data.datasets import DatasetError, stratified_split
from helpers.models import shipped
from helpers.training import finetune


@dataclass
class FineTuned:
    """The fine-tuned model's run, its test metrics and where it was saved."""

    result: training.TrainResult
    head: training.TrainResult
    test: dict
    class_names: tuple[str, ...]
    path: Path


def load_faces(folder: Path, face_crop: bool = True, detector: str | None = None):
    """Faces from ``folder/<class>/`` photos, the largest face of each cropped; prints what was skipped and why."""
    from helpers.inference.photos import load_class_folders

    photos = load_class_folders(folder, face_crop=face_crop, detector=detector)
    if len(photos.class_names) < 2:
        raise DatasetError(f"{folder}: fine-tuning needs at least two class folders, found {photos.class_names}")
    for item, why in photos.report.skipped:
        print(f"skipped {item}: {why}", file=sys.stderr)
    counts = np.bincount(photos.labels, minlength=len(photos.class_names))
    print(
        f"{folder}: {len(photos.labels)} face(s) in {len(photos.class_names)} classes "
        f"({', '.join(f'{c} {n}' for c, n in zip(photos.class_names, counts))}); {len(photos.report.skipped)} skipped"
    )
    return photos


def run(
    folder: Path,
    out: Path | None = None,
    base: Path | None = None,
    budget_minutes: float = 10.0,
    seed: int = 42,
    face_crop: bool = True,
    detector: str | None = None,
) -> FineTuned:
    """The command: load the folders, split, fine-tune, evaluate on the test split, save."""
    photos = load_faces(folder, face_crop, detector)
    split = stratified_split(photos.labels, seed=seed)
    xy = {s: (photos.images[split == s], photos.labels[split == s]) for s in ("train", "val", "test")}
    name = (out.stem if out else f"finetuned_{folder.name}") or "finetuned"
    head, whole = finetune.finetune(
        xy["train"], xy["val"], photos.class_names, base=base, budget_minutes=budget_minutes, seed=seed, name=name
    )
    test = evaluation.classification_metrics(
        xy["test"][1], evaluation.predict_proba(whole.model, xy["test"][0]), photos.class_names
    )
    path = whole.model_path
    if out is not None:
        path = training.save_model_atomic(whole.model, out, photos.class_names)
    save_json(
        config.METRICS_DIR / f"finetune_{name}.json",
        {"folder": str(folder), "base": str(base or shipped.MODEL_FILE), "class_names": photos.class_names,
         "split_sizes": {s: int(len(v[1])) for s, v in xy.items()}, "skipped": len(photos.report.skipped),
         "head_minutes": head.train_minutes, "whole_minutes": whole.train_minutes, "test": test, "model": str(path)},
    )  # fmt: skip
    print(
        f"test ({len(xy['test'][1])} faces): accuracy {test['accuracy']:.1%}, macro-F1 {test['macro_f1']:.3f}\n"
        f"saved {path}; use it: python -m helpers predict PHOTOS --model {path}"
    )
    return FineTuned(whole, head, test, photos.class_names, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m helpers finetune", description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="a folder with one sub-folder of photos per class")
    ap.add_argument("--base", type=Path, help="the model to start from (default: the shipped FER-2013 model)")
    ap.add_argument("--out", type=Path, help="where to save the fine-tuned model (.keras)")
    ap.add_argument("--budget-minutes", type=float, default=10.0, help="wall-clock minutes for both phases together")
    ap.add_argument("--seed", type=int, default=42, help="seed of the split, the head and the augmentation")
    ap.add_argument("--no-face-crop", action="store_true", help="the photos are face crops already: resize them whole")
    ap.add_argument("--detector", default=None, help="face detector: auto, mtcnn or haar")
    args = ap.parse_args(argv)
    if args.budget_minutes <= 0:
        ap.error("--budget-minutes must be positive")
    try:
        run(args.folder, args.out, args.base, args.budget_minutes, args.seed, not args.no_face_crop, args.detector)
    except (DatasetError, shipped.ShippedModelError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
