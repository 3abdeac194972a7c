"""FITS cutouts in (issue 30, item 4): the generator's own g, r, z bands written as the cutout service writes them give
the same 8-bit picture, and so the same probabilities, as the PNG the generator makes from those bands; band order from
the header; one plane as grey; an image extension; and bad files, each one sentence and exit 2."""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from conftest import run_cli
from galaxy_core.data.fits import write_fits
from galaxy_core.data.images import load_image
from galaxy_core.data.stretch import LEGACY_SURVEYS, AsinhStretch, grey_rgb, legacy_rgb
from galaxy_core.data.synthetic.observe import render_bands
from galaxy_core.errors import UserError


@pytest.fixture(scope="module")
def bands() -> np.ndarray:
    return render_bands(1, seed=0, index=3).bands  # a round smooth galaxy, (3, 256, 256) g, r, z


def fits_bytes(hdus) -> bytes:
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


def test_a_fits_cutout_gives_the_pixels_and_probabilities_of_the_png_made_from_the_same_bands(bands, tmp_path, tiny_checkpoints):
    from galaxy_core.inference.predictor import Predictor

    write_fits(tmp_path / "galaxy.fits", bands)
    Image.fromarray(legacy_rgb(bands)).save(tmp_path / "galaxy.png")
    from_fits, from_png = load_image(tmp_path / "galaxy.fits"), load_image(tmp_path / "galaxy.png")
    np.testing.assert_array_equal(from_fits.pixels, from_png.pixels)
    assert from_fits.original_mode == "FITS grz" and any("bands g, r, z from the header" in n for n in from_fits.notes)
    predictor = Predictor([tiny_checkpoints / "cnn"])
    assert predictor.predict(from_fits.pixels[None])[0]["probabilities"] == predictor.predict(from_png.pixels[None])[0]["probabilities"]
    done = run_cli("predict", "--checkpoint", tiny_checkpoints / "cnn", tmp_path / "galaxy.fits", tmp_path / "galaxy.png", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["predictions"]
    assert rows[0]["probabilities"] == rows[1]["probabilities"] and "FITS" in rows[0]["notes"][0]


def test_band_order_comes_from_the_header_and_a_stretch_can_be_chosen(bands, tmp_path):
    write_fits(tmp_path / "zrg.fits", bands[::-1], bands="zrg")
    np.testing.assert_array_equal(load_image(tmp_path / "zrg.fits").pixels, legacy_rgb(bands))
    unnamed = fits_bytes([fits.PrimaryHDU(np.ascontiguousarray(bands[:, ::-1]))])
    decoded = load_image(unnamed, name="unnamed.fits")
    np.testing.assert_array_equal(decoded.pixels, legacy_rgb(bands))
    assert any("planes taken as g, r, z" in n for n in decoded.notes)
    softer = AsinhStretch(q=8.0)
    np.testing.assert_array_equal(load_image(tmp_path / "zrg.fits", stretch=softer).pixels, legacy_rgb(bands, softer))
    assert not np.array_equal(legacy_rgb(bands, softer), legacy_rgb(bands, LEGACY_SURVEYS))
    write_fits(tmp_path / "gri.fits", bands, bands="gri")
    with pytest.raises(UserError, match="names the bands g, r, i; the models know g, r and z only"):
        load_image(tmp_path / "gri.fits")


def test_one_plane_is_grey_and_an_image_extension_is_found(bands):
    r = np.ascontiguousarray(bands[1, ::-1])
    grey = load_image(fits_bytes([fits.PrimaryHDU(r)]), name="r.fits")
    np.testing.assert_array_equal(grey.pixels, grey_rgb(bands[1]))
    assert grey.original_mode == "FITS grey" and any("grey" in n for n in grey.notes)
    extension = load_image(fits_bytes([fits.PrimaryHDU(), fits.ImageHDU(np.ascontiguousarray(bands[:, ::-1]))]), name="ext.fits")
    np.testing.assert_array_equal(extension.pixels, legacy_rgb(bands))
    assert "extension 1" in extension.notes[0]
    with_nan = np.ascontiguousarray(bands[:, ::-1]).copy()
    with_nan[:, :10] = np.nan
    assert any("NaN" in n for n in load_image(fits_bytes([fits.PrimaryHDU(with_nan)]), name="edge.fits").notes)


def declared_huge() -> bytes:
    header = fits.Header({"SIMPLE": True, "BITPIX": -32, "NAXIS": 3, "NAXIS1": 31623, "NAXIS2": 31623, "NAXIS3": 1})
    return header.tostring().encode() + b"\0" * 2880  # 10^9 pixels declared, a few bytes given


def bad_files(bands) -> dict[str, tuple[bytes, str]]:
    whole = fits_bytes([fits.PrimaryHDU(np.ascontiguousarray(bands))])
    return {
        "truncated.fits": (whole[: len(whole) // 2], "is cut short"),
        "nothing.fits": (fits_bytes([fits.PrimaryHDU()]), "holds no image data"),
        "line.fits": (fits_bytes([fits.PrimaryHDU(np.zeros(100, np.float32))]), "has an image of shape 100"),
        "four.fits": (fits_bytes([fits.PrimaryHDU(np.zeros((2, 3, 16, 16), np.float32))]), "has an image of shape 2x3x16x16"),
        "two-planes.fits": (fits_bytes([fits.PrimaryHDU(np.zeros((2, 16, 16), np.float32))]), r"3 planes \(g, r, z\) or one"),
        "nan.fits": (fits_bytes([fits.PrimaryHDU(np.full((3, 16, 16), np.nan, np.float32))]), "no finite pixel values"),
        "huge.fits": (declared_huge(), "at most 3000x3000 are accepted"),
        "table.fits": (fits_bytes([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("ra", "E", array=np.zeros(3))])]),
                       "holds a table, not an image"),
        "garbage.fits": (b"SIMPLE  =   this is not a header" + b"x" * 5000, "not a FITS file astropy can read"),
    }


def test_bad_fits_files_get_one_sentence(bands, tmp_path, tiny_checkpoints):
    import tracemalloc

    for name, (data, message) in bad_files(bands).items():
        tracemalloc.start()
        with pytest.raises(UserError, match=message):
            load_image(data, name=name)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 50 * 2**20, f"{name}: {peak / 2**20:.0f} MB to refuse it"
    (tmp_path / "huge.fits").write_bytes(declared_huge())
    done = run_cli("predict", "--checkpoint", tiny_checkpoints / "cnn", tmp_path / "huge.fits")
    assert done.returncode == 2 and done.stderr.startswith("error: huge.fits declares 31623x31623") and done.stderr.count("\n") == 1


def test_the_api_and_the_folder_evaluation_take_fits(bands, tmp_path, tiny_checkpoints):
    from fastapi.testclient import TestClient

    from galaxy_core.service.app import ServiceSettings, create_app

    write_fits(tmp_path / "galaxy.fits", bands)
    Image.fromarray(legacy_rgb(bands)).save(tmp_path / "galaxy.png")
    api = TestClient(create_app(ServiceSettings(checkpoints=str(tiny_checkpoints), device="cpu")), raise_server_exceptions=False)
    answer = api.post("/predict", params={"model": "cnn"}, files=[("file", ("galaxy.fits", (tmp_path / "galaxy.fits").read_bytes(),
                                                                            "application/fits"))])
    assert answer.status_code == 200, answer.text
    assert "FITS" in answer.json()["predictions"][0]["notes"][0]
    bad = api.post("/predict", params={"model": "cnn"}, files=[("file", ("huge.fits", declared_huge(), "application/fits"))])
    assert bad.status_code == 400 and "at most 3000x3000" in bad.json()["error"]
    (tmp_path / "labels.csv").write_text("file,label\ngalaxy.fits,1\ngalaxy.png,1\n")
    shutil.copytree(tiny_checkpoints / "cnn", tmp_path / "model")  # the evaluation writes its CSV beside the checkpoint
    done = run_cli("evaluate", "--checkpoint", tmp_path / "model", "--images", tmp_path, "--labels", tmp_path / "labels.csv", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["metrics"]["count"] == 2
