"""FER+: both forms of the download on small fixtures, the FER+ label rules, and the real folders when present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import config
from helpers.data import datasets, ferplus, pipeline
from helpers.data.datasets import DatasetError

from .conftest import face

REAL_FERPLUS = os.environ.get(config.FERPLUS_ENV)

# neutral happiness surprise sadness anger disgust fear contempt unknown NF
HAPPY = [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]
SAD = [1, 0, 0, 8, 1, 0, 0, 0, 0, 0]  # single votes are outliers: sad 8/8 after removal
NEUTRAL = [6, 0, 0, 2, 0, 0, 0, 2, 0, 0]
CONTEMPT = [3, 0, 0, 0, 0, 0, 0, 7, 0, 0]
SPLIT_VOTE = [4, 0, 0, 3, 2, 0, 0, 0, 1, 0]  # no majority (4 of 9); probability: 4/7 neutral, 3/7 sad
MOSTLY_UNKNOWN = [2, 0, 0, 0, 0, 0, 0, 0, 8, 0]
NOT_A_FACE = [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]

#: (split, file name, votes) of the fixture faces.
FACES = [
    ("train", "fer0000000.png", HAPPY),
    ("train", "fer0000001.png", SAD),
    ("train", "fer0000002.png", NEUTRAL),
    ("train", "fer0000003.png", SPLIT_VOTE),
    ("train", "fer0000004.png", MOSTLY_UNKNOWN),
    ("train", "fer0000005.png", CONTEMPT),
    ("val", "fer0000006.png", HAPPY),
    ("val", "fer0000007.png", SPLIT_VOTE),
    ("test", "fer0000008.png", SAD),
    ("test", "fer0000009.png", NOT_A_FACE),
    ("test", "fer0000010.png", CONTEMPT),
]
USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}


def _label_row(name: str, votes: list[int]) -> str:
    return f'{name},"(0, 0, 48, 48)",{",".join(map(str, votes))}\n'


@pytest.fixture
def ferplus_folders(tmp_path: Path) -> Path:
    """FER+'s own layout, with one bad item of each kind beside the good faces."""
    root = tmp_path / "ferplus"
    for split, folder in ferplus.FOLDERS.items():
        (root / folder).mkdir(parents=True)
        rows = [_label_row(n, v) for s, n, v in FACES if s == split]
        for i, (s, n, _) in enumerate(FACES):
            if s == split:
                cv2.imwrite(str(root / folder / n), face(i))
        if split == "train":
            rows += [
                _label_row("fer0000100.png", HAPPY),  # a row whose PNG is missing
                'fer0000101.png,"(0, 0, 48, 48)",1,2,3\n',  # three vote columns
                _label_row("fer0000102.png", [-1, 5, 0, 0, 0, 0, 0, 0, 0, 0]),  # a negative count
                _label_row("fer0000103.png", HAPPY),  # this name twice, with different votes: ambiguous
                _label_row("fer0000103.png", SAD),
            ]
            cv2.imwrite(str(root / folder / "fer0000103.png"), face(103))
            cv2.imwrite(str(root / folder / "fer0000104.png"), face(104))  # a PNG with no row
            (root / folder / "fer0000105.png").write_bytes(b"\x89PNG broken")  # a corrupt PNG with a row
            rows.append(_label_row("fer0000105.png", HAPPY))
        (root / folder / "label.csv").write_text("".join(rows))
    return root


@pytest.fixture
def ferplus_csv(tmp_path: Path) -> Path:
    """fer2013.csv with fer2013new.csv beside it: the same faces, plus one FER+ dropped as not a face."""
    root = tmp_path / "ferplus_csv"
    root.mkdir()
    fer = ["emotion,pixels,Usage"]
    new = ["Usage,Image name," + ",".join(ferplus.VOTE_COLUMNS)]
    for i, (split, name, votes) in enumerate(FACES):
        fer.append(f"3,{' '.join(map(str, face(i).ravel()))},{USAGE[split]}")
        new.append(f"{USAGE[split]},{name},{','.join(map(str, votes))}")
    fer.append(f"0,{' '.join(map(str, face(50).ravel()))},Training")
    new.append("Training,," + ",".join(["0"] * 9 + ["10"]))  # dropped by FER+: no image name
    fer.append("0,1 2 3,Training")  # a malformed pixel row, named by load_csv
    new.append("Training,fer0000012.png," + ",".join(map(str, HAPPY)))
    (root / "fer2013.csv").write_text("\n".join(fer) + "\n")
    (root / ferplus.NEW_LABELS).write_text("\n".join(new) + "\n")
    return root


# --------------------------------------------------------------------------- label rules


def test_majority_rule_removes_single_votes_and_drops_what_ferplus_drops():
    labels, why = ferplus.majority(np.array([HAPPY, SAD, NEUTRAL, SPLIT_VOTE, MOSTLY_UNKNOWN, NOT_A_FACE, CONTEMPT]))
    assert labels.tolist() == [1, 3, 0, -1, -1, -1, 7]
    assert why[3].startswith("no majority") and why[4] == "mostly unknown" and why[5] == "mostly not a face"


def test_probability_rule_keeps_the_top_emotions_as_a_distribution():
    dist, why = ferplus.probability(np.array([SPLIT_VOTE, HAPPY, MOSTLY_UNKNOWN, [3, 3, 3, 1, 0, 0, 0, 0, 0, 0]]))
    np.testing.assert_allclose(dist[0], [4 / 7, 0, 0, 3 / 7, 0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(dist[1], np.eye(8)[1])
    assert np.isnan(dist[2]).all() and why[2] == "mostly unknown"
    np.testing.assert_allclose(dist[3], [1 / 3, 1 / 3, 1 / 3, 0, 0, 0, 0, 0], atol=1e-6)  # a three-way tie is kept


def test_probability_rule_drops_four_way_ties_and_spread_votes():
    _, why = ferplus.probability(np.array([[2, 2, 2, 2, 2, 0, 0, 0, 0, 0], [2, 2, 2, 2, 0, 0, 0, 0, 0, 2]]))
    assert all(w.startswith("no clear emotion") for w in why)


def test_validation_and_test_always_use_the_majority_rule():
    votes = np.array([SPLIT_VOTE, SPLIT_VOTE, SPLIT_VOTE])
    labels, targets, _ = ferplus.apply_rule(votes, np.array(["train", "val", "test"]), "probability")
    assert labels.tolist() == [0, -1, -1]
    np.testing.assert_allclose(targets[0].sum(), 1.0)


# --------------------------------------------------------------------------- the two forms


def test_folders_form_loads_every_good_face_and_names_every_bad_item(ferplus_folders, isolated_outputs):
    ds = ferplus.load_ferplus(ferplus_folders)
    r = ds.report
    assert r.balanced and r.layout == "ferplus-folders"
    assert ds.class_names == config.FERPLUS_CLASS_NAMES and ds.name == "FER+"
    reasons = {Path(item.split(":")[0]).name + (":" + item.split(":row ")[1] if ":row" in item else ""): why
               for item, why in r.skipped}  # fmt: skip
    assert reasons["fer0000100.png"].startswith("missing image")
    assert reasons["label.csv:8"].startswith("bad votes: 3 vote columns")
    assert "negative count" in reasons["label.csv:9"]
    assert reasons["label.csv:10"].startswith("duplicate image name") and reasons["fer0000103.png"].startswith("ambig")
    assert reasons["fer0000104.png"].startswith("image with no label row")
    assert reasons["fer0000105.png"].startswith("corrupt image")
    assert reasons["fer0000003.png"].startswith("label rule: no majority")
    assert reasons["fer0000004.png"] == "label rule: mostly unknown"
    assert reasons["fer0000009.png"] == "label rule: mostly not a face"
    assert dict(zip(ds.sources, ds.labels.tolist())) == {
        "FER2013Train/fer0000000.png": 1,
        "FER2013Train/fer0000001.png": 3,
        "FER2013Train/fer0000002.png": 0,
        "FER2013Train/fer0000005.png": 7,
        "FER2013Valid/fer0000006.png": 1,
        "FER2013Test/fer0000008.png": 3,
        "FER2013Test/fer0000010.png": 7,
    }
    assert ds.votes.shape == (7, 10) and ds.targets is None


def test_probability_mode_trains_on_vote_distributions(ferplus_folders, isolated_outputs):
    ds = ferplus.load_ferplus(ferplus_folders, label_mode="probability")
    targets = ds.training_targets("train")
    assert targets.shape == (5, 8) and np.allclose(targets.sum(1), 1)
    split_face = list(ds.sources).index("FER2013Train/fer0000003.png")  # kept in probability mode only
    np.testing.assert_allclose(ds.targets[split_face], [4 / 7, 0, 0, 3 / 7, 0, 0, 0, 0], atol=1e-6)
    assert "FER2013Valid/fer0000007.png" not in set(ds.sources)  # validation: majority rule, whatever the mode
    np.testing.assert_array_equal(pipeline.encode_labels(targets, 8), targets)


def test_csv_form_matches_the_folders_form(ferplus_csv, ferplus_folders, isolated_outputs):
    a = ferplus.load_ferplus(ferplus_csv)
    b = ferplus.load_ferplus(ferplus_folders)
    assert a.report.balanced and a.report.layout == "ferplus-csv"
    reasons = dict(a.report.skipped)
    assert any(w.startswith("dropped by FER+: not a face") for w in reasons.values())
    assert any(w.startswith("wrong pixel count") for w in reasons.values())
    assert a.labels.tolist() == b.labels.tolist() and a.splits.tolist() == b.splits.tolist()
    np.testing.assert_array_equal(a.images, b.images)


def test_csv_form_refuses_label_files_of_different_lengths(ferplus_csv, isolated_outputs):
    new = ferplus_csv / ferplus.NEW_LABELS
    new.write_text("\n".join(new.read_text().splitlines()[:-2]) + "\n")
    with pytest.raises(DatasetError, match="one row per fer2013.csv row"):
        ferplus.load_ferplus(ferplus_csv)


def test_the_report_says_which_votes_are_used_when_both_could_apply(ferplus_folders, ferplus_csv, isolated_outputs):
    (ferplus_folders / ferplus.NEW_LABELS).write_bytes((ferplus_csv / ferplus.NEW_LABELS).read_bytes())
    ds = ferplus.load_ferplus(ferplus_folders)
    assert any("label.csv votes are used" in n for n in ds.report.notes)
    other = ferplus.load_ferplus(ferplus_folders, label_source="fer2013new.csv")
    assert "votes from fer2013new.csv" in other.report.notes and other.report.balanced


def test_missing_ferplus_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv(config.FERPLUS_ENV, raising=False)
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    with pytest.raises(DatasetError, match="FERPLUS_PATH"):
        ferplus.load_ferplus()
    with pytest.raises(DatasetError, match="not found at"):
        ferplus.load_ferplus(tmp_path / "nowhere")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / ferplus.NEW_LABELS).write_text("Usage,Image name\n")
    with pytest.raises(DatasetError, match="put the original fer2013.csv beside it"):
        ferplus.load_ferplus(tmp_path / "only")


def test_prepared_data_keeps_class_names_votes_and_targets(ferplus_folders, isolated_outputs):
    ds = ferplus.load_ferplus(ferplus_folders, label_mode="probability")
    datasets.save_prepared(ds, {"profile": "smoke"})
    back, _ = datasets.load_prepared()
    assert back.class_names == config.FERPLUS_CLASS_NAMES and back.name == "FER+"
    np.testing.assert_array_equal(back.votes, ds.votes)
    np.testing.assert_array_equal(back.targets, ds.targets)
    assert back.subset(back.splits == "train").targets.shape == (5, 8)


def test_study_compares_label_modes_and_transfer_on_the_same_test_faces(ferplus_folders, isolated_outputs, monkeypatch):
    from helpers.cli import study

    monkeypatch.setenv(config.FERPLUS_ENV, str(ferplus_folders))
    out = isolated_outputs / "study"
    argv = ["--ferplus", "majority", "probability", "--arms", "efficient_cnn", study.TRANSFER_ARM, "--seeds", "0"]
    assert study.main([*argv, "--minutes", "0.02", "--out", str(out)]) == 0
    runs = {p.stem for p in out.glob("*.json")}
    assert runs == {f"{arm}-{mode}-s0" for arm in ("efficient_cnn", study.TRANSFER_ARM) for mode in ferplus.LABEL_MODES}
    metrics = isolated_outputs / "metrics" / "study_ferplus-0.02min-majority-probability.json"
    body = json.loads(metrics.read_text())["metrics"]
    assert "efficient_cnn-majority - efficient_cnn-probability" in body["paired"]
    transfer = json.loads((out / f"{study.TRANSFER_ARM}-probability-s0.json").read_text())
    assert set(transfer["history"]["phase"]) == {"head", "whole"} and 0 <= transfer["test_accuracy"] <= 1


# --------------------------------------------------------------------------- the real FER+


@pytest.fixture
def real_ferplus() -> Path:
    if not REAL_FERPLUS:
        pytest.skip(f"{config.FERPLUS_ENV} is not set: real FER+ tests need FER+'s folders (see docs/FERPLUS.md)")
    return Path(REAL_FERPLUS)


@pytest.mark.realdata
def test_real_ferplus_folders_load_with_nothing_lost(real_ferplus):
    ds = ferplus.load_ferplus(real_ferplus)
    r = ds.report
    assert r.balanced and r.seen == 35_710  # 28,558 + 3,579 + 3,573 PNGs, each loaded or dropped by the rule
    assert set(r.skip_reasons()) == {"label rule"}
    counts = {s: int((ds.splits == s).sum()) for s in config.SPLITS}
    assert counts == {"train": 25_045, "val": 3_191, "test": 3_137}
    assert np.bincount(ds.split("test")[1], minlength=8)[7] == 15  # contempt: few faces, still there


@pytest.mark.realdata
def test_real_ferplus_label_modes_share_the_test_faces(real_ferplus):
    majority = ferplus.load_ferplus(real_ferplus)
    prob = ferplus.load_ferplus(real_ferplus, label_mode="probability")
    assert list(majority.sources[majority.splits == "test"]) == list(prob.sources[prob.splits == "test"])
    assert (prob.splits == "train").sum() > (majority.splits == "train").sum()
    assert np.allclose(prob.training_targets("train").sum(1), 1)


@pytest.mark.realdata
def test_real_ferplus_new_label_file_names_its_duplicates(real_ferplus):
    ds = ferplus.load_ferplus(real_ferplus, label_source="fer2013new.csv")
    assert ds.report.balanced
    dup = [item for item, why in ds.report.skipped if why.startswith("duplicate image name")]
    assert len(dup) == 8  # 4 image names on two rows each: 3 in Training, 1 in PrivateTest
