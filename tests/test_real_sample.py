"""The real check set in the package, and evaluation on folders of labelled images."""
import json
import shutil
import sys

import numpy as np
import torch
import pytest
from PIL import Image

from conftest import REPO, run_cli
from galaxy_core.classes import NUM_CLASSES
from galaxy_core.data.labelled_images import REAL_SAMPLE_DIR, class_index, read_labelled_folder, real_sample
from galaxy_core.errors import UserError
from galaxy_core.evaluation.folders import evaluate_folder
from galaxy_core.models.checkpoint import read_meta


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
    rows = (folder / "predictions_real_sample.csv").read_text().splitlines()
    assert len(rows) == 61 and "file" in rows[0] and rows[1].split(",")[6].endswith(".jpg")


def test_the_check_set_with_eight_views_averaged_is_scored_apart(tiny_checkpoints, tmp_path):
    from galaxy_core.inference.predictor import Predictor

    folder = tmp_path / "cnn"
    shutil.copytree(tiny_checkpoints / "cnn", folder)
    recorded = read_meta(folder)["metrics"]["real_sample"]
    result = evaluate_folder([folder], real_sample(), tta=True)
    assert result["tta"] is True and (folder / "evaluation_real_sample_tta.json").exists()
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


def test_a_model_fine_tuned_on_check_set_images_is_never_scored_on_them(tiny_checkpoints, tiny_h5, tmp_path):
    """Copies count too (by content): its check-set figure must come from cross-validation."""
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.evaluation.metrics import accuracy_summary

    copied = tmp_path / "some_real"
    copied.mkdir()
    files = sorted(REAL_SAMPLE_DIR.glob("*.jpg"))[:12]
    for path in files:
        shutil.copy(path, copied / path.name)
    labels = dict(line.split(",")[:2] for line in (REAL_SAMPLE_DIR / "labels.csv").read_text().splitlines()[1:])
    (copied / "labels.csv").write_text("file,label\n" + "".join(f"{p.name},{labels[p.name]}\n" for p in files))
    assert run_cli("import", "--images", copied, "--out", tmp_path / "some.h5").returncode == 0
    assert Galaxy10(tmp_path / "some.h5").real_check_set_images == 12
    tuned = tmp_path / "tuned"
    done = run_cli("train", "--init", tiny_checkpoints / "cnn", "--data", tmp_path / "some.h5", "--epochs", "1", "--split", "70/15/15",
                   "--out", tuned, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    meta = read_meta(tuned)
    assert meta["data"]["real_check_set_images"] == 12 and "real_sample" not in meta["metrics"]
    result = evaluate_folder([tuned], real_sample())
    assert "fine-tuned on these very images" in result["note"] and "real_sample" not in read_meta(tuned)["metrics"]
    from galaxy_core.evaluation.ood_calibration import calibrate_ood

    # a dozen images cannot set a 99th percentile: the OOD scores are fitted on the file its starting point learned from
    assert "fine-tuned from" in calibrate_ood(tuned, Galaxy10(tiny_h5))["fitted_on"]
    meta["metrics"]["real_sample"] = {"accuracy": 0.55, "count": 60, "cross_validated": {"folds": 5, "sd": 0.155}}
    assert accuracy_summary(meta).endswith("real check set 55% ± 16% (5-fold cross-validated: fine-tuned on it)")


def test_fine_tuning_the_head_changes_only_the_head(tiny_checkpoints, tiny_h5, tmp_path):
    from galaxy_core.models.checkpoint import load_checkpoint

    out = tmp_path / "tuned"
    done = run_cli("train", "--init", tiny_checkpoints / "cnn", "--trainable", "head", "--data", tiny_h5, "--epochs", "1",
                   "--lr", "0.01", "--out", out, "--device", "cpu", "--max-batches", "2")
    assert done.returncode == 0, done.stderr
    before, _ = load_checkpoint(tiny_checkpoints / "cnn")
    after, meta = load_checkpoint(out)
    assert meta["recipe"]["init"] == str(tiny_checkpoints / "cnn") and meta["recipe"]["trainable"] == "head"
    assert meta["weights_source"] == f"checkpoint {tiny_checkpoints / 'cnn'}"
    changed = {k for k, v in after.state_dict().items() if not torch.equal(v, before.state_dict()[k])}
    assert changed and all(k.startswith("head.") for k in changed)


@pytest.mark.parametrize("extra, message", [
    (["--model", "autoencoder"], "holds a cnn, not a autoencoder"),
    (["--image-size", "48"], "does not fit this run"),
    (["--out", "SAME"], "is the checkpoint being fine-tuned"),
])
def test_fine_tuning_mistakes_get_one_sentence(tiny_checkpoints, tiny_h5, extra, message):
    extra = [str(tiny_checkpoints / "cnn") if e == "SAME" else e for e in extra]
    done = run_cli("train", "--init", tiny_checkpoints / "cnn", "--data", tiny_h5, "--epochs", "1", "--device", "cpu", *extra)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def benchmark(name: str):
    """A module of benchmarks/ (not a package): the tests share its code rather than copy it."""
    import importlib

    sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module(name)


def non_galaxy():
    from galaxy_core.evaluation.non_galaxy import non_galaxy_images

    return non_galaxy_images()


def test_domain_gap_statistics_see_jpeg_blocks_and_mark_only_differences_beyond_chance():
    import io

    gap = benchmark("domain_gap")
    rng = np.random.default_rng(0)
    sky = np.clip(rng.normal(40, 8, (256, 256, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(sky).save(buffer, format="JPEG", quality=30)
    compressed = np.asarray(Image.open(buffer).convert("RGB"))
    blockiness = gap.STATISTICS.index("blockiness")
    assert abs(gap.image_statistics(sky)[blockiness] - 1) < 0.05 and gap.image_statistics(compressed)[blockiness] > 1.1
    real, synthetic = rng.normal(0, 1, (6, 3)), rng.normal(0, 1, (60, 3))
    synthetic[:, 1] += 5  # one statistic clearly off; the other two drawn alike
    p_values = gap.welch_p(real, synthetic)
    assert (p_values < 0.05).tolist() == [False, True, False]
    # 100 statistics that match give evenly spread p-values: 5 below 0.05, none beyond chance.
    matching = (np.arange(100) + 0.5) / 100
    assert (matching < 0.05).sum() == 5 and not gap.beyond_chance(matching).any()
    assert gap.beyond_chance(np.r_[p_values, matching])[1], "a real difference stays one among many tests"
    galaxy = np.clip(250 * np.exp(-np.hypot(*(np.indices((256, 256)) - 127.5)) / 10), 0, 255)[..., None].repeat(3, axis=2)
    profile = gap.radial_profile(galaxy)
    assert np.all(np.diff(profile) < 0) and profile[0] > 200 and profile[-1] < 5
    assert np.allclose(gap.radial_profile(np.full((256, 256, 3), 40)), 40)
    # structure: crisp two-armed spiral light 10-40 px out counts; the same galaxy blurred, or without arms, counts less
    y, x = np.indices((256, 256)) - 127.5
    radius, angle = np.hypot(x, y), np.arctan2(y, x)
    disk = 200 * np.exp(-radius / 15)
    arms = disk * (0.5 + 0.5 * np.cos(2 * angle - 2 * np.log(radius + 1) / np.tan(np.radians(15)))) ** 4
    structure = gap.STATISTICS.index("structure")

    def structure_of(lum):
        return gap.image_statistics(np.clip(lum + 30, 0, 255)[..., None].repeat(3, axis=2))[structure]

    from scipy import ndimage
    crisp, blurred, smooth = structure_of(disk + arms), structure_of(ndimage.gaussian_filter(disk + arms, 3)), structure_of(disk)
    assert crisp > 1.5 * blurred and crisp > 3 * smooth


def test_mixing_generator_versions_takes_every_other_galaxy_from_each_file(tiny_h5, tmp_path):
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.synthetic import generate

    v6 = generate(tmp_path / "v6.h5", 30, seed=3, workers=1, version=6)
    mixed = Galaxy10(benchmark("mix_generators").mix([tiny_h5, v6], tmp_path / "mixed.h5"))
    sources = [Galaxy10(tiny_h5), Galaxy10(v6)]
    assert len(mixed) == 30 and mixed.is_synthetic and mixed.attrs["generator_version"] == "2+6"
    for i in (0, 1, 28, 29):
        np.testing.assert_array_equal(mixed.image(i), sources[i % 2].image(i))
        assert mixed.labels[i] == sources[i % 2].labels[i]
    assert not (tmp_path / "mixed.h5.partial").exists()
    with pytest.raises(UserError, match="same size"):
        benchmark("mix_generators").mix([tiny_h5, generate(tmp_path / "small.h5", 12, seed=3, workers=1)], tmp_path / "bad.h5")


def test_calibrated_checkpoints_flag_every_non_galaxy_image(tiny_checkpoints, tiny_h5):
    from galaxy_core.inference.predictor import Predictor

    meta = read_meta(tiny_checkpoints / "cnn")
    assert meta["ood"]["quantile"] == 99.0 and (tiny_checkpoints / "cnn" / "ood.safetensors").exists(), "training calibrates"
    others = non_galaxy()
    for members, rule in (([tiny_checkpoints / "cnn"], None), ([tiny_checkpoints / "cnn", tiny_checkpoints / "efficientnet_b0"], "soft")):
        results = Predictor(members, rule).predict(np.stack(list(others.values())))
        assert all(r["ood"] and r["ood_score"] > 1 for r in results), [(n, r["ood_score"]) for n, r in zip(others, results)]
        assert all(m["ood_score"] is not None for m in results[0]["members"].values())


def test_predict_json_carries_ood_and_stays_valid_json(tiny_checkpoints, tmp_path):
    image = tmp_path / "grey.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(image)
    done = run_cli("predict", "--checkpoint", tiny_checkpoints / "cnn", image, "--json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)["predictions"][0]
    assert row["ood"] is True and row["ood_score"] > 1 and row["tta"] is False
    averaged = run_cli("predict", "--checkpoint", tiny_checkpoints / "cnn", image, "--json", "--tta")
    assert averaged.returncode == 0, averaged.stderr
    row = json.loads(averaged.stdout)["predictions"][0]
    assert row["tta"] is True and row["ood"] is True


def test_a_damaged_ood_file_gets_one_sentence(tiny_checkpoints, tmp_path):
    from galaxy_core.inference.predictor import Predictor

    folder = tmp_path / "cnn"
    shutil.copytree(tiny_checkpoints / "cnn", folder)
    (folder / "ood.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="must be fitted again"):  # the core says what is wrong ...
        Predictor([folder])
    done = run_cli("predict", "--checkpoint", folder, sorted(REAL_SAMPLE_DIR.glob("*.jpg"))[0])
    assert done.returncode == 2 and f"calibrate-ood --checkpoint {folder}" in done.stderr  # ... the command line what to do
    done = run_cli("calibrate-ood", "--checkpoint", folder, "--data", tiny_checkpoints.parent / "nope.h5")
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_recalibration_on_the_training_file_restores_it(tiny_checkpoints, tiny_h5, tmp_path):
    folder = tmp_path / "cnn"
    shutil.copytree(tiny_checkpoints / "cnn", folder)
    (folder / "ood.safetensors").unlink()
    done = run_cli("calibrate-ood", "--checkpoint", folder, "--data", tiny_h5)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ood"]["sha256"] == read_meta(folder)["ood"]["sha256"]
    other = tmp_path / "other.h5"
    from conftest import write_galaxy10

    write_galaxy10(other, n=30, side=32)
    done = run_cli("calibrate-ood", "--checkpoint", folder, "--data", other)
    assert done.returncode == 2 and "trained on" in done.stderr


def test_real_thresholds_spare_real_galaxies_and_still_flag_every_non_galaxy(tiny_checkpoints, tmp_path):
    """calibrate-ood --real-sample raises a checkpoint's thresholds to what real galaxies need, never past a non-galaxy."""
    from galaxy_core.inference.ood import OodModel
    from galaxy_core.inference.predictor import Predictor

    folder = tmp_path / "cnn"
    shutil.copytree(tiny_checkpoints / "cnn", folder)
    before = Predictor([folder]).predict(real_sample().pixels())
    done = run_cli("calibrate-ood", "--checkpoint", folder, "--real-sample", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    real = json.loads(done.stdout)["ood"]["real_galaxies"]
    assert real == read_meta(folder)["ood"]["real_galaxies"] and real["folds"] == 5 and real["fitted_on"].startswith("real_sample (60")
    assert real["flagged_cross_validated"] <= 0.05 and real["flagged_before"] == np.mean([r["ood"] for r in before])
    assert set(real["non_galaxy_scores"]) >= {"photograph", "text", "corrupted cutout", "noise"} and min(real["non_galaxy_scores"].values()) > 1
    predictor = Predictor([folder])
    assert not any(r["ood"] for r in predictor.predict(real_sample().pixels())), "in sample, every real galaxy passes"
    assert all(r["ood"] for r in predictor.predict(np.stack(list(non_galaxy().values()))))
    ood = predictor.members[0].ood
    assert ood.feature_threshold.item() >= Predictor([tiny_checkpoints / "cnn"]).members[0].ood.feature_threshold.item()
    assert isinstance(ood, OodModel)


def test_real_thresholds_that_would_pass_a_non_galaxy_are_refused(tiny_checkpoints, tmp_path, monkeypatch):
    import galaxy_core.evaluation.ood_calibration as calibration

    folder = tmp_path / "cnn"
    shutil.copytree(tiny_checkpoints / "cnn", folder)
    galaxy = real_sample().pixels()[:1]
    monkeypatch.setattr(calibration, "non_galaxy_images", lambda: {"a real galaxy passed off as a stranger": galaxy[0]})
    with pytest.raises(UserError, match="would also pass a real galaxy passed off as a stranger"):
        calibration.fit_real_thresholds(folder, real_sample())
    assert "real_galaxies" not in read_meta(folder)["ood"], "nothing recorded"
