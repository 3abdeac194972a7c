"""The checkpoints the repository ships: each loads, says what it was trained on and how it does on
synthetic and real galaxies, carries its OOD thresholds, and all fit the 100 MB budget (issue 11)."""
from __future__ import annotations

import pytest

from conftest import REPO
from galaxy_core.data.cutouts import training_pixscale
from galaxy_core.models.checkpoint import find_checkpoints, load_checkpoint

SHIPPED = find_checkpoints(REPO / "checkpoints")
BUDGET_MB = 100


def test_the_shipped_checkpoints_fit_the_budget():
    total = sum(path.stat().st_size for path in (REPO / "checkpoints").rglob("*") if path.is_file())
    assert SHIPPED and total <= BUDGET_MB * 2**20, f"{total / 2**20:.1f} MB"


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
