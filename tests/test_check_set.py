"""Real check-set galaxies inside a training file (the real Galaxy10 file holds all 60) are found as near-duplicates
and left out of training and validation, so no check-set figure is measured on galaxies a model learned from."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import run_cli, write_galaxy10
from galaxy_core.data.galaxy10 import Galaxy10

PLANTED = (2, 11, 25)


@pytest.fixture(scope="module")
def with_check_set_galaxies(tiny_h5, tmp_path_factory):
    """The tiny synthetic file with three real check-set galaxies planted in it, re-encoded (a grey level of noise)."""
    from galaxy_core.data.labelled_images import real_sample

    data = Galaxy10(tiny_h5)
    images = np.stack([data.image(i) for i in range(len(data))])
    labels = data.labels.astype(np.uint8).copy()
    folder = real_sample()
    real = folder.pixels()
    noise = np.random.default_rng(1).integers(-1, 2, real.shape[1:])
    for slot, (index, source) in enumerate(zip(PLANTED, (0, 17, 42))):
        images[index] = np.clip(real[source].astype(int) + noise, 0, 255).astype(np.uint8)
        labels[index] = folder.labels[source]
    return write_galaxy10(tmp_path_factory.mktemp("planted") / "planted.h5", n=len(images), images=images, ans=labels)


def test_the_check_set_is_found_in_a_file_and_the_answer_is_cached(with_check_set_galaxies, tiny_h5, monkeypatch):
    from galaxy_core.data import check_set

    found = check_set.check_set_matches(Galaxy10(with_check_set_galaxies))
    assert sorted(found) == list(PLANTED) and found[PLANTED[0]].endswith(".jpg")
    assert check_set.check_set_matches(Galaxy10(tiny_h5)) == {}, "synthetic galaxies are not check-set galaxies"
    monkeypatch.setattr(check_set, "input_batches", lambda *a, **k: pytest.fail("decoded the file again"))
    assert sorted(check_set.check_set_matches(Galaxy10(with_check_set_galaxies))) == list(PLANTED)


def test_training_leaves_check_set_galaxies_out_and_still_scores_the_check_set(with_check_set_galaxies, tmp_path):
    from galaxy_core.evaluation.evaluate import checkpoint_split
    from galaxy_core.models.checkpoint import read_meta

    out = tmp_path / "cnn"
    done = run_cli("train", "--model", "cnn", "--data", with_check_set_galaxies, "--epochs", "1", "--image-size", "32",
                   "--batch-size", "8", "--out", out, "--device", "cpu", "--max-batches", "1")
    assert done.returncode == 0, done.stderr
    meta = read_meta(out)
    assert meta["data"]["check_set_found"] == 3 and meta["data"]["check_set_excluded"] == list(PLANTED)
    assert meta["data"]["real_check_set_images"] == 0 and "real_sample" in meta["metrics"], "it learned none of them: scored"
    split, cross = checkpoint_split(meta, Galaxy10(with_check_set_galaxies))
    assert not cross and not set(PLANTED) & set(split.train) and not set(PLANTED) & set(split.val)
    assert set(meta["throughput"]["stage_seconds"]) >= {"check_set_scan", "epochs", "final_scores", "ood_fit", "real_check_set"}
    evaluated = run_cli("evaluate", "--checkpoint", out, "--data", with_check_set_galaxies, "--out", tmp_path / "results")
    assert evaluated.returncode == 0, evaluated.stderr
