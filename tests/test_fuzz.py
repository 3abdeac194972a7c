"""Property-based fuzzing (Hypothesis) of everything that reads outside input: the Galaxy10 HDF5
reader, the image decoder and checkpoint metadata. The property is always the same: an input
either loads correctly or raises the project's one-sentence UserError; never anything else.

CI runs about a minute of examples. `python benchmarks/fuzz.py` runs many more (GALAXY_FUZZ_SCALE)
and records how many inputs were tried (GALAXY_FUZZ_REPORT) for docs/benchmarks.md.
"""
from __future__ import annotations

import atexit
import functools
import io
import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import write_galaxy10
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.images import DATASET_SIDE, load_image
from galaxy_core.errors import UserError
from galaxy_core.models.checkpoint import load_checkpoint, read_meta

SCALE = float(os.environ.get("GALAXY_FUZZ_SCALE", "1"))
TRIED: Counter = Counter()  # inputs tried per target
LOADED: Counter = Counter()  # of which loaded (the rest were refused with a UserError)


def _report() -> None:
    target = os.environ.get("GALAXY_FUZZ_REPORT")
    if target and TRIED:
        Path(target).write_text(json.dumps({"tried": dict(TRIED), "loaded": dict(LOADED)}, indent=2))


atexit.register(_report)


def fuzz_settings(examples: int):
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])


def loads_or_refuses(target: str, load) -> None:
    TRIED[target] += 1
    try:
        load()
    except UserError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message, message
        return
    LOADED[target] += 1


# ----- the HDF5 reader --------------------------------------------------------------------------
KEYS = ("images", "ans", "ra", "dec", "redshift", "pxscale")
DTYPES = ("u1", "i1", "i8", "u8", "f2", "f4", "f8", "S3", "bool")
STORAGE = ("contiguous", "chunked", "gzip", "unwritten")
no_nul_text = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20)


@st.composite
def galaxy10_structures(draw) -> dict:
    """A valid Galaxy10 layout (n images of side x side), then a few changes: a key dropped, a dtype,
    a shape or the storage changed. Most results are refused; some stay valid and must load."""
    n, side = draw(st.integers(0, 9)), draw(st.sampled_from([4, 8, 16]))
    specs = {"images": ((n, side, side, 3), "u1", draw(st.sampled_from(STORAGE[:3]))),
             "ans": ((n,), "u1", "contiguous")}
    specs.update({key: ((n,), "f8", "contiguous") for key in KEYS[2:]})
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(KEYS))
        change = draw(st.sampled_from(["drop", "dtype", "shape", "storage"]))
        if change == "drop":
            specs[key] = None
        elif specs[key] is not None:
            shape, dtype, storage = specs[key]
            if change == "dtype":
                dtype = draw(st.sampled_from(DTYPES))
            elif change == "shape":
                shape = tuple(draw(st.lists(st.integers(0, 9), min_size=0, max_size=5)))
            else:
                storage = draw(st.sampled_from(STORAGE))
            specs[key] = (shape, dtype, storage)
    return specs


def write_fuzzed_file(path: Path, specs: dict, attrs: dict, rng: np.random.Generator) -> None:
    with h5py.File(path, "w") as f:
        for key, spec in specs.items():
            if spec is None:
                continue
            shape, dtype, storage = spec
            options = {} if storage == "contiguous" or not shape or 0 in shape else {"chunks": True}
            if storage == "gzip" and options:
                options["compression"] = "gzip"
            if storage == "unwritten" and shape and 0 not in shape:
                f.create_dataset(key, shape=shape, dtype=dtype, chunks=True)
                continue
            high = 10 if key == "ans" else 256
            values = rng.integers(-1 if key == "ans" else 0, high, size=shape).astype(dtype)
            f.create_dataset(key, data=values, **options)
        for name, value in attrs.items():
            f.attrs[name] = value


@fuzz_settings(300)
@given(specs=galaxy10_structures(),
       attrs=st.dictionaries(no_nul_text.filter(bool), st.one_of(st.integers(-5, 5), no_nul_text, st.booleans()), max_size=3),
       seed=st.integers(0, 2**16))
def test_hdf5_reader_loads_or_refuses_any_structure(tmp_path_factory, specs, attrs, seed):
    path = tmp_path_factory.mktemp("fuzz-h5") / "fuzzed.h5"
    write_fuzzed_file(path, specs, attrs, np.random.default_rng(seed))

    def load():
        data = Galaxy10(path)
        data.images(range(len(data)))
        data.info()

    loads_or_refuses("hdf5 structure", load)


@functools.cache
def valid_h5_bytes() -> bytes:
    """A small valid file (not a fixture: Hypothesis would print all its bytes with every failure)."""
    with tempfile.TemporaryDirectory() as folder:
        return write_galaxy10(Path(folder) / "base.h5", n=6, side=16).read_bytes()


@fuzz_settings(300)
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=12),
       keep=st.one_of(st.none(), st.floats(0, 1)))
def test_hdf5_reader_loads_or_refuses_damaged_bytes(tmp_path_factory, flips, keep):
    data = bytearray(valid_h5_bytes())
    for where, value in flips:
        data[int(where * len(data))] = value
    if keep is not None:
        data = data[: int(keep * len(data))]
    path = tmp_path_factory.mktemp("fuzz-bytes") / "damaged.h5"
    path.write_bytes(bytes(data))

    def load():
        galaxy10 = Galaxy10(path)
        galaxy10.images(range(len(galaxy10)))

    loads_or_refuses("hdf5 bytes", load)


# ----- the image decoder ---------------------------------------------------------------------------
MODES = ("1", "L", "P", "RGB", "RGBA", "LA", "I;16", "I", "F", "CMYK", "YCbCr")
FORMATS = {"PNG": ("1", "L", "P", "RGB", "RGBA", "LA", "I;16", "I"), "JPEG": ("L", "RGB", "CMYK", "YCbCr"),
           "TIFF": ("1", "L", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"), "GIF": ("L", "P"), "BMP": ("1", "L", "P", "RGB"),
           "WEBP": ("RGB", "RGBA")}


@st.composite
def encoded_images(draw) -> bytes:
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    width, height = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if mode == "F":
        pixels = rng.normal(0, draw(st.sampled_from([1.0, 1e30])), (height, width)).astype(np.float32)
        pixels[rng.random((height, width)) < draw(st.floats(0, 1))] = np.nan
        image = Image.fromarray(pixels, mode="F")
    else:
        image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):  # a mode this Pillow cannot write in that format: not our input to test
        assume(False)
    return buffer.getvalue()


@fuzz_settings(600)
@given(st.one_of(st.binary(max_size=2000), encoded_images(),
                 st.tuples(encoded_images(), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
                           st.floats(0.05, 1)).map(lambda t: _mutate(*t))))
def test_image_decoder_loads_or_refuses_any_bytes(data):
    def load():
        decoded = load_image(data, name="upload")
        assert decoded.pixels.shape == (DATASET_SIDE, DATASET_SIDE, 3) and decoded.pixels.dtype == np.uint8

    loads_or_refuses("image bytes", load)


def _mutate(data: bytes, flips, keep: float) -> bytes:
    damaged = bytearray(data)
    for where, value in flips:
        damaged[int(where * len(damaged))] = value
    return bytes(damaged[: max(1, int(keep * len(damaged)))])


# ----- checkpoint metadata -------------------------------------------------------------------------
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@pytest.fixture(scope="module")
def fuzz_checkpoint(tiny_checkpoints, tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("fuzz-ckpt") / "cnn"
    shutil.copytree(tiny_checkpoints / "cnn", copy)
    meta = json.loads((copy / "meta.json").read_text())
    meta.pop("weights_sha256")  # the weights stay valid; only the description is fuzzed
    (copy / "meta.json").write_text(json.dumps(meta))
    return copy


@fuzz_settings(150)
@given(choice=st.integers(0, 10**6), replacement=json_values, whole=st.one_of(st.none(), json_values, st.binary(max_size=64)))
def test_checkpoint_metadata_loads_or_refuses(fuzz_checkpoint, choice, replacement, whole):
    meta = json.loads((fuzz_checkpoint / "meta.json").read_text())
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "ckpt"
        folder.mkdir()
        shutil.copy(fuzz_checkpoint / "model.safetensors", folder / "model.safetensors")
        if isinstance(whole, bytes):
            (folder / "meta.json").write_bytes(whole)
        elif whole is not None:
            (folder / "meta.json").write_text(json.dumps(whole))
        else:
            paths = [p for p in _paths(meta) if p]
            path = paths[choice % len(paths)]
            parent = meta
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = replacement
            (folder / "meta.json").write_text(json.dumps(meta))

        def load():
            read_meta(folder)
            load_checkpoint(folder)

        loads_or_refuses("checkpoint meta.json", load)
