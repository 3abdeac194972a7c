import io

import numpy as np
import pytest
from PIL import Image

from conftest import real_image_files
from galaxy_core.data import images as image_io
from galaxy_core.data.images import load_image
from galaxy_core.errors import UserError


def encode(array_or_image, fmt="PNG", **kwargs) -> bytes:
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.skipif(not real_image_files(), reason="../shared/galaxy10_real is not present")
def test_real_galaxy10_jpegs_decode_to_dataset_geometry():
    for path in real_image_files()[:10]:
        decoded = load_image(path)
        assert decoded.pixels.shape == (256, 256, 3) and decoded.pixels.dtype == np.uint8
        assert decoded.notes == []  # already 256x256 RGB: nothing converted


def test_greyscale_rgba_palette_16bit_and_float_are_converted_with_notes():
    rng = np.random.default_rng(0)
    grey = load_image(encode(rng.integers(0, 255, (64, 64), dtype=np.uint8)))
    assert grey.pixels.shape == (256, 256, 3) and any("Greyscale" in n for n in grey.notes)
    assert np.array_equal(grey.pixels[..., 0], grey.pixels[..., 2])

    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:16, :, 3] = 255  # top half opaque red, bottom transparent
    out = load_image(encode(rgba))
    assert any("Transparent" in n for n in out.notes)
    assert out.pixels[10, 128, 0] > 150 and out.pixels[245, 128, 0] < 10

    sixteen = Image.fromarray((np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16))
    out = load_image(encode(sixteen))
    assert any("16-bit" in n for n in out.notes) and out.pixels.max() >= 250

    palette = Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).convert("P")
    assert load_image(encode(palette)).pixels.shape == (256, 256, 3)

    tiff = Image.fromarray(rng.normal(0, 1, (50, 50)).astype(np.float32), mode="F")
    assert any("float" in n for n in load_image(encode(tiff, "TIFF")).notes)


def test_non_square_is_centre_cropped():
    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 100:200] = 255  # the central square is white
    out = load_image(encode(wide))
    assert out.pixels.mean() > 250 and any("Cropped" in n for n in out.notes)
    assert out.original_size == (300, 100)


@pytest.mark.parametrize("payload, message", [
    (b"", "is empty"),
    (b"this is a text file, not an image", "is not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not an image|damaged"),
])
def test_non_images_are_refused(payload, message):
    with pytest.raises(UserError, match=message):
        load_image(payload, name="upload.png")


def test_truncated_jpeg_is_refused():
    data = encode(np.random.default_rng(1).integers(0, 255, (256, 256, 3), dtype=np.uint8), "JPEG")
    with pytest.raises(UserError, match="damaged"):
        load_image(data[: len(data) // 2], name="half.jpg")


def test_enormous_images_are_refused_before_decoding(monkeypatch):
    big = encode(Image.new("L", (3000, 2000)))  # compresses to a few kB
    monkeypatch.setattr(image_io, "MAX_PIXELS", 5_000_000)
    with pytest.raises(UserError, match="megapixels"):
        load_image(big, name="huge.png")
    monkeypatch.setattr(image_io, "MAX_BYTES", 1000)
    with pytest.raises(UserError, match="larger than"):
        load_image(encode(np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8)), name="big.png")


def test_tiny_images_and_missing_paths_are_refused(tmp_path):
    with pytest.raises(UserError, match="at least"):
        load_image(encode(np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(UserError, match="is not a file"):
        load_image(tmp_path / "nothing.png")


def test_a_point_on_the_cutout_goes_back_to_the_uploaded_pixels():
    from galaxy_core.data.images import to_original_pixels

    assert to_original_pixels(127.5, 127.5, (300, 200)) == (150, 100)  # the centre stays the centre
    assert to_original_pixels(0, 0, (300, 200)) == (50, 0)  # the central 200x200 square of a 300x200 image
    assert to_original_pixels(255, 255, (300, 200)) == (249, 199)
    assert to_original_pixels(10, 20, (256, 256)) == (10, 20)
