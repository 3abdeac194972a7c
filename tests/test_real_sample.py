"""The real check set in the package, and evaluation on folders of labelled images."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from galaxy_core.classes import NUM_CLASSES
from galaxy_core.data.labelled_images import REAL_SAMPLE_DIR, class_index, read_labelled_folder, real_sample
from galaxy_core.errors import UserError
from galaxy_core.evaluation.folders import evaluate_folder
from galaxy_core.models.checkpoint import read_meta
from galaxy_core.settings import results_root


def test_the_check_set_ships_in_the_package_with_six_galaxies_per_class():
    folder = real_sample()
    assert len(folder) == 60 and folder.is_real_sample and "development set" in folder.note
    np.testing.assert_array_equal(np.bincount(folder.labels, minlength=NUM_CLASSES), [6] * NUM_CLASSES)
    assert (REAL_SAMPLE_DIR / "README.md").read_text().count("Legacy") >= 1
    first = next(folder.batches(4))
    assert first.shape == (4, 256, 256, 3) and first.dtype == np.uint8


def test_labels_are_indices_or_class_names():
    assert class_index("2", "x") == 2 and class_index("Round Smooth", "x") == 2 and class_index("round_smooth", "x") == 2
    assert class_index("edge-on bulge", "x") == 9
    with pytest.raises(UserError, match="not a Galaxy10 class"):
        class_index("spiral-ish", "labels.csv line 3")


def copy_some(tmp_path, count=4):
    folder = real_sample()
    return [(shutil.copy(path, tmp_path / path.name), int(label)) for path, label in list(zip(folder.files, folder.labels))[:count]]


def test_a_csv_folder_and_class_named_subfolders_read_the_same(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    copied = copy_some(flat)
    (flat / "my_labels.csv").write_text("file,label\n" + "".join(f"{p.name},{label}\n" for p, label in copied))
    from_csv = read_labelled_folder(flat, flat / "my_labels.csv")
    nested = tmp_path / "nested"
    for path, label in copied:
        (nested / ["disturbed", "Merging"][label]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, nested / ["disturbed", "Merging"][label] / path.name)
    from_folders = read_labelled_folder(nested)
    assert sorted(from_csv.labels.tolist()) == sorted(from_folders.labels.tolist()) and len(from_folders) == 4


@pytest.mark.parametrize("content, message", [
    ("name,class\na.jpg,1\n", "needs the columns file and label"),
    ("file,label\nmissing.jpg,1\n", "does not exist"),
    ("file,label\n../outside.jpg,1\n", "is not a file inside"),
    ("file,label\ng10_c0_r0.jpg,11\n", "is not a Galaxy10 class"),
    ("file,label\ng10_c0_r0.jpg,0\ng10_c0_r0.jpg,0\n", "listed twice"),
])
def test_bad_label_files_get_one_sentence(tmp_path, content, message):
    copy_some(tmp_path, 1)
    (tmp_path / "labels.csv").write_text(content)
    with pytest.raises(UserError, match=message):
        read_labelled_folder(tmp_path)


def test_an_empty_folder_and_a_file_are_refused(tmp_path):
    with pytest.raises(UserError, match="holds no labelled images"):
        read_labelled_folder(tmp_path)
    with pytest.raises(UserError, match="is not a folder"):
        read_labelled_folder(tmp_path / "nope")


def test_a_checkpoint_on_the_check_set_records_its_score_in_meta(tiny_checkpoints, tmp_path):
    folder = tmp_path / "cnn"
    shutil.copytree(tiny_checkpoints / "cnn", folder)
    result = evaluate_folder([folder], real_sample())
    assert result["metrics"]["count"] == 60 and result["part"] == "images" and "development set" in result["note"]
    recorded = read_meta(folder)["metrics"]["real_sample"]
    assert recorded["accuracy"] == result["metrics"]["accuracy"] and recorded["count"] == 60
    rows = (results_root() / "cnn" / "predictions_real_sample.csv").read_text().splitlines()
    assert not (folder / "predictions_real_sample.csv").exists(), "results go to the results folder, not into the checkpoint"
    assert len(rows) == 61 and "file" in rows[0] and rows[1].split(",")[6].endswith(".jpg")


def test_the_check_set_with_eight_views_averaged_is_scored_apart(tiny_checkpoints, tmp_path):
    from galaxy_core.inference.predictor import Predictor

    folder = tmp_path / "cnn"
    shutil.copytree(tiny_checkpoints / "cnn", folder)
    recorded = read_meta(folder)["metrics"]["real_sample"]
    result = evaluate_folder([folder], real_sample(), tta=True)
    assert result["tta"] is True and (results_root() / "cnn" / "evaluation_real_sample_tta.json").exists()
    # the recorded real-sample figure is that of the images as given, which every interface shows
    assert read_meta(folder)["metrics"]["real_sample"] == recorded
    sample = real_sample()
    predictor = Predictor([folder], tta=True)
    rows = [row for images in sample.batches() for row in predictor.predict(images)]
    expected = np.mean([row["label"] == label for row, label in zip(rows, sample.labels)])
    assert result["metrics"]["accuracy"] == pytest.approx(expected)


def test_training_records_the_check_set_score(tiny_checkpoints):
    real = read_meta(tiny_checkpoints / "efficientnet_b0")["metrics"]["real_sample"]
    assert real["count"] == 60 and 0.0 <= real["accuracy"] <= 1.0


def test_cli_evaluates_an_ensemble_on_the_check_set_and_a_folder(tiny_checkpoints, tmp_path):
    members = [tiny_checkpoints / "cnn", tiny_checkpoints / "efficientnet_b0"]
    done = run_cli("evaluate", "--ensemble", "soft", "--checkpoints", *members, "--real-sample", "--json", "--out", tmp_path / "ens")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["images"] == 60 and set(result["member_accuracy"]) == {"cnn", "efficientnet_b0"}
    assert result["metrics"]["confusion_matrix"] and (tmp_path / "ens" / "predictions.csv").exists()
    curve = result["risk_coverage"]  # the accuracy of the most confident k answers, k = 1..60, and the reliability bins
    assert len(curve) == 60 and curve[-1]["accuracy"] == pytest.approx(result["metrics"]["accuracy"]) and result["metrics"]["reliability"]
    assert [p["threshold"] for p in curve] == sorted((p["threshold"] for p in curve), reverse=True)
    copied = copy_some(tmp_path / "ens", 3)
    (tmp_path / "ens" / "labels.csv").write_text("file,label\n" + "".join(f"{p.name},{label}\n" for p, label in copied))
    done = run_cli("evaluate", "--checkpoint", members[0], "--images", tmp_path / "ens",
                   "--labels", tmp_path / "ens" / "labels.csv")
    assert done.returncode == 0, done.stderr
    short = json.loads(done.stdout)["metrics"]
    assert short["count"] == 3
    low, high = short["accuracy_interval"]  # the short summary carries the accuracy's 95% interval too
    assert 0.0 <= low <= short["accuracy"] <= high <= 1.0


def test_check_set_accuracies_come_with_their_95_percent_interval():
    from galaxy_core.evaluation.metrics import accuracy_interval, accuracy_summary, compute_metrics

    # 30 of 60 right: Wilson's interval, symmetric at one half and about ±12 points wide
    assert accuracy_interval({"accuracy": 0.5, "count": 60}) == pytest.approx((0.3774, 0.6226), abs=1e-4)
    low, high = accuracy_interval({"accuracy": 0.981, "count": 999})
    assert 0.97 < low < 0.981 < high < 0.99  # a thousand synthetic test images pin it down far better
    assert accuracy_interval({"accuracy": 1.0, "count": 60})[1] == pytest.approx(1.0)
    assert accuracy_interval({"accuracy": 0.5, "count": 0}) == (0.0, 1.0)  # a hand-edited meta.json: no crash
    assert accuracy_interval({"accuracy": 1.7, "count": 60})[1] == pytest.approx(1.0)
    meta = {"data": {"synthetic": True}, "metrics": {"test": {"accuracy": 0.981}, "real_sample": {"accuracy": 0.5, "count": 60}}}
    assert accuracy_summary(meta) == "synthetic test 98.1% · real check set 50% (30/60, 95% CI 38%–62%, dev set)"
    labels = np.array([0, 1, 2, 3])
    metrics = compute_metrics(labels, np.eye(10)[[0, 1, 2, 4]])
    assert metrics["accuracy"] == 0.75 and metrics["accuracy_interval"] == pytest.approx(list(accuracy_interval(metrics)))


@pytest.mark.parametrize("extra, message", [
    (["--real-sample", "--images", "x"], "not both"),
    (["--real-sample", "--temperature"], "for Galaxy10 files"),
    (["--labels", "x.csv"], "not both"),
])
def test_cli_refuses_mixed_sources_in_one_sentence(tiny_checkpoints, extra, message):
    done = run_cli("evaluate", "--checkpoint", tiny_checkpoints / "cnn", *extra)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_non_image_in_a_folder_is_named(tmp_path):
    (tmp_path / "round").mkdir()
    (tmp_path / "round" / "fake.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "round" / "ok.png")
    folder = read_labelled_folder(tmp_path)
    with pytest.raises(UserError, match="fake.jpg"):
        list(folder.batches())


def test_import_writes_a_galaxy10_file_marked_imported(tmp_path):
    from galaxy_core.data.galaxy10 import Galaxy10

    done = run_cli("import", "--images", REAL_SAMPLE_DIR, "--out", tmp_path / "real.h5")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["count"] == 60 and not info["synthetic"] and info["imported_from"] == "real_sample"
    data = Galaxy10(tmp_path / "real.h5")
    np.testing.assert_array_equal(data.labels, real_sample().labels)
    np.testing.assert_array_equal(data.image(7), next(real_sample().batches(8))[7])
    assert np.isnan(data.metadata["ra"]).all()
    bad = run_cli("import", "--images", tmp_path / "missing", "--out", tmp_path / "x.h5")
    assert bad.returncode == 2 and "is not a folder" in bad.stderr and not (tmp_path / "x.h5").exists()
