import numpy as np
import pytest
import torch

from galaxy_core.data import prepared
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.prepared import input_batches, prepared_path
from galaxy_core.data.transforms import Preprocessing, resized

INDICES = np.array([7, 3, 21, 3, 0, 29, 12])
SPEC = Preprocessing(input_size=24, resize=32)  # resize then crop: the cache holds the 32 px images


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GALAXY_CORE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def expected_batches(data):
    return resized(torch.from_numpy(data.images(INDICES)), SPEC).permute(0, 2, 3, 1)


def all_batches(data, **options):
    return torch.cat(list(input_batches(data, INDICES, SPEC, batch_size=3, **options)))


def files_in(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_first_pass_writes_the_cache_and_later_passes_read_it(tiny_h5, cache, monkeypatch):
    data = Galaxy10(tiny_h5)
    first = all_batches(data)
    assert first.dtype == torch.uint8 and first.shape == (7, 32, 32, 3)
    torch.testing.assert_close(first, expected_batches(data), rtol=0, atol=0)
    path = prepared_path(data, INDICES, 32)
    assert files_in(cache) == [path.name]

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cached pass must not decode the file")

    monkeypatch.setattr(Galaxy10, "image", no_decoding)
    torch.testing.assert_close(all_batches(data), first, rtol=0, atol=0)


def test_key_follows_images_side_and_file(tiny_h5, tmp_path):
    data = Galaxy10(tiny_h5)
    path = prepared_path(data, INDICES, 32)
    assert prepared_path(data, INDICES[::-1], 32) != path
    assert prepared_path(data, INDICES, 64) != path
    copy = tmp_path / "copy.h5"
    copy.write_bytes(tiny_h5.read_bytes())
    other = Galaxy10(copy)
    assert other.fingerprint() == data.fingerprint()
    assert prepared_path(other, INDICES, 32) != path  # a re-downloaded file is a new file


def test_no_cache_option_writes_nothing(tiny_h5, cache):
    all_batches(Galaxy10(tiny_h5), cache=False)
    assert not cache.exists() or files_in(cache) == []


def test_stopping_early_leaves_nothing_behind(tiny_h5, cache):
    batches = input_batches(Galaxy10(tiny_h5), INDICES, SPEC, batch_size=3)
    next(batches)
    batches.close()
    assert files_in(cache) == []


def test_damaged_cache_file_is_rebuilt(tiny_h5, cache):
    data = Galaxy10(tiny_h5)
    first = all_batches(data)
    path = prepared_path(data, INDICES, 32)
    path.write_bytes(path.read_bytes()[:200])
    torch.testing.assert_close(all_batches(data), first, rtol=0, atol=0)
    assert path.stat().st_size > 7 * 32 * 32 * 3


def test_unwritable_cache_folder_still_gives_every_batch(tiny_h5, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GALAXY_CORE_CACHE", str(blocker))
    data = Galaxy10(tiny_h5)
    torch.testing.assert_close(all_batches(data), expected_batches(data), rtol=0, atol=0)


def test_disk_full_midway_still_gives_every_batch_and_no_partial_file(tiny_h5, cache, monkeypatch, caplog):
    writes = {"n": 0}
    real_append = prepared._PreparedWriter.append

    def append_until_full(self, batch):
        writes["n"] += 1
        if writes["n"] == 2:
            self.out.write = lambda data: (_ for _ in ()).throw(OSError(28, "No space left on device"))
        return real_append(self, batch)

    monkeypatch.setattr(prepared._PreparedWriter, "append", append_until_full)
    data = Galaxy10(tiny_h5)
    torch.testing.assert_close(all_batches(data), expected_batches(data), rtol=0, atol=0)
    assert files_in(cache) == []
    assert "No space left on device" in caplog.text
