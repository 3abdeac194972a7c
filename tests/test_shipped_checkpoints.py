"""The checkpoints the repository ships: each loads, says what it was trained on and how it does on
synthetic and real galaxies, carries its OOD thresholds, and all fit the 100 MB budget (issue 11)."""
from __future__ import annotations

import subprocess

import pytest

from conftest import REPO
from galaxy_core.data.cutouts import training_pixscale
from galaxy_core.models.checkpoint import find_checkpoints, load_checkpoint

SHIPPED = find_checkpoints(REPO / "checkpoints")
BUDGET_BYTES = 100 * 10**6  # 100 MB, counted in decimal megabytes (the stricter reading)


def test_the_shipped_checkpoints_fit_the_budget():
    tracked = subprocess.run(["git", "ls-files", "checkpoints"], cwd=REPO, capture_output=True, text=True).stdout.split()
    total = sum((REPO / name).stat().st_size for name in tracked) if tracked else sum(p.stat().st_size for p in (REPO / "checkpoints").rglob("*") if p.is_file())
    assert SHIPPED and total <= BUDGET_BYTES, f"{total / 1e6:.1f} MB"


@pytest.mark.parametrize("folder", SHIPPED, ids=[f.name for f in SHIPPED])
def test_a_shipped_checkpoint_loads_and_tells_the_truth_about_itself(folder):
    model, meta = load_checkpoint(folder)
    assert not model.training and meta["weights_dtype"] == "float16"
    assert meta["metrics"]["test"]["accuracy"] > 0 and meta["ood"]["test_flagged"] <= 0.05
    real = meta["metrics"]["real_sample"]
    assert real["count"] == 60
    # trained on check-set images: its figure must be the cross-validated estimate, never a score on them
    assert bool(meta["data"].get("real_check_set_images")) == bool(real.get("cross_validated"))
    assert training_pixscale([meta]) == 0.262
    spared = meta["ood"]["real_galaxies"]  # calibrate-ood --real-sample: real galaxies pass, every non-galaxy is still flagged
    assert spared["flagged_cross_validated"] <= 0.05 and min(spared["non_galaxy_scores"].values()) > 1


def test_the_shipped_default_answer_names_shipped_checkpoints_and_its_measurement():
    from galaxy_core.inference.default_answer import read_default

    recorded = read_default(REPO / "checkpoints")
    assert recorded is not None and not recorded.missing and recorded.measured["of"] == 60 == len(recorded.confidence)
    assert recorded.measured["right"] == int(recorded.correct.sum()) and recorded.measured["low"] < recorded.measured["accuracy"]


def _machine_paths(value, where: str = "") -> list[str]:
    """Every string in a JSON value that is an absolute path (POSIX, home-relative or Windows), with where it sits."""
    import re

    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _machine_paths(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in _machine_paths(item, f"{where}[{i}]")]
    if isinstance(value, str) and re.search(r"(^|\s)(/[^\s/]+/|~/|[A-Za-z]:\\)", value):
        return [f"{where} = {value[:80]}"]
    return []


def test_no_tracked_json_holds_a_path_of_the_machine_that_wrote_it(tiny_checkpoints, tiny_h5):
    """Shipped metadata names files relative to the checkpoints root or the project, datasets by name and fingerprint;
    and what training writes now follows the same rule (the tiny checkpoints are trained in a temporary folder)."""
    import json

    tracked = subprocess.run(["git", "ls-files", "*.json"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert tracked
    found = [f"{name}: {hit}" for name in tracked for hit in _machine_paths(json.loads((REPO / name).read_text()))]
    assert not found, found[:5]
    written = json.loads((tiny_checkpoints / "cnn" / "meta.json").read_text())
    assert not _machine_paths(written) and written["data"]["path"] == tiny_h5.name
