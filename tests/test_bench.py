"""The benchmark code paths work and compare like with like (timings are not asserted: see make bench)."""

from __future__ import annotations

import numpy as np

from helpers import bench, models
from helpers.synthetic import make_synthetic_dataset


def test_bench_paths_run_on_tiny_data():
    ds = make_synthetic_dataset(seed=0, sizes={"train": 160, "val": 20, "test": 20})
    x, y = ds.split("train")
    csv = bench.bench_csv(ds.images[:30], ds.labels[:30], ds.splits[:30])  # asserts both parsers agree
    assert csv["rows"] == 30 and csv["ours_s"] > 0 and csv["seed_loop_s"] > 0
    pipe = bench.bench_pipeline(x, y, steps=2, batch=16)
    assert pipe["ours_images_per_s"] > 0 and pipe["imagedatagenerator_images_per_s"] > 0
    inf = bench.bench_inference(models.baseline_cnn(), x[0], repeats=3)
    assert inf["fastest_single_ms"] > 0 and inf["batch256_images_per_s"] > 0
    ep = bench.bench_epochs(x, y, ["efficient_cnn"], steps=2, batch=16, full_train=160)
    assert ep["efficient_cnn"]["params"] == models.efficient_cnn().count_params()
    table = bench.format_table({"pipeline": pipe, "csv": csv, "inference": {"baseline_cnn": inf}, "epochs": ep})
    assert "training images/s" in table and np.isfinite(pipe["speedup"])
