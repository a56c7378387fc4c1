"""Check a download: ``python -m helpers check [PATH] [--ferplus]`` prints its load report and processing check."""

from __future__ import annotations

import argparse
import sys

from helpers import config
from helpers.data import audit, ferplus
from helpers.data.datasets import DatasetError, format_report
from helpers.data.fer2013 import load_fer2013


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers check [PATH]``."""
    chk = argparse.ArgumentParser(
        prog="python -m helpers check", description="Load a FER-2013 or FER+ download and print its load report."
    )
    chk.add_argument("path", nargs="?", help=f"csv, folder or zip (default: ${config.DATASET_ENV}, then data/)")
    chk.add_argument("--ferplus", action="store_true", help=f"FER+ (default: ${config.FERPLUS_ENV}, data/ferplus)")
    chk.add_argument("--label-mode", default="majority", choices=ferplus.LABEL_MODES, help="FER+ training-label rule")
    chk.add_argument("--label-source", default="auto", choices=ferplus.LABEL_SOURCES, help="FER+ votes file")
    chk.add_argument("--no-cache", action="store_true", help="ignore and do not write data/cache/")
    chk.add_argument("--all-skipped", action="store_true", help="list every skipped item")
    chk.add_argument("--sample", type=int, default=2000, help="images per split for the sharpness/contrast check")
    chk.add_argument("--seed", type=int, default=0, help="seed of that sample")
    args = chk.parse_args(argv)
    try:
        if args.ferplus:
            ds = ferplus.load_ferplus(
                args.path, label_mode=args.label_mode, label_source=args.label_source, use_cache=not args.no_cache
            )
        else:
            ds = load_fer2013(args.path, use_cache=not args.no_cache)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_report(ds, max_skipped=10**9 if args.all_skipped else 20))
    processing = audit.processing_check(ds.images, ds.labels, ds.splits, args.sample, args.seed)
    print(f"\nimage processing per split (seeded sample of up to {args.sample} images from every class):")
    print(processing.stats.round(2).to_string())
    for w in processing.warnings:
        print(w)
    if not processing.warnings:
        print("train and test images are processed alike (sharpness and contrast match)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
