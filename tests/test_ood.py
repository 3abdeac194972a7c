"""Out-of-distribution scores: non-galaxy images flagged, JSON kept valid, damaged files refused, recalibration, and the real-galaxy thresholds."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from galaxy_core.data.labelled_images import REAL_SAMPLE_DIR, real_sample
from galaxy_core.errors import UserError
from galaxy_core.models.checkpoint import read_meta


def non_galaxy():
    from galaxy_core.evaluation.non_galaxy import non_galaxy_images

    return non_galaxy_images()


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
