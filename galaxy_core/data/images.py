"""Decode user images (uploads, files given to `predict`) safely into the dataset's geometry.

Anything PIL reads is accepted, and FITS cutouts (data/fits.py); the result is what a Galaxy10 image is: 256x256 RGB uint8.
Greyscale, alpha, palette, 16-bit and non-square images are converted, and each conversion is
reported in `notes`. What cannot be used raises one `UserError` sentence.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from galaxy_core.data.fits import fits_to_rgb, is_fits
from galaxy_core.data.stretch import LEGACY_SURVEYS, AsinhStretch
from galaxy_core.errors import UserError

DATASET_SIDE = 256
# A galaxy cutout is 256x256 (the Legacy Surveys viewer serves at most 3000x3000): these limits leave
# room for that and keep one image's decoding to about 100 MB. A 143 kB PNG can declare 49 megapixels,
# so the pixel count is checked from the header, before any pixel is decoded.
MAX_IMAGE_MB = 10  # also .streamlit/config.toml's server.maxUploadSize
MAX_BYTES = MAX_IMAGE_MB * 2**20
MAX_PIXELS = 3000 * 3000
MIN_SIDE = 8


@dataclass
class DecodedImage:
    pixels: np.ndarray  # (256, 256, 3) uint8, ready for `preprocess`
    original_size: tuple[int, int]  # (width, height) as uploaded (upright, after any EXIF rotation)
    original_mode: str
    notes: list[str] = field(default_factory=list)


def _read_source(source, name: str) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise UserError(f"{path} is not a file: give the path of a JPEG, PNG or FITS image.")
        if path.stat().st_size > MAX_BYTES:
            raise UserError(f"{name} is {path.stat().st_size / 2**20:.0f} MB; images up to {MAX_BYTES // 2**20} MB are accepted: downsample it first.")
        data = path.read_bytes()
    else:  # a file-like object, e.g. Streamlit's UploadedFile
        data = source.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UserError(f"{name} is larger than {MAX_BYTES // 2**20} MB: downsample it first.")
    if not data:
        raise UserError(f"{name} is empty: choose a JPEG, PNG or FITS image.")
    return data


def _to_rgb(image: Image.Image, notes: list[str]) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16"):
            scaled = values / 257.0  # 16-bit to 8-bit, keeping the encoded brightness
            notes.append("16-bit image: scaled to 8 bits.")
        else:
            if not np.isfinite(values).any():
                raise UserError("The image holds no finite pixel values (all NaN or infinite): choose another file.")
            low, high = np.nanpercentile(values[np.isfinite(values)], [0.5, 99.5])
            scaled = (values - low) / max(high - low, 1e-12) * 255.0
            notes.append(f"{'32-bit float' if mode == 'F' else '32-bit integer'} image: stretched to 8 bits between its 0.5 and 99.5 percentiles.")
        grey = np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)
        notes.append("Greyscale image: copied into all three colour channels; the models were trained on colour.")
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("L", "1"):
        notes.append("Greyscale image: copied into all three colour channels; the models were trained on colour.")
        return np.asarray(image.convert("RGB"))
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[:, :, 3]
        if alpha.min() < 255:
            notes.append("Transparent areas were filled with black sky.")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(black, rgba).convert("RGB"))
    if mode != "RGB":
        notes.append(f"{mode} image: converted to RGB.")
    return np.asarray(image.convert("RGB"))


def to_dataset_geometry(rgb: np.ndarray, notes: list[str], side: int = DATASET_SIDE) -> np.ndarray:
    """Centre-crop to a square and resize to the dataset's 256x256, as Galaxy10 cutouts are."""
    height, width = rgb.shape[:2]
    if height != width:
        edge = min(height, width)
        top, left = (height - edge) // 2, (width - edge) // 2
        rgb = rgb[top : top + edge, left : left + edge]
        notes.append(f"Cropped to the central {edge}x{edge} square (Galaxy10 images are square).")
    if rgb.shape[0] != side:
        rgb = np.asarray(Image.fromarray(rgb).resize((side, side), Image.Resampling.LANCZOS))
        notes.append(f"Resized from {height if height == width else min(height, width)} px to {side} px.")
    return np.ascontiguousarray(rgb)


def to_original_pixels(x: float, y: float, original_size: tuple[int, int], side: int = DATASET_SIDE) -> tuple[int, int]:
    """A point (x the column) on the 256x256 cutout back in the pixels of the image it was made from
    (the inverse of `to_dataset_geometry`'s centre crop and resize)."""
    width, height = original_size
    edge = min(width, height)
    scale = edge / side
    column = (width - edge) // 2 + (x + 0.5) * scale
    row = (height - edge) // 2 + (y + 0.5) * scale
    return min(int(column), width - 1), min(int(row), height - 1)


def load_image(source, name: str | None = None, stretch: AsinhStretch = LEGACY_SURVEYS) -> DecodedImage:
    """Bytes, a path or a file-like object -> a 256x256 RGB uint8 image, or one clear UserError. A FITS cutout's flux
    planes get `stretch` (data/fits.py); JPEG, PNG and the rest are decoded by PIL."""
    name = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "the image"))
    data = _read_source(source, name)
    if is_fits(data):
        rgb, notes, mode = fits_to_rgb(data, name, stretch)
        return DecodedImage(to_dataset_geometry(rgb, notes), (rgb.shape[1], rgb.shape[0]), mode, notes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UserError(f"{name} is {width}x{height} pixels; at most {MAX_PIXELS / 1e6:.0f} megapixels (3000x3000) are accepted: "
                                "downsample it first.")
            image.seek(0)  # animated files: the first frame
            image.load()
            image = ImageOps.exif_transpose(image)
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UserError(f"{name} decodes to too many pixels: downsample it first.") from None
    except UnidentifiedImageError:
        raise UserError(f"{name} is not an image (or not one PIL can read): choose a JPEG, PNG or FITS file.") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UserError(f"{name} is damaged and cannot be decoded ({str(exc).splitlines()[0][:80]}): choose another file.") from None
    if min(width, height) < MIN_SIDE:
        raise UserError(f"{name} is only {width}x{height} pixels: use an image at least {MIN_SIDE} px on each side.")
    notes: list[str] = []
    rgb = _to_rgb(image, notes)
    pixels = to_dataset_geometry(rgb, notes)
    return DecodedImage(pixels, (rgb.shape[1], rgb.shape[0]), image.mode, notes)


STRETCHES = ("as stored", "asinh", "linear")


def display_stretch(pixels: np.ndarray, mode: str = "as stored", strength: float = 1.0) -> np.ndarray:
    """Brighten an image for display only (never for the models): faint tails and arms show up.

    "asinh" lifts faint light and keeps cores from saturating; "linear" multiplies by `strength`.
    """
    if mode == "as stored" or strength <= 0:
        return pixels
    x = pixels.astype(np.float32) / 255.0
    if mode == "asinh":
        gain = 1.0 + 9.0 * strength
        x = np.arcsinh(gain * x) / np.arcsinh(gain)
    elif mode == "linear":
        x = x * (1.0 + 3.0 * strength)
    else:
        raise UserError(f"Unknown stretch '{mode}': use one of {', '.join(STRETCHES)}.")
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
