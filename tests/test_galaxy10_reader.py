import os
import pickle

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hostile_files import damage_chunk
from conftest import run_cli, write_galaxy10
from galaxy_core.data.dataset import Galaxy10Dataset
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.galaxy10_writer import repack
from galaxy_core.errors import DataFileError


def copy_galaxy10(path, out, image_layout: dict | None):
    """`path` copied to `out`, its images stored with the h5py options `image_layout` (None: not copied, for the caller to write)."""
    with h5py.File(path) as src, h5py.File(out, "w") as dst:
        for key in src:
            if key != "images":
                dst.create_dataset(key, data=src[key][()])
            elif image_layout is not None:
                dst.create_dataset(key, data=src[key][()], **image_layout)
    return out


def test_reads_labels_metadata_and_pixels(tiny_h5):
    data = Galaxy10(tiny_h5)
    assert len(data) == 30
    assert data.image_shape == (256, 256, 3)
    assert data.labels.dtype == np.int64 and set(data.labels) == set(range(10))
    assert set(data.metadata) == {"ra", "dec", "redshift", "pxscale"}
    with h5py.File(tiny_h5) as f:
        np.testing.assert_array_equal(data.image(7), f["images"][7])
        np.testing.assert_array_equal(data.images([9, 2, 9]), f["images"][[2, 9]][[1, 0, 1]])
    assert data.is_synthetic


def test_index_out_of_range_is_a_user_error(tiny_h5):
    with pytest.raises(DataFileError, match="outside this file's 30 images"):
        Galaxy10(tiny_h5).image(30)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"ans": None}, "dataset 'ans' is missing"),
        ({"images": np.zeros((6, 16, 16), np.uint8)}, "images of shape"),
        ({"images": np.zeros((6, 16, 16, 4), np.uint8)}, "images of shape"),
        ({"images": np.zeros((6, 16, 16, 3), np.float32)}, "stores images as float32"),
        ({"ans": np.array([0, 1, 2, 3, 4, 12], np.uint8)}, "labels outside 0-9 .*12 at index 5"),
        ({"ans": np.array([0, 1, -1, 3, 4, 5], np.int16)}, "labels outside 0-9"),
        ({"ans": np.zeros(6, np.float32)}, "must hold integers"),
        ({"ra": np.zeros(5)}, "has 6 images but 'ra' has shape"),
        ({"pxscale": np.array(["a"] * 6, dtype="S1")}, "must hold numbers"),
        ({"images": np.zeros((0, 16, 16, 3), np.uint8), "ans": np.zeros(0, np.uint8), "ra": np.zeros(0),
          "dec": np.zeros(0), "redshift": np.zeros(0), "pxscale": np.zeros(0)}, "holds no images"),
    ],
)
def test_schema_problems_are_named(tmp_path, overrides, message):
    path = write_galaxy10(tmp_path / "bad.h5", **overrides)
    with pytest.raises(DataFileError, match=message):
        Galaxy10(path)


def test_not_hdf5_empty_missing_and_folder(tmp_path):
    (tmp_path / "text.h5").write_text("hello, I am not HDF5\n")
    (tmp_path / "empty.h5").write_bytes(b"")
    for path, message in [
        (tmp_path / "text.h5", "is not an HDF5 file"),
        (tmp_path / "empty.h5", "is empty"),
        (tmp_path / "nope.h5", "does not exist"),
        (tmp_path, "is a folder"),
    ]:
        with pytest.raises(DataFileError, match=message):
            Galaxy10(path)


def test_truncated_file_is_refused(tiny_h5, tmp_path):
    data = tiny_h5.read_bytes()
    for keep in (len(data) // 2, len(data) - 1000):
        cut = tmp_path / f"cut{keep}.h5"
        cut.write_bytes(data[:keep])
        with pytest.raises(DataFileError, match="truncated|corrupt"):
            Galaxy10(cut)


def test_corrupt_compressed_chunk_is_refused(tiny_h5, tmp_path):
    broken = damage_chunk(tiny_h5, tmp_path / "broken.h5", 29)  # the last image, which the open check decodes
    with pytest.raises(DataFileError, match="corrupt"):
        Galaxy10(broken)


@pytest.mark.parametrize("layout", [
    {},  # contiguous, uncompressed
    {"chunks": (4, 16, 16, 3), "compression": "gzip"},
    {"chunks": (5, 4, 8, 1), "compression": "lzf"},  # chunks that cut across images and channels
    {"chunks": True, "compression": "gzip", "shuffle": True},  # h5py's automatic chunking
    {"chunks": (1, 16, 16, 3), "compression": "gzip"},  # one chunk per image: read raw and inflated by us
    {"chunks": (1, 16, 16, 3), "compression": "gzip", "shuffle": True},  # one per image, but shuffled: HDF5 reads it
])
def test_any_layout_reads_the_same_pixels(tmp_path, layout):
    path = write_galaxy10(tmp_path / "plain.h5", n=12)
    with h5py.File(path) as f:
        expected = f["images"][()]
    data = Galaxy10(copy_galaxy10(path, tmp_path / "other.h5", layout))
    np.testing.assert_array_equal(data.images(range(12)[::-1]), expected[::-1])
    assert data.info()["random_access"].startswith(("fast", "slow"))


def test_direct_chunk_reads_handle_unfiltered_chunks_and_unwritten_ones_are_refused(tmp_path):
    path = write_galaxy10(tmp_path / "plain.h5", n=6)
    with h5py.File(path) as f:
        expected = f["images"][()]
    mixed = copy_galaxy10(path, tmp_path / "mixed.h5", image_layout=None)
    with h5py.File(mixed, "r+") as dst:
        images = dst.create_dataset("images", shape=expected.shape, dtype=np.uint8, chunks=(1, 16, 16, 3), compression="gzip")
        for i in (0, 1, 2, 5):
            images[i] = expected[i]
        # Image 3: HDF5 stored it without deflate (filter mask bit 0 set), as it may for incompressible chunks.
        images.id.write_direct_chunk((3, 0, 0, 0), expected[3].tobytes(), filter_mask=1)
        # Image 4 is never written: HDF5 would read it as zeros, so the file is refused until it is.
    with pytest.raises(DataFileError, match="incomplete \\(1 of its 6 image chunks were never written"):
        Galaxy10(mixed)
    with h5py.File(mixed, "r+") as dst:
        dst["images"][4] = expected[4]
    data = Galaxy10(mixed)
    assert data._direct_chunks
    np.testing.assert_array_equal(data.image(3), expected[3])
    np.testing.assert_array_equal(data.image(4), expected[4])
    np.testing.assert_array_equal(data.images([5, 0, 1, 2]), expected[[5, 0, 1, 2]])
    assert data.image(0).flags.writeable


def test_damaged_chunk_in_the_middle_is_named_when_read(tiny_h5, tmp_path):
    broken = damage_chunk(tiny_h5, tmp_path / "broken.h5", 12)
    data = Galaxy10(broken)  # the open check reads only the first and last image
    with pytest.raises(DataFileError, match="corrupt \\(image 12 cannot be decoded\\)"):
        data.image(12)


def test_repack_gives_one_chunk_per_image_and_same_content(tmp_path):
    path = write_galaxy10(tmp_path / "auto.h5", n=12)
    slow = copy_galaxy10(path, tmp_path / "slow.h5", {"chunks": (12, 2, 2, 1), "compression": "gzip"})
    assert Galaxy10(slow).layout.random_access_is_slow
    out = repack(slow, tmp_path / "fast.h5")
    fast = Galaxy10(out)
    assert fast.layout.chunks == (1, 16, 16, 3) and not fast.layout.random_access_is_slow
    np.testing.assert_array_equal(fast.images(range(12)), Galaxy10(slow).images(range(12)))
    np.testing.assert_array_equal(fast.labels, Galaxy10(slow).labels)
    assert fast.fingerprint() == Galaxy10(slow).fingerprint()


def test_pickles_without_its_handle_and_reopens(tiny_h5):
    data = Galaxy10(tiny_h5)
    data.image(0)
    clone = pickle.loads(pickle.dumps(data))
    assert clone._handle is None
    np.testing.assert_array_equal(clone.image(3), data.image(3))


def test_dataloader_workers_each_open_the_file(tiny_h5):
    dataset = Galaxy10Dataset(Galaxy10(tiny_h5), np.arange(30))
    loader = DataLoader(dataset, batch_size=8, num_workers=2, multiprocessing_context="spawn")
    batches = list(loader)  # one pass: each pass spawns its workers afresh (seconds each on two cores)
    seen = torch.cat([labels for _, labels in batches])
    images = torch.cat([batch for batch, _ in batches])
    assert images.shape == (30, 256, 256, 3) and images.dtype == torch.uint8
    np.testing.assert_array_equal(seen.numpy(), Galaxy10(tiny_h5).labels)


def test_fingerprint_is_stable_and_content_sensitive(tmp_path):
    a = Galaxy10(write_galaxy10(tmp_path / "a.h5")).fingerprint()
    assert a == Galaxy10(write_galaxy10(tmp_path / "b.h5")).fingerprint()
    assert a != Galaxy10(write_galaxy10(tmp_path / "c.h5", ans=np.array([1, 1, 2, 3, 4, 5], np.uint8))).fingerprint()


def test_cli_info_prints_json_and_bad_files_exit_2(tiny_h5, tmp_path):
    run = run_cli
    ok = run("info", str(tiny_h5))
    assert ok.returncode == 0, ok.stderr
    import json

    info = json.loads(ok.stdout)
    assert info["count"] == 30 and info["synthetic"] is True and info["image_shape"] == [256, 256, 3]
    assert info["dtype"] == "uint8" and sum(info["class_counts"].values()) == 30
    (tmp_path / "junk.h5").write_bytes(os.urandom(4096))
    for args in (["info", str(tmp_path / "junk.h5")], ["info", str(tmp_path / "missing.h5")], ["info", "--bogus"]):
        bad = run(*args)
        assert bad.returncode == 2
        assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


def test_the_open_dataset_is_kept_between_reads(tiny_h5):
    """HDF5's chunk cache lives in the open dataset: reopening it per read would empty the cache."""
    data = Galaxy10(tiny_h5)
    data.image(0)
    first = data._images()
    data.image(1)
    assert data._images() is first
    data.close()
    assert data._images() is not first and data.image(2).shape == (256, 256, 3)



def test_threads_sharing_one_file_all_read_while_it_opens(tiny_h5, monkeypatch):
    """The dashboard shares one Galaxy10 between sessions: a reader arriving while another opens the
    handle must not read a half-opened one (this failed as "'NoneType' object has no attribute 'id'")."""
    import threading
    import time

    import galaxy_core.data.galaxy10 as reader

    class SlowFile(h5py.File):  # widens the moment between opening the file and its images dataset
        def __getitem__(self, key):
            time.sleep(0.2)
            return super().__getitem__(key)

    data = Galaxy10(tiny_h5)
    monkeypatch.setattr(reader.h5py, "File", SlowFile)
    results, errors = {}, []

    def read(k):
        try:
            results[k] = data.image(k)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(repr(exc))

    threads = [threading.Thread(target=read, args=(k,)) for k in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    monkeypatch.undo()
    assert not errors, errors
    assert all(np.array_equal(results[k], Galaxy10(tiny_h5).image(k)) for k in range(4))

def test_a_synthetic_files_fingerprint_ignores_the_last_bits_of_its_coordinates(tmp_path):
    """Another machine's numpy computes the generator's coordinates a few ulps apart: still the same file."""
    import h5py

    def synthetic(path, ra):
        written = write_galaxy10(path, ra=ra)
        with h5py.File(written, "a") as f:
            f.attrs.update({"synthetic": True, "generator": "galaxy_core.synthetic", "generator_version": 2, "seed": 0, "balance": "real"})
        return Galaxy10(written).fingerprint()

    ra = np.random.default_rng(0).uniform(0, 360, 6)
    assert synthetic(tmp_path / "a.h5", ra) == synthetic(tmp_path / "b.h5", np.nextafter(ra, 400))
    assert Galaxy10(write_galaxy10(tmp_path / "c.h5", ra=ra)).fingerprint() != Galaxy10(write_galaxy10(tmp_path / "d.h5", ra=ra + 1)).fingerprint()
