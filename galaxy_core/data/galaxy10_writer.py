"""Writing Galaxy10 files: the real file's schema with one gzip chunk per image, `repack`, and the
import of folders of labelled images."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from galaxy_core.data.galaxy10 import IMAGES_KEY, LABELS_KEY, METADATA_KEYS, Galaxy10
from galaxy_core.data.images import DATASET_SIDE
from galaxy_core.data.labelled_images import LabelledImages
from galaxy_core.errors import DataFileError
from galaxy_core.fileio import atomic_path


def create_galaxy10_datasets(f: h5py.File, n: int, height: int, width: int, compression_level: int = 4) -> None:
    """Create the real file's schema in an open, writable HDF5 file.

    Images get one gzip chunk each: a random single-image read decompresses exactly one image.
    """
    f.create_dataset(
        IMAGES_KEY,
        shape=(n, height, width, 3),
        dtype=np.uint8,
        chunks=(1, height, width, 3),
        compression="gzip",
        compression_opts=compression_level,
    )
    f.create_dataset(LABELS_KEY, shape=(n,), dtype=np.uint8)
    for key in METADATA_KEYS:
        f.create_dataset(key, shape=(n,), dtype=np.float64)


def repack(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    progress: Callable[[int, int], None] | None = None,
    block: int = 512,
) -> Path:
    """Rewrite a Galaxy10 file with one chunk per image, for fast random access. Atomic."""
    src = Galaxy10(source)
    destination = Path(destination)
    if destination.resolve() == src.path.resolve():
        raise DataFileError("repack needs a different output path than its input: choose a new file name.")
    with atomic_path(destination, suffix=".partial") as tmp:
        with h5py.File(tmp, "w") as out:
            create_galaxy10_datasets(out, len(src), *src.image_shape[:2])
            for key, value in src.attrs.items():
                out.attrs[key] = value
            out[LABELS_KEY][...] = src.labels.astype(np.uint8)
            for key in METADATA_KEYS:
                out[key][...] = src.metadata[key]
            for start, images in src.iter_blocks(block):
                out[IMAGES_KEY][start : start + len(images)] = images
                if progress:
                    progress(start + len(images), len(src))
    src.close()
    return destination


def import_images(folder: LabelledImages, destination: str | os.PathLike, progress: Callable[[int, int], None] | None = None,
                  batch_size: int = 64) -> Path:
    """Write a folder of labelled images as a Galaxy10-schema file (256x256 RGB, converted as uploads are),
    marked `imported` (not synthetic). Positions are unknown: ra, dec, redshift and pxscale are NaN. Atomic."""
    destination = Path(destination)
    with atomic_path(destination, suffix=".partial") as tmp:
        with h5py.File(tmp, "w") as out:
            create_galaxy10_datasets(out, len(folder), DATASET_SIDE, DATASET_SIDE)
            out.attrs.update({"synthetic": False, "imported": True, "source": folder.name, "description":
                              f"Labelled images imported by galaxy_core from the folder '{folder.name}'.",
                              "real_check_set_images": folder.real_sample_overlap()})
            out[LABELS_KEY][...] = folder.labels.astype(np.uint8)
            for key in METADATA_KEYS:
                out[key][...] = np.nan
            done = 0
            for images in folder.batches(batch_size):
                out[IMAGES_KEY][done : done + len(images)] = images
                done += len(images)
                if progress:
                    progress(done, len(folder))
    return destination
