""""Galaxies like this one": the k nearest dataset galaxies in a model's latent space (cosine distance).

The dataset's embeddings are computed once per checkpoint and dataset (through the prepared-image
cache), L2-normalised, and kept on disk beside the other caches; a query is then one matrix-vector
product. Exact search with numpy: benchmarks/bench_similarity.py measured 1.7 ms for the full-size
file (17,736 vectors) and 126 ms for a million on the 2-core reference CPU, so no approximate-search
library is needed at Galaxy10's scale (docs/benchmarks.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from galaxy_core.classes import CLASS_NAMES
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.evaluation.embeddings import feature_batches
from galaxy_core.fileio import atomic_path
from galaxy_core.inference.forward import features_of
from galaxy_core.settings import cache_dir


def normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def embeddings_path(checkpoint: str | Path, meta: dict, data: Galaxy10) -> Path:
    weights = (meta.get("weights_sha256") or "unhashed")[:12]
    return cache_dir() / "embeddings" / f"{Path(checkpoint).name}-{weights}-{data.fingerprint()}.npy"


def dataset_embeddings(checkpoint: str | Path, model: nn.Module, meta: dict, data: Galaxy10, device: torch.device,
                       progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N, D) unit vectors for every image of `data`: from the disk cache, else computed once and stored."""
    path = embeddings_path(checkpoint, meta, data)
    if path.is_file():
        cached = np.load(path, mmap_mode="r")
        if cached.shape[0] == len(data):
            return cached
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    parts, done = [], 0
    for _, features in feature_batches(model, data, np.arange(len(data)), preprocessing, device):
        parts.append(normalised(features))
        done += len(features)
        if progress:
            progress(done, len(data))
    vectors = np.concatenate(parts)
    with atomic_path(path, suffix=".npy") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, vectors)
    return vectors


def image_embedding(model: nn.Module, pixels: np.ndarray, meta: dict, device: torch.device) -> np.ndarray:
    """The unit vector of one 256x256 RGB uint8 image."""
    return normalised(features_of(model, pixels[None], Preprocessing.from_dict(meta["preprocessing"]), device))[0]


def nearest(embeddings: np.ndarray, query: np.ndarray, k: int, exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine distances of the k nearest rows, nearest first (exact)."""
    if not 1 <= k <= 1000:
        raise UserError(f"k = {k} neighbours: ask for 1 to 1000.")
    distances = 1.0 - np.asarray(embeddings) @ normalised(query)
    if exclude is not None:
        distances[exclude] = np.inf  # the query image itself
    k = min(k, len(distances) - (exclude is not None))
    top = np.argpartition(distances, k - 1)[:k] if k < len(distances) else np.arange(len(distances))
    order = top[np.argsort(distances[top], kind="stable")]
    return order, distances[order]


def neighbours(embeddings: np.ndarray, labels: np.ndarray, query: np.ndarray, k: int, exclude: int | None = None) -> list[dict]:
    indices, distances = nearest(embeddings, query, k, exclude)
    return [{"index": int(i), "distance": float(d), "label": int(labels[i]), "class": CLASS_NAMES[int(labels[i])]}
            for i, d in zip(indices, distances)]
