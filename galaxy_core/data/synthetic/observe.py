"""Observing a scene as the Legacy Surveys did: Moffat PSF, correlated sky noise, and the asinh
g/r/z colour stretch to RGB (`data/stretch.py`). `render_bands` makes one synthetic cutout as flux images (and, when
asked, the mask of where its light comes from); `render_image` makes it the Galaxy10 JPEG."""
from __future__ import annotations

import io
from dataclasses import dataclass

import galsim
import numpy as np
import scipy.fft
from PIL import Image

from galaxy_core.data.stretch import LEGACY_SURVEYS, legacy_rgb
from galaxy_core.data.synthetic.looks import GENERATOR_VERSION, look_for
from galaxy_core.data.synthetic.morphologies import RENDERERS, field_objects
from galaxy_core.data.synthetic.scene import IMAGE_SIZE, Scene


_FREQ_Y = np.fft.fftfreq(IMAGE_SIZE)[:, None]
_FREQ_X = np.fft.rfftfreq(IMAGE_SIZE)[None, :]


def _gaussian_otf(sigma: float) -> np.ndarray:
    """Fourier transform of a unit Gaussian blur on the rfft2 grid."""
    return np.exp(-2 * (np.pi * sigma) ** 2 * (_FREQ_X**2 + _FREQ_Y**2)).astype(np.float32)


def _psf_otfs(fwhm_per_band) -> np.ndarray:
    """Moffat PSFs as optical transfer functions on the rfft2 grid, one per band.

    GalSim draws the Moffat's analytic Fourier transform directly: no real-space kernel, no FFT,
    and no half-pixel shift from centring a kernel on an even-sized grid.
    """
    otfs = np.empty((3, IMAGE_SIZE, IMAGE_SIZE // 2 + 1), dtype=np.float32)
    for band, fwhm in enumerate(fwhm_per_band):
        k_image = galsim.Moffat(beta=3.5, fwhm=float(fwhm)).drawKImage(nx=IMAGE_SIZE, ny=IMAGE_SIZE, scale=2 * np.pi / IMAGE_SIZE)
        otfs[band] = np.fft.ifftshift(k_image.array.real)[:, : IMAGE_SIZE // 2 + 1]
    return otfs


# Resampling the survey pixels correlated the noise over about a pixel; keep its per-pixel variance.
_NOISE_OTF = _gaussian_otf(0.55) / np.sqrt(np.mean(_gaussian_otf(0.55) ** 2))


@dataclass(frozen=True)
class Rendered:
    """One synthetic cutout before it becomes a JPEG: its g, r, z flux images (nanomaggies per pixel, sky noise
    included), the JPEG quality it is saved at, and, when asked for, where its light comes from (`MASK_*`)."""

    bands: np.ndarray  # (3, 256, 256) float32: g, r, z
    quality: int
    mask: np.ndarray | None = None  # (256, 256) uint8


# The ground truth of what a pixel shows, for scoring explanations: 0 sky, 1 the target galaxy's own light,
# 2 a foreground star or a neighbour (also where one outshines the target galaxy).
MASK_SKY, MASK_TARGET, MASK_FIELD = 0, 1, 2
MASK_SIGMAS = 2.0
MASK_THRESHOLD = (f"a pixel is light where its noise-free flux, in the stretch's mean of g, r, z (scales 6.0, 3.4, 2.2), is above "
                  f"{MASK_SIGMAS:g} sigma of the sky noise there; 1 where the target galaxy's light is, 2 where a star's or "
                  "neighbour's is and outshines the target's, 0 elsewhere")


def render_bands(label: int, seed: int, index: int, version: int = GENERATOR_VERSION, masks: bool = False) -> Rendered:
    """One synthetic Galaxy10 cutout as flux images; a pure function of its inputs (`masks` draws nothing more)."""
    look = look_for(version)
    rng = np.random.default_rng([seed, version, 1, index])
    scene = Scene(rng, look)
    size = rng.uniform(*look.size_range[label])
    # Surface brightness, not total flux, sets how bright a galaxy looks: flux grows with area.
    flux = 10 ** rng.uniform(*look.flux_spread_dex) * size**2 * look.surface_brightness[label]
    RENDERERS[label](scene, rng, size, flux)
    target = (scene.sharp.copy(), scene.soft.copy()) if masks else None  # the galaxy alone, before the field
    field_objects(scene, rng, look.crowding[label])

    seeing = rng.uniform(*look.seeing_fwhm)  # PSF FWHM in pixels of the resampled cutout
    # JPEG compression adds about 15% to the apparent noise, so the sky is drawn quieter.
    sky_sigma = rng.uniform(0.0034, 0.0064) * np.array([0.45, 1.0, 1.6], dtype=np.float32)  # g, r, z
    # Gaussian sky noise from numpy's float32 generator: 4x faster here than GalSim's GaussianNoise.
    noise = rng.standard_normal((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32) * sky_sigma[:, None, None]

    psf = _psf_otfs(seeing * np.array([1.12, 1.0, 0.93]))  # blue seeing is worse
    soft_otf = _gaussian_otf(rng.uniform(0.8, 1.6))  # faint galaxies and streams are extended light
    spectrum = scipy.fft.rfft2(scene.sharp, workers=1)
    spectrum += scipy.fft.rfft2(scene.soft, workers=1) * soft_otf
    spectrum *= psf
    mask = None if target is None else _light_mask(spectrum, target, soft_otf, psf, sky_sigma)
    spectrum += scipy.fft.rfft2(noise, workers=1) * _NOISE_OTF
    bands = scipy.fft.irfft2(spectrum, s=(IMAGE_SIZE, IMAGE_SIZE), workers=1)
    # Real cutouts reach users as JPEGs (the check set: quality 75 with 4:2:0 chroma, some higher).
    quality = 75 if rng.random() < 0.8 else int(rng.integers(80, 96))
    return Rendered(bands, quality, mask)


def _light_mask(observed: np.ndarray, target: tuple[np.ndarray, np.ndarray], soft_otf, psf, sky_sigma) -> np.ndarray:
    """Where the target galaxy's and the field's noise-free light (both through the PSF) rise above the sky noise."""
    sharp, soft = target
    target_spectrum = (scipy.fft.rfft2(sharp, workers=1) + scipy.fft.rfft2(soft, workers=1) * soft_otf) * psf
    scales = LEGACY_SURVEYS.scales
    weights = np.asarray(scales, dtype=np.float32)[:, None, None] / 3.0  # the stretch's mean intensity
    noise = float(np.sqrt(np.sum((np.asarray(scales) * sky_sigma / 3.0) ** 2)))
    galaxy = (scipy.fft.irfft2(target_spectrum, s=(IMAGE_SIZE, IMAGE_SIZE), workers=1) * weights).sum(axis=0)
    field = (scipy.fft.irfft2(observed - target_spectrum, s=(IMAGE_SIZE, IMAGE_SIZE), workers=1) * weights).sum(axis=0)
    limit = MASK_SIGMAS * noise
    mask = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    mask[galaxy > limit] = MASK_TARGET
    mask[(field > limit) & (field > galaxy)] = MASK_FIELD
    return mask


def render_image(label: int, seed: int, index: int, version: int = GENERATOR_VERSION) -> np.ndarray:
    """One synthetic Galaxy10 image (256, 256, 3) uint8 of the given class; pure function of its inputs."""
    rendered = render_bands(label, seed, index, version)
    return jpeg_round_trip(legacy_rgb(rendered.bands), rendered.quality)


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The image as it comes back from a JPEG file: block artefacts and softened colour."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0")
    return np.asarray(Image.open(buffer).convert("RGB"))
