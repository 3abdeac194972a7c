"""Files a hostile visitor brings (issue 14), made once here for the tests and benchmarks/bench_app_memory.py."""
from __future__ import annotations

from pathlib import Path

import h5py
from PIL import Image


def declares_a_hundred_million_images(path: Path) -> Path:
    """A 2.7 kB Galaxy10-schema file whose datasets declare 10^8 images (nothing is written)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("images", shape=(10**8, 256, 256, 3), dtype="u1", chunks=(1, 256, 256, 3), compression="gzip")
        for key in ("ans", "ra", "dec", "redshift", "pxscale"):
            f.create_dataset(key, shape=(10**8,), dtype="u1" if key == "ans" else "f8", chunks=(4096,))
    return path


def pixel_bomb_png(path: Path, side: int = 7000) -> Path:
    """A PNG of about 143 kB that decodes to side x side pixels (49 megapixels by default)."""
    Image.new("L", (side, side)).save(path, format="PNG", optimize=True)
    return path


def damage_chunk(source: Path, destination: Path, index: int) -> Path:
    """A copy of a one-chunk-per-image file with image `index`'s compressed chunk overwritten."""
    destination.write_bytes(source.read_bytes())
    with h5py.File(destination, "r") as f:
        info = f["images"].id.get_chunk_info(index)
    with open(destination, "r+b") as handle:
        handle.seek(info.byte_offset + 10)
        handle.write(b"\xff" * 64)
    return destination
