"""FITS cutouts in: the g, r, z flux planes (nanomaggies) the Legacy Surveys cutout service writes, made into the
8-bit picture Galaxy10's JPEGs are with the same asinh stretch (data/stretch.py), so the models see a FITS cutout as
they see that galaxy's JPEG.

Accepted: three planes (band order from the header's BANDS or BAND0..BAND2 where it says, g-r-z otherwise), one
plane (shown and classified as grey), in the primary HDU or the first image extension that holds data. FITS stores
the bottom row first; the picture has the top row first, as the cutout service's JPEG does. Everything is checked
from the header before any pixel is read: declared size, dimensions, that the bytes are all there.
"""
from __future__ import annotations

import io
import warnings

import numpy as np

from galaxy_core.data.stretch import BANDS, LEGACY_SURVEYS, AsinhStretch, grey_rgb, legacy_rgb
from galaxy_core.errors import UserError
from galaxy_core.fileio import atomic_path

FITS_MAGIC = b"SIMPLE  ="
FITS_SUFFIXES = (".fits", ".fit", ".fts")
MAX_PLANE_PIXELS = 3000 * 3000  # as for JPEG and PNG uploads
BAND_NAMES = set(BANDS)


def is_fits(data: bytes) -> bool:
    return data[: len(FITS_MAGIC)] == FITS_MAGIC


def _image_hdu(hdus, name: str):
    """The primary HDU if it holds an image, else the first image extension that does; one sentence otherwise."""
    from astropy.io.fits import CompImageHDU, ImageHDU, PrimaryHDU

    tables = 0
    for hdu in hdus:
        if isinstance(hdu, (PrimaryHDU, ImageHDU, CompImageHDU)) and int(hdu.header.get("NAXIS", 0)) > 0:
            return hdu
        tables += not isinstance(hdu, (PrimaryHDU, ImageHDU, CompImageHDU))
    if tables:
        raise UserError(f"{name} holds a table, not an image: give a FITS cutout with its g, r, z planes (or one plane) as an image.")
    raise UserError(f"{name} holds no image data (every HDU is empty): give a FITS cutout with its g, r, z planes or one plane.")


def _checked_shape(hdu, name: str, available: int) -> tuple[int, ...]:
    """The data's shape (numpy order), refused before reading when it is not 1 or 3 planes, too large, or cut short."""
    header = hdu.header
    dimensions = int(header.get("ZNAXIS", header.get("NAXIS", 0)))
    prefix = "ZNAXIS" if "ZNAXIS" in header else "NAXIS"
    shape = tuple(int(header.get(f"{prefix}{axis}", 0)) for axis in range(dimensions, 0, -1))
    if dimensions not in (2, 3) or (dimensions == 3 and shape[0] not in (1, 3)):
        raise UserError(f"{name} has an image of shape {'x'.join(map(str, shape)) or 'none'}: a cutout has 3 planes (g, r, z) "
                        "or one, each at least 8x8 pixels.")
    height, width = shape[-2:]
    if min(height, width) < 8:
        raise UserError(f"{name} is only {width}x{height} pixels: use a cutout at least 8 px on each side.")
    if height * width > MAX_PLANE_PIXELS:
        raise UserError(f"{name} declares {width}x{height} pixels per plane; at most 3000x3000 are accepted: ask the cutout "
                        "service for a smaller cutout.")
    needed = abs(int(header.get("BITPIX", 8))) // 8 * int(np.prod(shape))
    if "ZNAXIS" not in header and needed > available:
        raise UserError(f"{name} is cut short: its header declares {needed:,} bytes of pixels and {max(available, 0):,} follow: "
                        "download it again.")
    return shape


def band_order(header, planes: int) -> tuple[list[int], str]:
    """Positions of g, r, z among the planes, from BANDS ('grz') or BAND0..BAND2, else the file's order; and a note."""
    named = str(header.get("BANDS", "")).strip().lower()
    if len(named) != planes:
        named = "".join(str(header.get(f"BAND{i}", "")).strip().lower()[:1] for i in range(planes))
    if len(named) == planes and set(named) == BAND_NAMES:
        return [named.index(band) for band in BANDS], f"bands {', '.join(named)} from the header"
    if named:
        raise UserError(f"The header names the bands {', '.join(named)}; the models know g, r and z only: give a g, r, z cutout.")
    return [0, 1, 2], "no band names in the header: planes taken as g, r, z"


def fits_to_rgb(data: bytes, name: str, stretch: AsinhStretch = LEGACY_SURVEYS) -> tuple[np.ndarray, list[str], str]:
    """FITS bytes -> (H, W, 3) uint8 picture, notes, and a mode naming what was read; one UserError otherwise."""
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy warns of truncation and odd headers; both are checked here
            with fits.open(io.BytesIO(data), memmap=False, lazy_load_hdus=True, ignore_missing_end=True) as hdus:
                hdu = _image_hdu(hdus, name)
                shape = _checked_shape(hdu, name, len(data) - hdu.fileinfo()["datLoc"])
                planes = np.asarray(hdu.data, dtype=np.float32).reshape((-1, *shape[-2:]))
                header, where = hdu.header, ("the primary HDU" if hdu is hdus[0] else f"extension {hdus.index_of(hdu)}")
    except UserError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, EOFError) as exc:
        raise UserError(f"{name} is not a FITS file astropy can read ({str(exc).splitlines()[0][:80]}): choose another file.") from None
    finite = np.isfinite(planes)
    if not finite.any():
        raise UserError(f"{name} holds no finite pixel values (all NaN or infinite): the cutout has no data there; choose another.")
    notes = [f"FITS, {where}: {len(planes)} plane{'s' if len(planes) > 1 else ''} of {shape[-1]}x{shape[-2]}"]
    if not finite.all():
        planes = np.where(finite, planes, 0.0).astype(np.float32)
        notes.append(f"{int((~finite).sum())} pixels without data (NaN) set to empty sky")
    planes = planes[:, ::-1]  # FITS rows run bottom to top
    if len(planes) == 3:
        order, said = band_order(header, 3)
        rgb = legacy_rgb(np.ascontiguousarray(planes[order]), stretch)
        notes.append(f"{said}; {stretch.describe()}")
        return rgb, notes, "FITS grz"
    notes.append(f"one plane: shown and classified as grey; {stretch.describe()}")
    return grey_rgb(np.ascontiguousarray(planes[0]), stretch), notes, "FITS grey"


def write_fits(path, planes: np.ndarray, bands: str = "grz") -> None:
    """(3, H, W) flux planes in the order `bands` names (top row first, as the picture) to a FITS file as the cutout
    service writes one: bottom row first, BANDS and BAND0..2 in the header. Atomic."""
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.ascontiguousarray(np.asarray(planes, dtype=np.float32)[:, ::-1]))
    hdu.header["BANDS"] = bands
    for i, band in enumerate(bands):
        hdu.header[f"BAND{i}"] = band
    with atomic_path(path) as tmp:
        hdu.writeto(tmp)
