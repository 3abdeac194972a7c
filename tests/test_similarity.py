""""Galaxies like this one" (issue 13): exact cosine search, embeddings cached once per checkpoint and
dataset, and the `similar` command for a dataset image, a file and a sky position (local server)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import REPO, run_cli
from test_cutouts import SkyServer
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.errors import UserError
from galaxy_core.evaluation import similarity
from galaxy_core.models.checkpoint import load_checkpoint


def test_nearest_is_exact_and_ordered():
    rng = np.random.default_rng(0)
    vectors = similarity.normalised(rng.normal(size=(500, 24)))
    query = rng.normal(size=24)
    indices, distances = similarity.nearest(vectors, query, 10)
    brute = np.argsort(1 - vectors @ similarity.normalised(query))[:10]
    assert list(indices) == list(brute) and np.all(np.diff(distances) >= 0)
    itself, _ = similarity.nearest(vectors, vectors[7], 3, exclude=7)
    assert 7 not in itself
    with pytest.raises(UserError):
        similarity.nearest(vectors, query, 0)


def test_embeddings_are_computed_once_and_cached(tiny_h5, tiny_checkpoints, monkeypatch):
    import torch

    model, meta = load_checkpoint(tiny_checkpoints / "cnn")
    data = Galaxy10(tiny_h5)
    first = similarity.dataset_embeddings(tiny_checkpoints / "cnn", model, meta, data, torch.device("cpu"))
    assert first.shape[0] == len(data) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-4)
    monkeypatch.setattr(similarity, "feature_batches", lambda *a, **k: pytest.fail("recomputed"))
    again = similarity.dataset_embeddings(tiny_checkpoints / "cnn", model, meta, data, torch.device("cpu"))
    assert np.array_equal(np.asarray(again), first)
    # a query with a dataset image finds itself at distance ~0 when it is not excluded
    found = similarity.neighbours(np.asarray(again), data.labels, similarity.image_embedding(model, data.image(4), meta, torch.device("cpu")), 3)
    assert found[0]["index"] == 4 and found[0]["distance"] < 1e-3


def run_similar(*args, env=None):
    return run_cli("similar", *args, env=env)


def test_cli_similar_by_index_image_and_sky_position(tiny_h5, tiny_checkpoints, tmp_path):
    env = {**os.environ, "GALAXY_CORE_CACHE": str(tmp_path / "cache")}
    by_index = run_similar("--checkpoint", tiny_checkpoints / "cnn", "--data", tiny_h5, "--index", 3, "--k", 5, "--json", env=env)
    assert by_index.returncode == 0, by_index.stderr
    found = json.loads(by_index.stdout)["neighbours"]
    assert len(found) == 5 and 3 not in [n["index"] for n in found]
    assert set(found[0]) == {"index", "distance", "label", "class", "ra", "dec", "redshift"}, "--json adds where each one is"
    from galaxy_core.data.galaxy10 import Galaxy10

    assert found[0]["ra"] == Galaxy10(tiny_h5).metadata["ra"][found[0]["index"]]
    assert [n["distance"] for n in found] == sorted(n["distance"] for n in found)
    image = REPO / "galaxy_core/data/real_sample/g10_c0_r0.jpg"
    by_image = run_similar("--checkpoint", tiny_checkpoints / "cnn", "--data", tiny_h5, "--image", image, env=env)
    assert by_image.returncode == 0 and len(json.loads(by_image.stdout)["neighbours"]) == 12
    assert set(json.loads(by_image.stdout)["neighbours"][0]) == {"index", "distance", "label", "class"}
    sky = SkyServer()
    try:
        by_sky = run_similar("--checkpoint", tiny_checkpoints / "cnn", "--data", tiny_h5, "--ra", 150, "--dec", 2, "--cutout-url", sky.url,
                             env=env)
    finally:
        sky.close()
    assert by_sky.returncode == 0, by_sky.stderr
    assert json.loads(by_sky.stdout)["query"]["url"].startswith(sky.url)
    neither = run_similar("--checkpoint", tiny_checkpoints / "cnn", "--data", tiny_h5, env=env)
    assert neither.returncode == 2 and "exactly one query" in neither.stderr
