"""Real galaxies in the latent space: the gap scores on toy features where the answer is known, and the `latent`
command's JSON, CSV and refusals."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np

from conftest import REPO, run_cli
from galaxy_core.evaluation.latent_gap import class_shift, neighbour_votes, two_sample_auc

REAL = REPO / "galaxy_core" / "data" / "real_sample"


def test_two_sample_auc_is_near_half_for_one_distribution_and_near_one_for_shifted_ones():
    rng = np.random.default_rng(0)
    same_a, same_b = rng.normal(size=(400, 16)), rng.normal(size=(60, 16))
    auc, (low, high) = two_sample_auc(same_a, same_b)
    assert 0.35 < auc < 0.65 and low < 0.5 < high
    auc, (low, high) = two_sample_auc(same_a, same_b + 1.5)
    assert auc > 0.95 and low > 0.9
    assert two_sample_auc(same_a, same_b[:1]) == (None, None)


def test_neighbour_votes_and_class_shift_on_known_features():
    synthetic = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], float)
    labels = np.array([0, 0, 3, 3])
    assert neighbour_votes(synthetic, labels, np.array([[1, 0.05], [0.05, 1]]), k=2).tolist() == [0, 3]
    points = np.array([[0.0, 0], [2, 0], [0, 2], [2, 2]])
    assert class_shift(points, points) == 0.0
    assert abs(class_shift(points, points + [np.sqrt(2), 0]) - 1.0) < 1e-9  # spread sqrt(2): one spread away


def test_latent_command_json_csv_and_unreadable_files(tiny_checkpoints, tiny_h5, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in sorted(p.name for p in REAL.glob("*.jpg"))[:6]:
        shutil.copy(REAL / name, folder / name)
    (folder / "broken.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)  # a FITS the reader refuses
    out = tmp_path / "points.csv"
    run = run_cli("latent", "--checkpoint", tiny_checkpoints / "cnn", "--data", tiny_h5, "--images", folder, "--out", out,
                  "--neighbours", "3", "--json", "--device", "cpu")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["n_real"] == 6 and result["skipped"] == 1 and "broken.fits" in result["skipped_files"][0]
    assert result["neighbour_agreement"] is None and result["n_real_labelled"] == 0  # unlabelled: placed, not scored
    assert 0 <= result["two_sample_auc"] <= 1 and len(result["two_sample_auc_ci"]) == 2 and result["n_synthetic"] > 0
    assert set(result["per_class"]) and all("shift" in c for c in result["per_class"].values())
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["file", "index", "source", "label", "prediction", "confidence", "ood", "x", "y", "z"]
    real_rows = [r for r in rows if r["source"] == "real"]
    assert len(real_rows) == 6 and all(r["file"] and r["label"] == "" and r["index"] == "" for r in real_rows)
    assert len(rows) - 6 == result["n_synthetic"] and all(r["index"] for r in rows if r["source"] == "synthetic")


def test_latent_command_on_the_check_set_with_labels_and_umap(tiny_checkpoints, tiny_h5):
    run = run_cli("latent", "--checkpoint", tiny_checkpoints / "cnn", "--data", tiny_h5, "--projection", "umap", "--dimensions", "2",
                  "--device", "cpu")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["real_sample"] and result["n_real_labelled"] == 60 and 0 <= result["neighbour_agreement"] <= 1
    assert result["projection"] == "umap" and "per_class" not in result  # the short form


def test_latent_command_refuses_bad_folders_in_one_sentence(tiny_checkpoints, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "unreadable").mkdir()
    (tmp_path / "unreadable" / "a.jpg").write_bytes(b"not a jpeg")
    for folder, says in ((tmp_path / "empty", "holds no JPEG, PNG or FITS file"), (tmp_path / "missing", "is not a folder"),
                         (tmp_path / "unreadable", "No real image could be read")):
        run = run_cli("latent", "--checkpoint", tiny_checkpoints / "cnn", "--images", folder)
        assert run.returncode == 2 and run.stderr.startswith("error: ") and says in run.stderr, run.stderr
