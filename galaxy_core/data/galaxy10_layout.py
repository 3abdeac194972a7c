"""How a Galaxy10 file stores its images (chunking, compression) and what a random read costs;
the chunk cache sized to match, and where the stored bytes end (to detect truncated files)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import h5py
import numpy as np

# A single-image read that decompresses more than this many times the image's own size is
# "slow": the file should be repacked (one chunk per image) for random access.
SLOW_ACCESS_FACTOR = 8
MAX_CHUNK_CACHE = 128 * 2**20


@dataclass(frozen=True)
class Layout:
    """How the images are stored, and what one random single-image read costs."""

    chunks: tuple[int, ...] | None  # None: contiguous
    compression: str | None
    chunk_bytes: int  # bytes of one (uncompressed) chunk, or of one image when contiguous
    chunks_per_image: int
    read_amplification: float  # bytes decompressed for one image / bytes of one image

    @property
    def random_access_is_slow(self) -> bool:
        return self.read_amplification > SLOW_ACCESS_FACTOR


def one_deflate_chunk_per_image(images: h5py.Dataset) -> bool:
    """Whether each image is one chunk whose only filter is deflate: then it can be read raw and inflated here."""
    if images.chunks != (1, *images.shape[1:]) or images.dtype != np.uint8:
        return False
    plist = images.id.get_create_plist()
    return [plist.get_filter(i)[0] for i in range(plist.get_nfilters())] == [h5py.h5z.FILTER_DEFLATE]


def layout_of(images: h5py.Dataset) -> Layout:
    image_bytes = int(np.prod(images.shape[1:])) * images.dtype.itemsize
    if images.chunks is None:
        return Layout(None, None, image_bytes, 1, 1.0)
    chunk_bytes = int(np.prod(images.chunks)) * images.dtype.itemsize
    per_image = int(np.prod([math.ceil(s / c) for s, c in zip(images.shape[1:], images.chunks[1:])]))
    return Layout(
        tuple(images.chunks),
        images.compression,
        chunk_bytes,
        per_image,
        per_image * chunk_bytes / image_bytes,
    )


def _next_prime(n: int) -> int:
    def is_prime(k: int) -> bool:
        return k > 1 and all(k % d for d in range(2, int(k**0.5) + 1))

    while not is_prime(n):
        n += 1
    return n


def chunk_cache_options(layout: Layout) -> dict:
    """Size HDF5's chunk cache to hold every chunk one image touches (twice over).

    With the default 1 MiB cache, a layout whose chunks span many images re-decompresses the
    same chunks for each neighbouring image; holding them makes batch reads of neighbours cheap.
    """
    wanted = 2 * layout.chunks_per_image * layout.chunk_bytes
    nbytes = int(min(max(wanted, 2**20), MAX_CHUNK_CACHE))
    slots = _next_prime(max(521, 10 * (nbytes // max(layout.chunk_bytes, 1))))
    return {"rdcc_nbytes": nbytes, "rdcc_nslots": slots, "rdcc_w0": 1.0}


def storage_end(dataset: h5py.Dataset) -> int:
    """The largest file offset the dataset's stored bytes reach (0 if nothing is stored)."""
    dsid = dataset.id
    if dataset.chunks is None:
        offset = dsid.get_offset()
        return 0 if offset is None else offset + dsid.get_storage_size()
    ends = [0]
    try:
        dsid.chunk_iter(lambda info: ends.append(info.byte_offset + info.size))
    except (AttributeError, NotImplementedError, RuntimeError):  # HDF5 older than 1.12.3
        for i in range(dsid.get_num_chunks()):
            info = dsid.get_chunk_info(i)
            ends.append(info.byte_offset + info.size)
    return max(ends)


def unwritten_chunks(dataset: h5py.Dataset) -> tuple[int, int]:
    """(chunks never written, chunks expected): HDF5 reads an unwritten chunk as zeros, silently."""
    if dataset.chunks is None:
        return (0, 1) if dataset.id.get_offset() is not None or dataset.size == 0 else (1, 1)
    expected = int(np.prod([math.ceil(s / c) for s, c in zip(dataset.shape, dataset.chunks)]))
    return expected - dataset.id.get_num_chunks(), expected
