import json

import h5py
import numpy as np
import pytest
from scipy import ndimage

from conftest import REPO, run_cli
from galaxy_core.classes import REAL_COUNTS
from galaxy_core.data import synthetic
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.errors import UserError


def test_file_has_the_real_schema_and_synthetic_attributes(tiny_h5):
    with h5py.File(tiny_h5) as f:
        assert set(f.keys()) == {"images", "ans", "ra", "dec", "redshift", "pxscale"}
        assert f["images"].shape == (30, 256, 256, 3) and f["images"].dtype == np.uint8
        assert f["images"].compression == "gzip"
        assert f["ans"].dtype == np.uint8 and f["ans"].shape == (30,)
        for key in ("ra", "dec", "redshift", "pxscale"):
            assert f[key].dtype == np.float64 and f[key].shape == (30,)
        assert f.attrs["synthetic"] and f.attrs["generator_version"] == synthetic.GENERATOR_VERSION
        assert f.attrs["seed"] == 3 and "completed" in f.attrs
        assert np.all((f["dec"][()] > -21) & (f["dec"][()] < 36)) and np.all(f["pxscale"][()] > 0.2)


def test_class_counts_follow_the_real_balance():
    counts = synthetic.class_counts(17736)
    np.testing.assert_array_equal(counts, REAL_COUNTS)
    small = synthetic.class_counts(1000)
    assert small.sum() == 1000 and np.all(np.abs(small - np.array(REAL_COUNTS) / 17.736) <= 1.5)
    assert np.all(synthetic.class_counts(10) == 1) and synthetic.class_counts(7).sum() == 7
    assert np.all(synthetic.class_counts(100, "uniform") == 10)
    with pytest.raises(UserError):
        synthetic.class_counts(10, "weird")


def test_deterministic_for_a_seed_and_different_across_seeds():
    a = synthetic.render_image(5, seed=1, index=4)
    np.testing.assert_array_equal(a, synthetic.render_image(5, seed=1, index=4))
    assert not np.array_equal(a, synthetic.render_image(5, seed=2, index=4))
    assert not np.array_equal(a, synthetic.render_image(5, seed=1, index=5))
    assert not np.array_equal(a, synthetic.render_image(5, seed=1, index=4, version=5))


def _block_means(image: np.ndarray) -> np.ndarray:
    """Mean of each 32 x 32 block per channel: what a generator version draws, blind to JPEG encoders' last bits."""
    return image.reshape(8, 32, 8, 32, 3).mean(axis=(1, 3))


def write_generator_reference():
    """Run once when a version is added (never to make a changed version pass): python3 -c "import sys;
    sys.path[:0] = ['tests', '.']; import test_synthetic as t; t.write_generator_reference()"."""
    reference = {str(v): [np.round(_block_means(synthetic.render_image(label, seed=0, index=label, version=v)), 2).tolist()
                          for label in range(10)] for v in synthetic.GENERATOR_VERSIONS}
    GENERATOR_REFERENCE.write_text(json.dumps(reference, separators=(",", ":")) + "\n")


GENERATOR_REFERENCE = REPO / "tests" / "generator_reference.json"


@pytest.mark.parametrize("version", synthetic.GENERATOR_VERSIONS)
def test_every_generator_version_still_draws_what_it_drew(version):
    """v2 made the shipped checkpoints' training file, and docs/benchmarks.md measures files of v5 and v6: a change to
    the shared renderer must not move any of them (one image per class, compared as block means)."""
    reference = json.loads(GENERATOR_REFERENCE.read_text())[str(version)]
    for label in range(10):
        now = _block_means(synthetic.render_image(label, seed=0, index=label, version=version))
        assert np.abs(now - np.array(reference[label])).max() < 0.75, f"class {label} of v{version} changed"


def test_same_file_whatever_the_worker_count(tmp_path):
    one = synthetic.generate(tmp_path / "one.h5", 40, seed=9, workers=1)
    two = synthetic.generate(tmp_path / "two.h5", 40, seed=9, workers=2)
    np.testing.assert_array_equal(Galaxy10(one).images(range(40)), Galaxy10(two).images(range(40)))
    np.testing.assert_array_equal(Galaxy10(one).labels, Galaxy10(two).labels)


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    out = tmp_path / "resumed.h5"

    def stop_after_first_block(done, total):
        if done >= synthetic.BLOCK:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthetic.generate(out, 70, seed=4, workers=1, progress=stop_after_first_block)
    assert not out.exists(), "a partial file must never have the final name"
    partial = synthetic.partial_path(out)
    with h5py.File(partial) as f:
        assert f.attrs["completed"] == synthetic.BLOCK
    starts = []
    synthetic.generate(out, 70, seed=4, workers=1, progress=lambda done, total: starts.append(done))
    assert starts[0] == synthetic.BLOCK, "the second run should continue, not start again"
    assert not partial.exists()
    straight = synthetic.generate(tmp_path / "straight.h5", 70, seed=4, workers=1)
    np.testing.assert_array_equal(Galaxy10(out).images(range(70)), Galaxy10(straight).images(range(70)))


def test_a_partial_with_other_parameters_is_not_resumed(tmp_path):
    out = tmp_path / "x.h5"
    with pytest.raises(KeyboardInterrupt):
        synthetic.generate(out, 70, seed=4, workers=1, progress=lambda d, t: (_ for _ in ()).throw(KeyboardInterrupt) if d else None)
    starts = []
    synthetic.generate(out, 70, seed=5, workers=1, progress=lambda done, total: starts.append(done))
    assert starts[0] == 0 and Galaxy10(out).attrs["seed"] == 5


@pytest.mark.parametrize("version", synthetic.GENERATOR_VERSIONS)
def test_classes_look_different_in_the_expected_ways(version):
    """Cheap physical checks: spiral disks are bluer than smooth galaxies, edge-ons elongated."""
    y, x = np.indices((256, 256)) - 127.5
    disk_zone = (np.hypot(x, y) >= 15) & (np.hypot(x, y) < 40)

    def blue_minus_red(label, k):
        # 15-40 px from the centre, where a spiral's disk and arms are: in the real check set loose spirals are
        # bluer there than round smooth galaxies (their centres are not: spiral bulges are as red as ellipticals).
        ring = synthetic.render_image(label, seed=11, index=k, version=version).astype(float)[disk_zone]
        return ring[:, 2].mean() - ring[:, 0].mean()

    bluer = {label: np.mean([blue_minus_red(label, k) for k in range(6)]) for label in (2, 7)}
    assert bluer[7] > bluer[2] + 5, "loose spirals' disks should be bluer than round smooth galaxies"

    def elongation(label, k):
        img = synthetic.render_image(label, seed=11, index=k, version=version).astype(float).sum(axis=2)
        centre = img[64:192, 64:192]
        # the bright region around the centre only: a bright field star elsewhere is not the galaxy's shape
        regions, _ = ndimage.label(centre > np.percentile(centre, 97))
        ys, xs = np.nonzero(regions == regions[64, 64])
        eig = np.linalg.eigvalsh(np.cov(np.stack([xs, ys])))
        return np.sqrt(eig[1] / max(eig[0], 1e-6))

    assert np.median([elongation(8, k) for k in range(6)]) > 2 * np.median([elongation(2, k) for k in range(6)])


def test_cli_synth_writes_a_file_and_reports_it(tmp_path):
    out = tmp_path / "cli.h5"
    done = run_cli("synth", "--out", out, "--n", "12", "--seed", "1", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["count"] == 12 and out.exists()
    bad = run_cli("synth", "--out", out, "--n", "0")
    assert bad.returncode == 2 and bad.stderr.startswith("error: argument --n: 0 is outside 1 to 2,000,000")


def test_cli_synth_writes_the_generator_version_asked_for(tmp_path):
    def synth(*flags):
        return run_cli("synth", "--n", "3", "--workers", "1", *flags)

    done = synth("--out", str(tmp_path / "v5.h5"), "--generator-version", "5")
    assert done.returncode == 0, done.stderr
    written = Galaxy10(tmp_path / "v5.h5")
    assert written.attrs["generator_version"] == 5
    np.testing.assert_array_equal(written.image(0), synthetic.render_image(int(written.labels[0]), seed=0, index=0, version=5))
    unknown = synth("--out", str(tmp_path / "v3.h5"), "--generator-version", "3")
    versions = ", ".join(map(str, synthetic.GENERATOR_VERSIONS))
    assert unknown.returncode == 2 and unknown.stderr.strip() == f"error: There is no synthetic generator version 3: use one of {versions}."
    assert not (tmp_path / "v3.h5").exists() and not synthetic.partial_path(tmp_path / "v3.h5").exists()
    default = synth("--default", "--generator-version", "5")
    assert default.returncode == 2 and "--out FILE" in default.stderr
