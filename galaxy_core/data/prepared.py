"""Model inputs for a set of dataset images: decoded and resized once, then read back for every later pass.

Reading and inflating one 256x256 gzip chunk costs about 0.7 ms of CPU, as long as a small model's forward
pass at 64 px on two cores (docs/benchmarks.md). Evaluating five models, TTA, the trainer's validation
every epoch and its final scores, the latent space and the dashboard would decode the same images over and over.
So the first pass over (dataset, images, side) writes what it decoded, already resized to the
model's side as uint8 (before any crop), to a .npy file in the cache folder; later passes stream
it back at memory speed and the input pipeline stops being the bottleneck.

The key covers the dataset's fingerprint, its file's size and modification time (a re-download
gets new entries), the image indices and the side. The file is written while the first pass runs
and renamed into place only when complete, so an interrupted pass leaves nothing behind. Where
the cache folder cannot be written (read-only, disk full), batches still come, uncached.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

from galaxy_core.data.dataset import Galaxy10Dataset
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.transforms import Preprocessing, resized
from galaxy_core.fileio import replace_with, temp_path_beside
from galaxy_core.settings import cache_dir

PREPARED_VERSION = 1  # bump when `resized` changes what it produces
log = logging.getLogger(__name__)


def prepared_path(data: Galaxy10, indices: np.ndarray, side: int) -> Path:
    stat = os.stat(data.path)
    fingerprint = data.fingerprint()
    key = hashlib.sha256()
    key.update(f"{fingerprint}|{stat.st_size}|{stat.st_mtime_ns}|{side}|".encode())
    key.update(np.ascontiguousarray(indices, dtype="<i8").tobytes())
    return cache_dir() / "prepared" / f"{fingerprint}_{side}px_{key.hexdigest()[:16]}_v{PREPARED_VERSION}.npy"


def _open_cached(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        cached = np.load(path, mmap_mode="r")
        if cached.shape == shape and cached.dtype == np.uint8:
            return cached
    except (OSError, ValueError):
        pass
    path.unlink(missing_ok=True)  # damaged or foreign: rebuild it
    return None


def input_batches(data: Galaxy10, indices: np.ndarray, preprocessing: Preprocessing, batch_size: int = 64,
                  workers: int = 0, cache: bool = True) -> Iterator[torch.Tensor]:
    """uint8 (B, side, side, 3) batches of the given images, in order, resized for `preprocessing` (not yet cropped)."""
    indices = np.asarray(indices, dtype=np.int64)
    side = preprocessing.resize or preprocessing.input_size
    shape = (len(indices), side, side, 3)
    path = prepared_path(data, indices, side) if cache and len(indices) else None
    cached = _open_cached(path, shape) if path else None
    if cached is not None:
        for start in range(0, len(indices), batch_size):
            yield torch.from_numpy(np.array(cached[start : start + batch_size]))
        return
    loader = DataLoader(Galaxy10Dataset(data, indices), batch_size=batch_size, shuffle=False, num_workers=workers)
    writer = _PreparedWriter.start(path, shape) if path else None
    try:
        for images, _ in loader:
            batch = resized(images, preprocessing).permute(0, 2, 3, 1).contiguous()
            if writer is not None and not writer.append(batch):
                writer = None
            yield batch
        if writer is not None:
            writer.commit()
            writer = None
    finally:
        if writer is not None:  # stopped early or failed: leave nothing behind
            writer.discard()


class _PreparedWriter:
    """A .npy file filled batch by batch beside its final name, renamed into place only when complete.

    Caching is an optimisation: any failure to write (read-only folder, full disk) is logged and
    the images keep coming, uncached.
    """

    def __init__(self, path: Path, tmp: Path, out):
        self.path, self.tmp, self.out = path, tmp, out

    @classmethod
    def start(cls, path: Path, shape: tuple[int, ...]) -> "_PreparedWriter | None":
        tmp = None
        try:
            tmp = temp_path_beside(path, suffix=".part")
            out = open(tmp, "wb")
            np.lib.format.write_array_header_1_0(out, {"descr": "|u1", "fortran_order": False, "shape": shape})
            return cls(path, tmp, out)
        except OSError as exc:
            log.warning("Not caching prepared images at %s: %s", path, exc)
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            return None

    def append(self, batch: torch.Tensor) -> bool:
        try:
            self.out.write(batch.numpy().tobytes())
            return True
        except OSError as exc:
            log.warning("Not caching prepared images at %s: %s", self.path, exc)
            self.discard()
            return False

    def commit(self) -> None:
        try:
            self.out.close()
            replace_with(self.tmp, self.path)
        except OSError as exc:
            log.warning("Not caching prepared images at %s: %s", self.path, exc)
            self.discard()

    def discard(self) -> None:
        self.out.close()
        self.tmp.unlink(missing_ok=True)
