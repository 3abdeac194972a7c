"""Writing synthetic files: blocks of images rendered and compressed in worker processes, written
in order into a `.partial` file that records how many are done, renamed into place at the end."""
from __future__ import annotations

import multiprocessing
import os
import zlib
from pathlib import Path
from typing import Callable

import galsim
import h5py
import numpy as np

from galaxy_core.data.galaxy10 import IMAGES_KEY, LABELS_KEY, MASKS_KEY
from galaxy_core.data.galaxy10_writer import create_galaxy10_datasets
from galaxy_core.data.synthetic.catalogue import GENERATOR, make_catalogue
from galaxy_core.data.synthetic.looks import GENERATOR_VERSION
from galaxy_core.data.stretch import legacy_rgb
from galaxy_core.data.synthetic.observe import MASK_THRESHOLD, jpeg_round_trip, render_bands
from galaxy_core.data.synthetic.scene import IMAGE_SIZE
from galaxy_core.errors import UserError
from galaxy_core.fileio import fsync_path

BLOCK = 32  # images per worker task and per flush of the output file
COMPRESSION_LEVEL = 4


def _render_block(task: tuple[int, int, int, np.ndarray, bool]) -> tuple[int, list[bytes], list[bytes]]:
    """Render and gzip a block of images (and their masks) in a worker: HDF5's deflate filter stores zlib
    streams, so the main process only writes finished chunks and both cores keep rendering."""
    galsim.set_omp_threads(1)  # one process per core already; more threads only contend
    start, seed, version, labels, masks = task
    images, mask_chunks = [], []
    for k, label in enumerate(labels):
        rendered = render_bands(int(label), seed, start + k, version, masks=masks)
        images.append(zlib.compress(jpeg_round_trip(legacy_rgb(rendered.bands), rendered.quality).tobytes(), COMPRESSION_LEVEL))
        if masks:
            mask_chunks.append(zlib.compress(rendered.mask.tobytes(), COMPRESSION_LEVEL))
    return start, images, mask_chunks


def worker_count(requested: int | None) -> int:
    if requested:
        return max(1, requested)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _resumable(partial: Path, params: dict) -> int:
    """How many leading images a previous, interrupted run with the same parameters finished."""
    if not partial.exists():
        return 0
    try:
        with h5py.File(partial, "r") as f:
            if all(f.attrs.get(k) == v for k, v in params.items()):
                return int(f.attrs.get("completed", 0))
    except OSError:  # killed while HDF5 metadata was being written: start again
        pass
    return 0


def generate(
    out: str | os.PathLike,
    n: int,
    seed: int = 0,
    balance: str = "real",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    version: int = GENERATOR_VERSION,
    masks: bool = False,
) -> Path:
    """Write a synthetic Galaxy10 file of n images with the given generator version (`looks.py`); with `masks`,
    also a `masks` dataset (N, 256, 256) uint8 saying which pixels show the target galaxy (1), a star or a
    neighbour (2) or sky (0), the ground truth explanations are scored on. Resumes an interrupted run; atomic at the end."""
    out = Path(out)
    if n < 1:
        raise UserError(f"--n must be at least 1 (got {n}).")
    if seed < 0:
        raise UserError(f"--seed must be zero or positive (got {seed}).")
    out.parent.mkdir(parents=True, exist_ok=True)
    catalogue = make_catalogue(n, seed, balance, version)
    params = {"synthetic": True, "generator": GENERATOR, "generator_version": version,
              "seed": seed, "n": n, "balance": balance}
    if masks:  # only then: files without masks keep the attributes (and so the fingerprints) they always had
        params["masks"] = True
    partial = partial_path(out)
    done = _resumable(partial, params)
    if done == 0:
        partial.unlink(missing_ok=True)
        with h5py.File(partial, "w") as f:
            create_galaxy10_datasets(f, n, IMAGE_SIZE, IMAGE_SIZE, COMPRESSION_LEVEL)
            if masks:
                mask_set = f.create_dataset(MASKS_KEY, shape=(n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8,
                                            chunks=(1, IMAGE_SIZE, IMAGE_SIZE), compression="gzip", compression_opts=COMPRESSION_LEVEL)
                mask_set.attrs.update(values="0 sky, 1 target galaxy, 2 star or neighbour", threshold=MASK_THRESHOLD)
            f.attrs.update(params)
            f.attrs["completed"] = 0
            f.attrs["description"] = "Synthetic Galaxy10 DECaLS images made by galaxy_core; not real galaxies."
            f[LABELS_KEY][...] = catalogue.labels
            for key in ("ra", "dec", "redshift", "pxscale"):
                f[key][...] = getattr(catalogue, key)
    if progress:
        progress(done, n)
    tasks = [(s, seed, version, catalogue.labels[s : s + BLOCK], masks) for s in range(done, n, BLOCK)]
    count = worker_count(workers)
    with h5py.File(partial, "r+") as f:
        images = f[IMAGES_KEY]
        if count == 1 or len(tasks) <= 1:
            results = map(_render_block, tasks)
            pool = None
        else:
            # Not "fork": a parent that has already rendered holds GalSim/FFT threads, and forked
            # children can deadlock on their locks. A fork server starts workers from a clean process.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            pool = context.Pool(count)
            results = pool.imap(_render_block, tasks)  # in order: `completed` stays a prefix
        try:
            for start, chunks, mask_chunks in results:
                for k, chunk in enumerate(chunks):
                    images.id.write_direct_chunk((start + k, 0, 0, 0), chunk)
                for k, chunk in enumerate(mask_chunks):
                    f[MASKS_KEY].id.write_direct_chunk((start + k, 0, 0), chunk)
                f.attrs["completed"] = start + len(chunks)
                f.flush()
                if progress:
                    progress(start + len(chunks), n)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    fsync_path(partial)
    os.replace(partial, out)
    return out
