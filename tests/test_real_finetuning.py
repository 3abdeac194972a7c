"""Fine-tuning on real check-set images: never scored on them, the head alone, and the mistakes refused."""
import shutil

import torch
import pytest

from conftest import run_cli
from galaxy_core.data.labelled_images import REAL_SAMPLE_DIR, real_sample
from galaxy_core.evaluation.folders import evaluate_folder
from galaxy_core.models.checkpoint import read_meta


def test_a_model_fine_tuned_on_check_set_images_is_never_scored_on_them(tiny_checkpoints, tiny_h5, tmp_path, monkeypatch):
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
    left_out = run_cli("train", "--init", tiny_checkpoints / "cnn", "--data", tmp_path / "some.h5", "--epochs", "1", "--split", "70/15/15",
                       "--out", tuned, "--device", "cpu")
    assert left_out.returncode == 2 and "--keep-check-set" in left_out.stderr and len(left_out.stderr.strip().splitlines()) == 1
    done = run_cli("train", "--init", tiny_checkpoints / "cnn", "--data", tmp_path / "some.h5", "--epochs", "1", "--split", "70/15/15",
                   "--out", tuned, "--device", "cpu", "--keep-check-set")
    assert done.returncode == 0, done.stderr
    meta = read_meta(tuned)
    assert meta["data"]["real_check_set_images"] == 12 and "real_sample" not in meta["metrics"]
    result = evaluate_folder([tuned], real_sample())
    assert "fine-tuned on these very images" in result["note"] and "real_sample" not in read_meta(tuned)["metrics"]
    from galaxy_core.evaluation.ood_calibration import calibrate_ood

    # a dozen images cannot set a 99th percentile: the OOD scores are fitted on the file its starting point learned from,
    # found by the name meta.json records under the checkpoints root (no machine path is recorded)
    monkeypatch.setenv("GALAXY_CHECKPOINTS", str(tiny_checkpoints))
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
    assert meta["recipe"]["init"] in ("cnn", "checkpoints/cnn") and meta["recipe"]["trainable"] == "head", "recorded without machine paths"
    assert meta["weights_source"] == "checkpoint cnn"
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
