"""Observing a scene as the Legacy Surveys did: Moffat PSF, correlated sky noise, and the asinh
g/r/z colour stretch to RGB. `render_image` makes one synthetic Galaxy10 image."""
from __future__ import annotations

import io

import galsim
import numpy as np
import scipy.fft
from PIL import Image

from galaxy_core.data.synthetic.looks import GENERATOR_VERSION, look_for
from galaxy_core.data.synthetic.morphologies import RENDERERS, field_objects
from galaxy_core.data.synthetic.scene import IMAGE_SIZE, Scene

BANDS = ("g", "r", "z")


# Legacy Surveys RGB mapping (legacypipe's sdss_rgb with the DR viewer's scales):
# z -> red, r -> green, g -> blue.
RGB_PLANE = {"g": 2, "r": 1, "z": 0}
RGB_SCALE = np.array([6.0, 3.4, 2.2], dtype=np.float64)[:, None, None]  # g, r, z
RGB_OFFSET = 0.03
RGB_Q = 20.0


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


def render_image(label: int, seed: int, index: int, version: int = GENERATOR_VERSION) -> np.ndarray:
    """One synthetic Galaxy10 image (256, 256, 3) uint8 of the given class; pure function of its inputs."""
    look = look_for(version)
    rng = np.random.default_rng([seed, version, 1, index])
    scene = Scene(rng, look)
    size = rng.uniform(*look.size_range[label])
    # Surface brightness, not total flux, sets how bright a galaxy looks: flux grows with area.
    flux = 10 ** rng.uniform(*look.flux_spread_dex) * size**2 * look.surface_brightness[label]
    RENDERERS[label](scene, rng, size, flux)
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
    spectrum += scipy.fft.rfft2(noise, workers=1) * _NOISE_OTF
    rgb = legacy_rgb(scipy.fft.irfft2(spectrum, s=(IMAGE_SIZE, IMAGE_SIZE), workers=1))
    # Real cutouts reach users as JPEGs (the check set: quality 75 with 4:2:0 chroma, some higher).
    quality = 75 if rng.random() < 0.8 else int(rng.integers(80, 96))
    return jpeg_round_trip(rgb, quality)


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The image as it comes back from a JPEG file: block artefacts and softened colour."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0")
    return np.asarray(Image.open(buffer).convert("RGB"))


def legacy_rgb(grz: np.ndarray) -> np.ndarray:
    """g, r, z flux images (3, H, W) to an RGB uint8 image with the Legacy Surveys asinh stretch."""
    scaled = grz * RGB_SCALE.astype(np.float32) + np.float32(RGB_OFFSET)
    np.maximum(scaled, 0.0, out=scaled)
    intensity = scaled.mean(axis=0)
    intensity[intensity == 0] = 1e-6
    factor = np.arcsinh(RGB_Q * intensity) / (np.sqrt(RGB_Q) * intensity) * 255.0
    rgb = np.empty((grz.shape[1], grz.shape[2], 3), dtype=np.float32)
    for band, name in enumerate(BANDS):
        np.multiply(scaled[band], factor, out=rgb[:, :, RGB_PLANE[name]])
    np.clip(rgb, 0, 255, out=rgb)
    return np.rint(rgb).astype(np.uint8)
