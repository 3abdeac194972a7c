"""Which images of a Galaxy10 file are real check-set galaxies (the 60 shipped in `real_sample/`).

The real Galaxy10 file holds every check-set galaxy: a model trained on it would be scored on galaxies it learned
from. The check set's JPEGs are lossy copies, so images are matched as near-duplicates: both resized to 64 px, a
mean absolute difference under 2 grey levels (of 255). An 8-px thumbnail's difference never exceeds the 64-px one
(block means), so it rules out almost every pair first, exactly. The answer is cached per file (its fingerprint,
size and modification time): the real file's 17,736 images are decoded once.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from typing import Callable

import numpy as np
import torch

from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.prepared import input_batches
from galaxy_core.data.transforms import Preprocessing, as_batch, resized
from galaxy_core.fileio import write_json_atomic
from galaxy_core.settings import cache_dir

MATCH_SIDE = 64
MATCH_TOLERANCE = 2.0  # grey levels: the mean absolute difference at 64 px under which two images are one galaxy
COARSE_SIDE = 8
MATCH_VERSION = 1  # bump when the rule changes: cached answers are then recomputed


def _thumbnails(batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W, 3) -> (N, 64*64*3) and (N, 8*8*3) float32 thumbnails (the 8-px one: 8x8 block means)."""
    fine = resized(batch, Preprocessing(MATCH_SIDE)).float()  # (N, 3, 64, 64)
    coarse = torch.nn.functional.avg_pool2d(fine, MATCH_SIDE // COARSE_SIDE)
    return fine.flatten(1).numpy(), coarse.flatten(1).numpy()


@functools.lru_cache(maxsize=1)
def check_set_thumbnails() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The check set's 64-px and 8-px thumbnails and file names."""
    from galaxy_core.data.labelled_images import real_sample

    folder = real_sample()
    parts = [_thumbnails(as_batch(images)) for images in folder.batches()]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), tuple(p.name for p in folder.files)


def matches_in(batch, tolerance: float = MATCH_TOLERANCE) -> list[tuple[int, str]]:
    """(position in the batch, check-set file) for every image of uint8 (N, H, W, 3) `batch` that is a check-set galaxy."""
    fine_ref, coarse_ref, names = check_set_thumbnails()
    fine, coarse = _thumbnails(as_batch(batch))
    found = []
    candidates = np.abs(coarse[:, None, :] - coarse_ref[None, :, :]).mean(axis=2) < tolerance  # (N, 60)
    for i, j in zip(*np.nonzero(candidates)):
        if np.abs(fine[i] - fine_ref[j]).mean() < tolerance:
            found.append((int(i), names[j]))
    return found


def _cache_path(data: Galaxy10):
    stat = os.stat(data.path)
    key = hashlib.sha256(f"{data.fingerprint()}|{stat.st_size}|{stat.st_mtime_ns}|v{MATCH_VERSION}".encode()).hexdigest()[:16]
    return cache_dir() / "check_set_matches" / f"{data.fingerprint()}_{key}.json"


def check_set_matches(data: Galaxy10, progress: Callable[[int, int], None] | None = None) -> dict[int, str]:
    """{dataset index: check-set file} for every image of `data` that is a real check-set galaxy (cached per file)."""
    path = _cache_path(data)
    try:
        return {int(k): v for k, v in json.loads(path.read_text())["matches"].items()}
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    found, done = {}, 0
    indices = np.arange(len(data))
    for batch in input_batches(data, indices, Preprocessing(MATCH_SIDE), batch_size=256, cache=False):
        for position, name in matches_in(batch.numpy()):
            found[done + position] = name
        done += len(batch)
        if progress:
            progress(done, len(data))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"data": str(data.path), "images": len(data), "matches": {str(k): v for k, v in sorted(found.items())}})
    except OSError:
        pass  # a cache: a read-only folder only means scanning again next time
    return found
