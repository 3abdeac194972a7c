"""Similar-galaxy search: query time of exact cosine search at the full file's size and at a million
vectors, and the one-off time to build a checkpoint's embeddings of a dataset.

    python benchmarks/bench_similarity.py [--checkpoint checkpoints/cnn] [--data FILE] [--queries 200]

Query times use random unit vectors of the checkpoint's feature size (the search cost depends only on
their number and size): 17,736 (the real file) and 1,000,000. The build time is measured on --data (the
synthetic default unless given), from an empty embeddings cache. Target (issue 13): a query under 50 ms
for the full-size file on this CPU once the embeddings are cached.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.data.default import resolve_dataset  # noqa: E402
from galaxy_core.data.galaxy10 import Galaxy10  # noqa: E402
from galaxy_core.evaluation.similarity import dataset_embeddings, nearest, normalised  # noqa: E402
from galaxy_core.models.checkpoint import load_checkpoint  # noqa: E402


def query_ms(count: int, dim: int, queries: int, k: int = 12) -> dict:
    rng = np.random.default_rng(0)
    vectors = normalised(rng.normal(size=(count, dim)).astype(np.float32))
    asks = rng.normal(size=(queries, dim)).astype(np.float32)
    nearest(vectors, asks[0], k)  # warm up
    times = []
    for ask in asks:
        started = time.perf_counter()
        nearest(vectors, ask, k)
        times.append((time.perf_counter() - started) * 1000)
    return {"vectors": count, "dim": dim, "p50_ms": round(float(np.median(times)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "cnn"))
    parser.add_argument("--data")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    model, meta = load_checkpoint(args.checkpoint)
    data = Galaxy10(resolve_dataset(args.data))
    dim = int(model.features(torch.zeros(1, 3, meta["preprocessing"]["input_size"], meta["preprocessing"]["input_size"])).shape[1])
    result = {"benchmark": "similarity", "checkpoint": Path(args.checkpoint).name, "feature_dim": dim,
              "queries": [query_ms(17_736, dim, args.queries), query_ms(1_000_000, dim, max(20, args.queries // 10))]}
    import os

    with tempfile.TemporaryDirectory() as cache:
        os.environ["GALAXY_CORE_CACHE"] = cache  # an empty cache: decode, resize and embed every image
        started = time.perf_counter()
        dataset_embeddings(args.checkpoint, model, meta, data, torch.device("cpu"))
        result["build"] = {"images": len(data), "seconds": round(time.perf_counter() - started, 1),
                           "images_per_s": round(len(data) / (time.perf_counter() - started), 1)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
