"""The benchmarks' own logic that other work relies on: the domain-gap statistics and mixing generator versions."""
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from galaxy_core.errors import UserError


def benchmark(name: str):
    """A module of benchmarks/ (not a package): the tests share its code rather than copy it."""
    import importlib

    sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module(name)


def test_domain_gap_statistics_see_jpeg_blocks_and_mark_only_differences_beyond_chance():
    import io

    gap = benchmark("domain_gap")
    rng = np.random.default_rng(0)
    sky = np.clip(rng.normal(40, 8, (256, 256, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(sky).save(buffer, format="JPEG", quality=30)
    compressed = np.asarray(Image.open(buffer).convert("RGB"))
    blockiness = gap.STATISTICS.index("blockiness")
    assert abs(gap.image_statistics(sky)[blockiness] - 1) < 0.05 and gap.image_statistics(compressed)[blockiness] > 1.1
    real, synthetic = rng.normal(0, 1, (6, 3)), rng.normal(0, 1, (60, 3))
    synthetic[:, 1] += 5  # one statistic clearly off; the other two drawn alike
    p_values = gap.welch_p(real, synthetic)
    assert (p_values < 0.05).tolist() == [False, True, False]
    # 100 statistics that match give evenly spread p-values: 5 below 0.05, none beyond chance.
    matching = (np.arange(100) + 0.5) / 100
    assert (matching < 0.05).sum() == 5 and not gap.beyond_chance(matching).any()
    assert gap.beyond_chance(np.r_[p_values, matching])[1], "a real difference stays one among many tests"
    galaxy = np.clip(250 * np.exp(-np.hypot(*(np.indices((256, 256)) - 127.5)) / 10), 0, 255)[..., None].repeat(3, axis=2)
    profile = gap.radial_profile(galaxy)
    assert np.all(np.diff(profile) < 0) and profile[0] > 200 and profile[-1] < 5
    assert np.allclose(gap.radial_profile(np.full((256, 256, 3), 40)), 40)
    # structure: crisp two-armed spiral light 10-40 px out counts; the same galaxy blurred, or without arms, counts less
    y, x = np.indices((256, 256)) - 127.5
    radius, angle = np.hypot(x, y), np.arctan2(y, x)
    disk = 200 * np.exp(-radius / 15)
    arms = disk * (0.5 + 0.5 * np.cos(2 * angle - 2 * np.log(radius + 1) / np.tan(np.radians(15)))) ** 4
    structure = gap.STATISTICS.index("structure")

    def structure_of(lum):
        return gap.image_statistics(np.clip(lum + 30, 0, 255)[..., None].repeat(3, axis=2))[structure]

    from scipy import ndimage
    crisp, blurred, smooth = structure_of(disk + arms), structure_of(ndimage.gaussian_filter(disk + arms, 3)), structure_of(disk)
    assert crisp > 1.5 * blurred and crisp > 3 * smooth


def test_mixing_generator_versions_takes_every_other_galaxy_from_each_file(tiny_h5, tmp_path):
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.synthetic import generate

    v6 = generate(tmp_path / "v6.h5", 30, seed=3, workers=1, version=6)
    mixed = Galaxy10(benchmark("mix_generators").mix([tiny_h5, v6], tmp_path / "mixed.h5"))
    sources = [Galaxy10(tiny_h5), Galaxy10(v6)]
    assert len(mixed) == 30 and mixed.is_synthetic and mixed.attrs["generator_version"] == "2+6"
    for i in (0, 1, 28, 29):
        np.testing.assert_array_equal(mixed.image(i), sources[i % 2].image(i))
        assert mixed.labels[i] == sources[i % 2].labels[i]
    assert not (tmp_path / "mixed.h5.partial").exists()
    with pytest.raises(UserError, match="same size"):
        benchmark("mix_generators").mix([tiny_h5, generate(tmp_path / "small.h5", 12, seed=3, workers=1)], tmp_path / "bad.h5")
