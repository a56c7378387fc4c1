"""The benchmark code paths work and compare like with like (timings are not asserted: see make bench)."""

from __future__ import annotations

import numpy as np

from helpers import models
from helpers.cli import bench
from helpers.data.synthetic import make_synthetic_dataset


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


def test_detector_scoring_counts_hits_misses_and_false_alarms():
    from helpers.inference import faces

    truth = [faces.Box(0, 0, 100, 100), faces.Box(200, 0, 100, 100)]
    dets = [
        faces.Detection(faces.Box(20, 20, 60, 60), 0.9),  # inside the first face, comparable size: a hit
        faces.Detection(faces.Box(25, 25, 50, 50), 0.9),  # a second box on the same face: false
        faces.Detection(faces.Box(500, 500, 60, 60), 0.9),  # nowhere near a face: false
    ]
    assert bench._score(dets, truth) == (1, 2)
    assert bench._score([], truth) == (0, 0)


def test_detector_sets_hold_faces_where_they_say():
    test_faces = make_synthetic_dataset(seed=0, sizes={"train": 0, "val": 0, "test": 20}).images
    sets = bench.detector_sets(test_faces, n=6, seed=0)
    assert [len(sets[k]) for k in ("group", "scattered", "face_free")] == [2, 6, 6]
    for img, boxes in sets["scattered"]:
        (b,) = boxes
        assert img.shape == (320, 320, 3) and b.x >= 0 and b.x + b.w <= 320 and b.y + b.h <= 320
        assert np.std(img[b.y : b.y + b.h, b.x : b.x + b.w].astype(float)) > 0
    assert all(not boxes for _, boxes in sets["face_free"])


def test_webcam_frames_hold_their_faces_and_the_live_bench_scores_them():
    from helpers.inference import faces

    test_faces = make_synthetic_dataset(seed=0, sizes={"train": 0, "val": 0, "test": 20}).images
    frames = bench.webcam_frames(test_faces, n=5, seed=0)
    for img, boxes in frames:
        assert img.shape == (480, 640, 3) and 1 <= len(boxes) <= 2
        for b in boxes:
            assert 80 <= b.w <= 220 and b.x + b.w <= 640 and b.y + b.h <= 480
            assert np.std(img[b.y : b.y + b.h, b.x : b.x + b.w].astype(float)) > 0
        if len(boxes) == 2:
            assert boxes[0].x + boxes[0].w <= boxes[1].x  # side by side, never overlapping
    live = bench.bench_live(test_faces, n=3, seed=0)
    assert {"haar@640px", f"haar@{faces.LIVE_MAX_SIDE}px"} <= set(live)
    for r in live.values():
        assert r["frames_per_s"] > 0 and 0 <= r["found"] <= r["faces"]
    assert "live 640x480" in bench.format_table({"live": live})


def test_backend_bench_runs_every_installed_backend_on_the_same_data():
    """Each backend trains in its own interpreter on the same arrays; the table names missing backends."""
    ds = make_synthetic_dataset(seed=0, sizes={"train": 96, "val": 32, "test": 32})
    x, y = ds.split("train")
    res = bench.bench_backends(
        x, y, ds.split("val"), ds.split("test"), model_names=("baseline_cnn",), speed_images=64, train_images=64,
        epochs=1, rounds=1, batch=32, warmup_steps=1,
    )  # fmt: skip
    ran = [b for b in ("tensorflow", "jax", "torch") if b in res]
    assert "tensorflow" in ran and set(ran) | set(res["missing"]) == {"tensorflow", "jax", "torch"}
    for b in ran:
        assert res[b]["images_per_s"]["baseline_cnn"] > 0 and 0 <= res[b]["test_accuracy"] <= 1
        assert b == "tensorflow" or -1 <= res[b]["vs_tensorflow"]["accuracy_diff"] <= 1
    table = bench.format_backends(res)
    assert all(b in table for b in ran) and all(f"BACKEND={b}" in table for b in res["missing"])


def test_sustained_rate_runs_each_arm_in_its_own_interpreter():
    """The fit-on-tf.data arm, our loop, and our loop without deterministic kernels each train and report a rate."""
    ds = make_synthetic_dataset(seed=0, sizes={"train": 256, "val": 8, "test": 8})
    res = bench.bench_sustained(*ds.split("train"), runs=1, minutes=0.05)
    assert set(res["images_per_s"]) == set(bench.SUSTAINED_ARMS)
    assert all(len(r) == 1 and r[0] > 0 for r in res["images_per_s"].values())
    assert all(0 < t[0]["cores_busy"] <= 2.5 for t in res["trials"].values())
    assert res["median_ratio_to_our_loop"]["our_loop"] == 1.0
    assert "our_loop_nondeterministic" in bench.format_table({"sustained": res})
