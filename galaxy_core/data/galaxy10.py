"""Lazy, validated reader (and the one writer) of Galaxy10 DECaLS HDF5 files.

The real file is 2.54 GB: it never fits in memory on a small machine, so labels and metadata
are read eagerly (a few hundred kB) and pixels only on demand. The HDF5 handle is opened once
per process, which makes a `Galaxy10` safe to hand to DataLoader worker processes.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

try:  # Intel ISA-L inflates about twice as fast as zlib (docs/benchmarks.md); zlib is the fallback
    from isal.isal_zlib import decompress as _inflate, error as _InflateError
except ImportError:  # pragma: no cover - isal is in requirements.txt, but the reader works without it
    from zlib import decompress as _inflate, error as _InflateError

from galaxy_core.classes import CLASS_NAMES, NUM_CLASSES
from galaxy_core.data.galaxy10_layout import chunk_cache_options, layout_of, one_deflate_chunk_per_image, storage_end, unwritten_chunks
from galaxy_core.errors import DataFileError
from galaxy_core.fileio import os_error_reason, short_path

IMAGES_KEY = "images"
MASKS_KEY = "masks"  # synthetic files made with `synth --masks`: where each image's light comes from
LABELS_KEY = "ans"
METADATA_KEYS = ("ra", "dec", "redshift", "pxscale")
SCHEMA_KEYS = (IMAGES_KEY, LABELS_KEY, *METADATA_KEYS)
SYNTHETIC_DRAWN_PXSCALE = 0.262  # the DECam pixel, in arcsec; see Galaxy10.typical_pxscale
# Limits checked before anything is read: a 3 kB file may declare 10^8 images (gigabytes of labels
# and metadata) or gigapixel images. The real file holds 17,736 images of 256x256.
MAX_IMAGES = 2_000_000
MAX_IMAGE_SIDE = 1024
MAX_ATTRIBUTE_BYTES = 64 * 1024


class Galaxy10:
    """One Galaxy10 file: validated on open, labels and metadata in memory, pixels on demand."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._handle: h5py.File | None = None
        self._handle_pid: int | None = None
        self._images_dataset: h5py.Dataset | None = None
        self._validate_and_load()

    # ----- opening and validation -----------------------------------------------------------
    def _validate_and_load(self) -> None:
        try:
            self._open_and_check()
        except DataFileError:
            raise
        except OSError as exc:
            if exc.errno is not None:  # a name too long, a permission, a device error
                raise DataFileError(f"{short_path(self.path)} cannot be used ({os_error_reason(exc)}): give the path of a Galaxy10 .h5 file.") from None
            raise _damaged(self.path) from None  # HDF5's own errors carry no errno
        except HDF5_DAMAGE:
            raise _damaged(self.path) from None

    def _open_and_check(self) -> None:
        name = str(self.path)
        if self.path.name.endswith(".partial"):
            raise DataFileError(f"{name} is an unfinished file (.partial): run the command that was writing it again to finish it, "
                                "then use the finished file.")
        if not self.path.exists():
            raise DataFileError(
                f"{name} does not exist: give the path to Galaxy10_DECals.h5 "
                "(or run `python -m galaxy_core download`)."
            )
        if self.path.is_dir():
            raise DataFileError(f"{name} is a folder, not a file: give the path to the .h5 file itself.")
        size = self.path.stat().st_size
        if size == 0:
            raise DataFileError(f"{name} is empty: download or generate it again.")
        if not h5py.is_hdf5(name):
            raise DataFileError(
                f"{name} is not an HDF5 file: Galaxy10 data must be the .h5 file from Zenodo "
                "or one written by `python -m galaxy_core synth`."
            )
        try:
            handle = h5py.File(name, "r")
        except OSError as exc:
            reason = "it is truncated" if "truncated" in str(exc).lower() else "it is corrupt"
            raise DataFileError(f"{name} cannot be opened because {reason}: download or generate it again.") from None
        with handle:
            self._check_schema(handle, size)
            self.layout = layout_of(handle[IMAGES_KEY])
            self._direct_chunks = one_deflate_chunk_per_image(handle[IMAGES_KEY])
            self.attrs = _small_attributes(handle)
            self._check_all_written(handle)
            self._check_pixels_readable(handle)

    def _check_schema(self, f: h5py.File, file_size: int) -> None:
        name = str(self.path)
        missing = [k for k in SCHEMA_KEYS if k not in f or not isinstance(f[k], h5py.Dataset)]
        if missing:
            raise DataFileError(
                f"{name} is not a Galaxy10 file: dataset '{missing[0]}' is missing "
                f"(a Galaxy10 file holds {', '.join(SCHEMA_KEYS)})."
            )
        images = f[IMAGES_KEY]
        if images.ndim != 4 or images.shape[3] != 3 or images.shape[1] < 8 or images.shape[2] < 8:
            raise DataFileError(
                f"{name} has images of shape {images.shape}, but Galaxy10 images are (N, height, width, 3) RGB "
                "(256x256 in the real file): use the real file or regenerate it with `synth`."
            )
        if images.dtype != np.uint8:
            raise DataFileError(
                f"{name} stores images as {images.dtype}, but Galaxy10 images are uint8: "
                "convert them to 0-255 uint8 or regenerate the file with `synth`."
            )
        n = images.shape[0]
        if n == 0:
            raise DataFileError(f"{name} holds no images: use a file with at least one galaxy.")
        if n > MAX_IMAGES:
            raise DataFileError(f"{name} declares {n:,} images, more than the {MAX_IMAGES:,} supported (the real file holds 17,736): "
                                "the file is damaged or not Galaxy10.")
        if max(images.shape[1:3]) > MAX_IMAGE_SIDE:
            raise DataFileError(f"{name} declares {images.shape[1]}x{images.shape[2]} pixel images, larger than the {MAX_IMAGE_SIDE} px "
                                "supported (Galaxy10 images are 256x256): the file is damaged or not Galaxy10.")
        for key in (LABELS_KEY, *METADATA_KEYS):
            ds = f[key]
            if ds.ndim != 1 or ds.shape[0] != n:
                raise DataFileError(
                    f"{name} has {n} images but '{key}' has shape {ds.shape}: every Galaxy10 dataset needs "
                    "one value per image, so the file is damaged; download or generate it again."
                )
            allowed = "iu" if key == LABELS_KEY else "iuf"
            if ds.dtype.kind not in allowed:
                kind = "integers" if key == LABELS_KEY else "numbers"
                raise DataFileError(f"{name} stores '{key}' as {ds.dtype}, but it must hold {kind}: the file is not Galaxy10.")
        labels = np.asarray(f[LABELS_KEY][()]).astype(np.int64)
        bad = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
        if bad.size:
            raise DataFileError(
                f"{name} has {bad.size} labels outside 0-{NUM_CLASSES - 1} (first: {labels[bad[0]]} at index {bad[0]}): "
                "Galaxy10 has ten classes, so this file is not Galaxy10 or is damaged."
            )
        for key in SCHEMA_KEYS:
            if storage_end(f[key]) > file_size:
                raise DataFileError(f"{name} is truncated ('{key}' runs past the end of the file): download or generate it again.")
        self.labels = labels
        self.metadata = {k: np.asarray(f[k][()], dtype=np.float64) for k in METADATA_KEYS}
        self.image_shape = tuple(int(s) for s in images.shape[1:])
        self._length = n

    def _check_all_written(self, f: h5py.File) -> None:
        """Refuse images that were never written: HDF5 would read them as black, silently."""
        for key in SCHEMA_KEYS:
            missing, expected = unwritten_chunks(f[key])
            if missing:
                what = f"{missing:,} of its {expected:,} image chunks were" if key == IMAGES_KEY and expected > 1 else f"its '{key}' data was"
                raise DataFileError(f"{self.path} is incomplete ({what} never written, as after an interrupted write): "
                                    "finish or repeat the write, or download the file again.")

    def verify(self, progress=None) -> None:
        """Read and decode every image (what `info --verify` does); the first damaged one is named."""
        for index in range(len(self)):
            try:
                pixels = self._images()[index]
            except (OSError, *HDF5_DAMAGE):
                raise _damaged(self.path, index) from None
            del pixels
            if progress is not None and (index % 256 == 0 or index == len(self) - 1):
                progress(index + 1, len(self))

    def _check_pixels_readable(self, f: h5py.File) -> None:
        images = f[IMAGES_KEY]
        for i in sorted({0, len(self) - 1}):
            try:
                images[i]
            except (OSError, *HDF5_DAMAGE):
                raise _damaged(self.path, i) from None

    # ----- per-process handle -------------------------------------------------------------
    def _images(self) -> h5py.Dataset:
        # Threads share one Galaxy10 (the dashboard's sessions): the pid is set last, so a thread that
        # sees it match also sees the dataset; two threads arriving at once at worst both open the file.
        if self._images_dataset is None or self._handle_pid != os.getpid():
            # A handle inherited through fork must not be used: open a fresh one in this process.
            handle = h5py.File(self.path, "r", **chunk_cache_options(self.layout))
            # Keep the dataset open: HDF5's chunk cache belongs to the open dataset, so opening
            # it per read would start every read with an empty cache.
            dataset = handle[IMAGES_KEY]
            self._handle, self._images_dataset = handle, dataset
            self._handle_pid = os.getpid()
            return dataset
        return self._images_dataset

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_handle=None, _handle_pid=None, _images_dataset=None)
        return state

    def close(self) -> None:
        if self._handle is not None and self._handle_pid == os.getpid():
            self._handle.close()
        self._handle_pid = None
        self._handle = None
        self._images_dataset = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----- reading --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._length

    def _check_index(self, index: int) -> int:
        index = int(index)
        if not 0 <= index < len(self):
            raise DataFileError(f"Image index {index} is outside this file's {len(self)} images (0 to {len(self) - 1}).")
        return index

    def image(self, index: int) -> np.ndarray:
        """One image as (H, W, 3) uint8."""
        index = self._check_index(index)
        if self._direct_chunks:
            # One gzip chunk per image (our files, and any repacked one): reading the raw chunk and
            # inflating it here skips HDF5's filter pipeline and copies: half the time of images[i] (docs/benchmarks.md).
            try:
                mask, raw = self._images().id.read_direct_chunk((index, 0, 0, 0))
                pixels = raw if mask & 1 else _inflate(raw)  # mask bit 0: deflate was skipped for this chunk
                return np.frombuffer(pixels, dtype=np.uint8).reshape(self.image_shape).copy()  # writable, like h5py
            except (OSError, RuntimeError, ValueError, _InflateError):
                pass  # unallocated or damaged chunk: HDF5's own read below fills it or names the damage
        try:
            return self._images()[index]
        except (OSError, *HDF5_DAMAGE):
            raise _damaged(self.path, index) from None

    def images(self, indices: Iterable[int]) -> np.ndarray:
        """Several images as (k, H, W, 3) uint8, in the order asked; read in file order for locality."""
        indices = np.asarray([self._check_index(i) for i in indices], dtype=np.int64)
        out = np.empty((len(indices), *self.image_shape), dtype=np.uint8)
        for position in np.argsort(indices, kind="stable"):
            out[position] = self.image(indices[position])
        return out

    @property
    def has_masks(self) -> bool:
        """Whether the file holds a valid `masks` dataset (synthetic files made with `synth --masks`)."""
        with h5py.File(self.path, "r") as f:
            masks = f.get(MASKS_KEY)
            return (isinstance(masks, h5py.Dataset) and masks.dtype == np.uint8
                    and masks.shape == (len(self), *self.image_shape[:2]))

    def masks(self, indices: Iterable[int]) -> np.ndarray:
        """The ground-truth masks of several images as (k, H, W) uint8 (0 sky, 1 target galaxy, 2 star or neighbour)."""
        if not self.has_masks:
            raise DataFileError(f"{self.path.name} has no masks: write a file with them by `python -m galaxy_core synth --out FILE --masks`.")
        indices = np.asarray([self._check_index(i) for i in indices], dtype=np.int64)
        order = np.argsort(indices, kind="stable")
        out = np.empty((len(indices), *self.image_shape[:2]), dtype=np.uint8)
        try:
            with h5py.File(self.path, "r") as f:
                out[order] = f[MASKS_KEY][np.unique(indices)][np.searchsorted(np.unique(indices), indices[order])]
        except (OSError, *HDF5_DAMAGE):
            raise _damaged(self.path) from None
        return out

    def iter_blocks(self, block: int = 256) -> Iterable[tuple[int, np.ndarray]]:
        """Sequential (start, images) blocks: the efficient way to stream the whole file."""
        images = self._images()
        for start in range(0, len(self), block):
            try:
                yield start, images[start : start + block]
            except (OSError, *HDF5_DAMAGE):
                raise DataFileError(f"{self.path} is corrupt (images {start} to {min(start + block, len(self)) - 1} cannot be decoded): "
                                    "find the image with `info --verify`, then download or generate the file again.") from None

    # ----- description ------------------------------------------------------------------------
    @property
    def is_synthetic(self) -> bool:
        return bool(self.attrs.get("synthetic", False))

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=NUM_CLASSES)

    @property
    def real_check_set_images(self) -> int:
        """How many of its images are real check-set images (files made by `import` record it)."""
        value = self.attrs.get("real_check_set_images", 0)
        return int(value) if isinstance(value, (int, np.integer)) and value > 0 else 0

    def typical_pxscale(self) -> float | None:
        """The pixel scale (arcsec/pixel) most of the images have, or None when the file records none.

        The synthetic generator draws every galaxy at the DECam pixel, the scale of most real cutouts;
        its `pxscale` column only imitates the real column's spread, so it is not used here.
        """
        if self.is_synthetic:
            return SYNTHETIC_DRAWN_PXSCALE
        values = self.metadata["pxscale"]
        values = values[np.isfinite(values) & (values > 0)]
        return round(float(np.median(values)), 4) if values.size else None

    def fingerprint(self) -> str:
        """A stable identity for this dataset's content: labels, sky positions, shape, generator.

        Pixels are left out on purpose: hashing 2.5 GB at every start is too slow, and labels plus
        coordinates already tell two Galaxy10 files apart. A synthetic file is identified by its
        generator, version, seed and labels instead of its coordinates: the generator computes those
        with sines and logarithms whose last bits can differ between numpy builds (the shipped checkpoints did not
        recognise the default file remade on a fresh machine), and a checkpoint trained
        on the default file must recognise the same file made on another machine.
        """
        digest = hashlib.sha256()
        digest.update(repr(self.image_shape).encode())
        digest.update(self.labels.astype("<i8").tobytes())
        if not self.is_synthetic:
            for key in METADATA_KEYS:
                digest.update(np.nan_to_num(self.metadata[key], nan=-999.0).astype("<f8").tobytes())
        for key in ("synthetic", "generator", "generator_version", "seed", "balance"):
            digest.update(repr(self.attrs.get(key)).encode())
        return digest.hexdigest()[:16]

    def info(self) -> dict:
        counts = self.class_counts()
        layout = self.layout
        info = {
            "path": str(self.path),
            "count": len(self),
            "class_counts": {name: int(c) for name, c in zip(CLASS_NAMES, counts)},
            "image_shape": list(self.image_shape),
            "dtype": "uint8",
            "synthetic": self.is_synthetic,
            "fingerprint": self.fingerprint(),
            "file_size_bytes": self.path.stat().st_size,
            "chunks": list(layout.chunks) if layout.chunks else None,
            "compression": layout.compression,
            "random_access": (
                f"slow: one image decompresses {layout.read_amplification:.0f}x its size; "
                f"run `python -m galaxy_core repack {self.path} OUT.h5`"
                if layout.random_access_is_slow
                else "fast"
            ),
        }
        if self.attrs.get("imported"):
            info["imported_from"] = self.attrs.get("source")
        if self.is_synthetic:
            info["generator"] = {k: self.attrs.get(k) for k in ("generator", "generator_version", "seed")}
            info["masks"] = self.has_masks
        return info


# What h5py raises, besides OSError, when a file's internal structure is damaged (found by tests/test_fuzz.py).
HDF5_DAMAGE = (RuntimeError, KeyError, ValueError, TypeError, IndexError, OverflowError, SystemError)


def _damaged(path: Path, index: int | None = None) -> DataFileError:
    where = f"image {index} cannot be decoded" if index is not None else "its HDF5 structure cannot be read"
    return DataFileError(f"{short_path(path)} is corrupt ({where}): download or generate it again.")


def _small_attributes(handle: h5py.File) -> dict:
    """The file's attributes as plain values, skipping any too large to be metadata."""
    attrs = {}
    for key in list(handle.attrs)[:64]:
        if handle.attrs.get_id(key).get_storage_size() <= MAX_ATTRIBUTE_BYTES:
            try:
                attrs[key] = _plain(handle.attrs[key])
            except (OSError, TypeError, ValueError):
                continue  # an attribute h5py cannot read says nothing we need
    return attrs


def _plain(value):
    """HDF5 attribute values as plain JSON-able Python values."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
