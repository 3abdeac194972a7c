"""Synthetic Galaxy10 DECaLS files: the real schema, ten faithful morphologies, a DECaLS-like look.

Each image is rendered in three bands (g, r, z, in nanomaggies per pixel) and mapped to RGB with
the Legacy Surveys' asinh colour stretch. GalSim draws the smooth profiles (Sérsic bulges,
ellipticals, exponential disks, bars) and the Moffat PSF (its analytic Fourier transform); numpy
adds what GalSim lacks (spiral-arm density waves, star-forming clumps, dust lanes, tidal tails) and
the correlated sky noise, which it draws faster.

Every image depends only on (seed, index), so a file is identical for a seed whatever the number
of worker processes, and an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import multiprocessing
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import galsim
import h5py
import numpy as np
import scipy.fft

from galaxy_core.classes import NUM_CLASSES, REAL_COUNTS
from galaxy_core.data.galaxy10 import IMAGES_KEY, LABELS_KEY, create_galaxy10_datasets
from galaxy_core.errors import UserError
from galaxy_core.fileio import fsync_path

GENERATOR = "galaxy_core.synthetic"
GENERATOR_VERSION = 1
IMAGE_SIZE = 256
BANDS = ("g", "r", "z")
BLOCK = 32  # images per worker task and per flush of the output file
COMPRESSION_LEVEL = 4

# Legacy Surveys RGB mapping (legacypipe's sdss_rgb with the DR viewer's scales):
# z -> red, r -> green, g -> blue.
RGB_PLANE = {"g": 2, "r": 1, "z": 0}
RGB_SCALE = np.array([6.0, 3.4, 2.2], dtype=np.float64)[:, None, None]  # g, r, z
RGB_OFFSET = 0.03
RGB_Q = 20.0

# Colours as g, r, z flux ratios (r = 1): old red stars, a mixed disk, young blue stars.
# In the stretch below a neutral (white) source is about g:r:z = 0.57:1:1.55; real disks and
# arms are only mildly bluer than that (docs/contact_sheet.jpg measures it per class).
OLD = np.array([0.45, 1.0, 1.62])
MIXED = np.array([0.55, 1.0, 1.48])
YOUNG = np.array([0.72, 1.0, 1.22])
DUST_TAU = np.array([1.0, 0.72, 0.45])  # relative attenuation per band

_GRID = np.arange(IMAGE_SIZE) - (IMAGE_SIZE - 1) / 2.0


def class_counts(n: int, balance: str = "real") -> np.ndarray:
    """Images per class for n images: proportional to the real counts (largest remainder) or uniform.

    Every class gets at least one image when n >= 10, so tiny test files still hold all ten.
    """
    if balance not in ("real", "uniform"):
        raise UserError(f"Unknown class balance '{balance}': use 'real' or 'uniform'.")
    weights = np.array(REAL_COUNTS if balance == "real" else [1] * NUM_CLASSES, dtype=np.float64)
    exact = weights / weights.sum() * n
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    if n >= NUM_CLASSES:  # lend empty classes one image each, from the largest
        for empty in np.flatnonzero(counts == 0):
            counts[np.argmax(counts)] -= 1
            counts[empty] = 1
    return counts


@dataclass(frozen=True)
class Catalogue:
    labels: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    redshift: np.ndarray
    pxscale: np.ndarray


def make_catalogue(n: int, seed: int, balance: str = "real") -> Catalogue:
    """Labels (shuffled) and sky metadata for n galaxies, deterministic for the seed."""
    rng = np.random.default_rng([seed, GENERATOR_VERSION, 0])
    labels = np.repeat(np.arange(NUM_CLASSES), class_counts(n, balance))
    labels = rng.permutation(labels).astype(np.uint8)
    ra = rng.uniform(0.0, 360.0, n)
    sin_dec = rng.uniform(np.sin(np.radians(-20.0)), np.sin(np.radians(35.0)), n)  # DECaLS-like band
    dec = np.degrees(np.arcsin(sin_dec))
    redshift = np.clip(rng.gamma(2.2, 0.025, n), 0.004, 0.35)
    pxscale = 0.262 * rng.uniform(1.0, 2.6, n)  # cutouts were resampled to 256 px
    return Catalogue(labels, ra, dec, redshift, pxscale)


# ----- rendering --------------------------------------------------------------------------
class Scene:
    """Flux layers for one image: `sharp` gets the PSF, `soft` the PSF and an extra blur."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.sharp = np.zeros((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        self.soft = np.zeros((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        self._canvas = galsim.ImageD(IMAGE_SIZE, IMAGE_SIZE, scale=1.0)

    def draw(self, profile: galsim.GSObject, colour: np.ndarray, centre=(0.0, 0.0)) -> np.ndarray:
        """Draw a unit-flux GalSim profile, add it in the given colour; returns the mono image."""
        profile.drawImage(image=self._canvas, method="no_pixel", offset=centre)
        mono = self._canvas.array.copy()
        self.sharp += colour[:, None, None] * mono
        return mono

    def add_mono(self, mono: np.ndarray, colour: np.ndarray) -> None:
        self.sharp += colour[:, None, None] * mono

    def points(self, x: np.ndarray, y: np.ndarray, flux: np.ndarray, colour: np.ndarray, soft: bool = False) -> None:
        """Point sources at sub-pixel positions (pixels from the centre), spread bilinearly."""
        layer = self.soft if soft else self.sharp
        fx, fy = x + (IMAGE_SIZE - 1) / 2.0, y + (IMAGE_SIZE - 1) / 2.0
        ix, iy = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
        dx, dy = fx - ix, fy - iy
        colour = np.asarray(colour, dtype=np.float64)
        per_band = np.broadcast_to(colour.T if colour.ndim == 2 else colour[:, None], (3, len(x))) * flux
        for ox, oy, w in ((0, 0, (1 - dx) * (1 - dy)), (1, 0, dx * (1 - dy)), (0, 1, (1 - dx) * dy), (1, 1, dx * dy)):
            px, py = ix + ox, iy + oy
            keep = (px >= 0) & (px < IMAGE_SIZE) & (py >= 0) & (py < IMAGE_SIZE)
            for band in range(3):
                np.add.at(layer[band], (py[keep], px[keep]), (per_band[band] * w)[keep])


def _face_on(shape_q: float, beta: float, centre=(0.0, 0.0)):
    """Face-on radius and angle of every pixel for a disk GalSim sheared by (q, beta).

    GalSim's shear is area-preserving (major axis stretched by 1/sqrt(q), minor squeezed by
    sqrt(q)); inverting that matrix puts each pixel back in the disk's own plane.
    """
    x = _GRID[None, :] - centre[0]
    y = _GRID[:, None] - centre[1]
    c, s = np.cos(beta), np.sin(beta)
    along = (x * c + y * s) * np.sqrt(shape_q)
    across = (-x * s + y * c) / np.sqrt(shape_q)
    radius = np.hypot(along, across)
    angle = np.arctan2(across, along) + beta
    return radius, angle


def _jitter(rng, colour, amount=0.08):
    """Vary a colour along the blue-red axis only: stellar populations never turn green."""
    return colour * np.exp(rng.normal(0.0, amount) * np.array([-1.0, 0.0, 1.0]))


def _sersic(n, hlr, q, beta):
    return galsim.Sersic(n=n, half_light_radius=hlr, flux=1.0).shear(q=q, beta=beta * galsim.radians)


def _spiral_pattern(radius, angle, arms, pitch_deg, start_radius, phase, sharpness, handed):
    """Logarithmic spiral density wave in [0, 1]; 0 inside `start_radius` (bulge or bar)."""
    wind = np.log(np.maximum(radius, 1e-3) / start_radius) / np.tan(np.radians(pitch_deg))
    wave = 0.5 * (1.0 + np.cos(arms * (angle - handed * wind) - phase))
    pattern = wave**sharpness
    ramp = np.clip((radius - 0.6 * start_radius) / (0.6 * start_radius), 0.0, 1.0)
    return pattern * ramp


def _clumps(scene: Scene, weight_map: np.ndarray, count: int, total_flux: float, colour=YOUNG):
    """Star-forming knots placed where `weight_map` is bright (on the arms)."""
    rng = scene.rng
    p = weight_map.ravel()
    total = p.sum()
    if count <= 0 or total <= 0:
        return
    picks = rng.choice(p.size, size=count, p=p / total)
    y, x = np.divmod(picks, IMAGE_SIZE)
    x = x - (IMAGE_SIZE - 1) / 2.0 + rng.uniform(-0.5, 0.5, count)
    y = y - (IMAGE_SIZE - 1) / 2.0 + rng.uniform(-0.5, 0.5, count)
    flux = rng.dirichlet(np.full(count, 0.7)) * total_flux
    scene.points(x, y, flux, _jitter(rng, colour, 0.15))


def _disk_galaxy(scene, flux, scale_length, q, beta, centre, bulge_fraction, bulge_n, arms=None, bar=None, clumpy=0.0):
    """Bulge + exponential disk, optionally with spiral arms and a bar; returns the face-on coords."""
    rng = scene.rng
    disk = galsim.Exponential(scale_radius=scale_length, flux=1.0).shear(q=q, beta=beta * galsim.radians)
    disk_mono = _draw_mono(scene, disk, centre)
    radius, angle = _face_on(q, beta, centre)
    disk_flux = flux * (1.0 - bulge_fraction)
    if arms is not None:
        pattern = _spiral_pattern(radius, angle, **arms)
        strength = rng.uniform(0.3, 0.6)
        arm_light = disk_mono * pattern
        arm_light *= disk_mono.sum() / max(arm_light.sum(), 1e-12)
        scene.add_mono(disk_flux * (1 - strength) * disk_mono, _jitter(rng, MIXED))
        scene.add_mono(disk_flux * strength * arm_light, _jitter(rng, 0.5 * (MIXED + YOUNG)))
        _clumps(scene, arm_light, int(rng.integers(10, 40) * (1 + clumpy)), disk_flux * strength * (0.2 + 0.2 * clumpy))
    else:
        scene.add_mono(disk_flux * disk_mono, _jitter(rng, MIXED))
    if bar is not None:
        bar_profile = galsim.Sersic(n=0.5, half_light_radius=bar["length"] * 0.6, flux=1.0)
        bar_profile = bar_profile.shear(q=bar["q"], beta=bar["angle"] * galsim.radians).shear(q=q, beta=beta * galsim.radians)
        scene.draw(bar_profile, _jitter(rng, 0.5 * (OLD + MIXED)) * flux * bar["fraction"], centre)
    if bulge_fraction > 0:
        bulge_q = float(np.clip(q + rng.uniform(0.2, 0.5), 0.5, 1.0))
        bulge = _sersic(bulge_n, scale_length * rng.uniform(0.25, 0.5), bulge_q, beta)
        scene.draw(bulge, _jitter(rng, OLD) * flux * bulge_fraction, centre)
    return radius, angle


def _draw_mono(scene: Scene, profile, centre) -> np.ndarray:
    profile.drawImage(image=scene._canvas, method="no_pixel", offset=centre)
    return scene._canvas.array.copy()


def _tidal_tail(scene, origin, start_angle, length, curl, width, flux, colour):
    """A curved stream of stars leaving a galaxy: many faint points along an arc, blurred."""
    rng = scene.rng
    count = 900
    t = rng.uniform(0.0, 1.0, count) ** 0.8
    along = 3.0 + t * length
    theta = start_angle + curl * t
    x = origin[0] + along * np.cos(theta) + rng.normal(0, width * (0.5 + t), count)
    y = origin[1] + along * np.sin(theta) + rng.normal(0, width * (0.5 + t), count)
    weights = (1.2 - t) / count
    scene.points(x, y, flux * weights / weights.sum(), colour, soft=True)


# One renderer per class: each adds the main object(s) to the scene.
def _disturbed(scene, rng, size, flux):
    q, beta = rng.uniform(0.45, 0.95), rng.uniform(0, np.pi)
    centre = tuple(rng.normal(0, 2.5, 2))
    radius, angle = _face_on(q, beta, centre)
    base = galsim.Exponential(scale_radius=size * 0.7, flux=1.0).shear(q=q, beta=beta * galsim.radians)
    mono = _draw_mono(scene, base, centre)
    lopsided = mono * (1.0 + rng.uniform(0.5, 0.9) * np.cos(angle - rng.uniform(0, 2 * np.pi)))
    lopsided *= mono.sum() / max(lopsided.sum(), 1e-12)
    scene.add_mono(flux * 0.6 * lopsided, _jitter(rng, 0.5 * (MIXED + YOUNG)))
    _clumps(scene, lopsided ** 0.7, int(rng.integers(8, 25)), flux * 0.3, 0.5 * (MIXED + YOUNG))
    if rng.random() < 0.5:  # a faint off-centre core
        core_offset = (centre[0] + rng.normal(0, size * 0.3), centre[1] + rng.normal(0, size * 0.3))
        scene.draw(_sersic(2.0, size * 0.2, rng.uniform(0.6, 1), beta), _jitter(rng, OLD) * flux * 0.1, core_offset)
    for _ in range(int(rng.integers(1, 3))):  # plumes, warps, shells
        _tidal_tail(scene, centre, rng.uniform(0, 2 * np.pi), size * rng.uniform(1.5, 3.5), rng.uniform(-1.2, 1.2),
                    size * 0.25, flux * rng.uniform(0.08, 0.2), _jitter(rng, MIXED))


def _merging(scene, rng, size, flux):
    members = 2 if rng.random() < 0.8 else 3
    separation = size * rng.uniform(0.8, 2.4)
    axis = rng.uniform(0, 2 * np.pi)
    shares = rng.dirichlet(np.full(members, 2.5))
    for k in range(members):
        offset = separation * (k - (members - 1) / 2) * 0.9
        wobble = rng.normal(0, size * 0.25, 2)
        centre = (offset * np.cos(axis) + wobble[0], offset * np.sin(axis) + wobble[1])
        member_size = size * rng.uniform(0.6, 1.0)
        q, beta = rng.uniform(0.5, 1.0), rng.uniform(0, np.pi)
        if rng.random() < 0.5:
            scene.draw(_sersic(rng.uniform(2, 4), member_size, q, beta), _jitter(rng, OLD) * flux * shares[k], centre)
        else:
            _disk_galaxy(scene, flux * shares[k], member_size * 0.6, q, beta, centre, rng.uniform(0.2, 0.5), 2.5)
        side = axis + (np.pi if k == 0 else 0.0) + rng.normal(0, 0.5)
        _tidal_tail(scene, centre, side, size * rng.uniform(2.0, 4.5), rng.choice([-1, 1]) * rng.uniform(0.6, 1.8),
                    size * 0.2, flux * shares[k] * rng.uniform(0.15, 0.35), _jitter(rng, 0.5 * (MIXED + YOUNG)))


def _smooth(q_range, n_range):
    def render(scene, rng, size, flux):
        q, beta = rng.uniform(*q_range), rng.uniform(0, np.pi)
        n = round(rng.uniform(*n_range) * 4) / 4  # GalSim caches profiles per n
        centre = tuple(rng.normal(0, 1.5, 2))
        scene.draw(_sersic(n, size, q, beta), _jitter(rng, OLD, 0.06) * flux, centre)

    return render


def _spiral(barred: bool, pitch_range, bulge_range, clumpy):
    def render(scene, rng, size, flux):
        q, beta = rng.uniform(0.45, 1.0), rng.uniform(0, np.pi)
        centre = tuple(rng.normal(0, 1.5, 2))
        scale_length = size * 0.75
        bar = None
        start = scale_length * rng.uniform(0.5, 0.8)
        phase = rng.uniform(0, 2 * np.pi)
        if barred:
            bar_length = scale_length * rng.uniform(1.0, 1.6)
            bar_angle = rng.uniform(0, np.pi)
            bar = {"length": bar_length, "q": rng.uniform(0.15, 0.25), "angle": bar_angle, "fraction": rng.uniform(0.2, 0.32)}
            start, phase = bar_length, 2 * bar_angle  # arms leave the bar's ends
        arms = {
            "arms": 2 if rng.random() < 0.8 or barred else 3,
            "pitch_deg": rng.uniform(*pitch_range),
            "start_radius": start,
            "phase": phase,
            "sharpness": rng.uniform(2.0, 4.0),
            "handed": rng.choice([-1.0, 1.0]),
        }
        _disk_galaxy(scene, flux, scale_length, q, beta, centre, rng.uniform(*bulge_range), rng.uniform(2.0, 4.0),
                     arms=arms, bar=bar, clumpy=clumpy)

    return render


def _edge_on(with_bulge: bool):
    def render(scene, rng, size, flux):
        q, beta = rng.uniform(0.07, 0.15), rng.uniform(0, np.pi)
        centre = tuple(rng.normal(0, 1.5, 2))
        length = size * (rng.uniform(0.6, 0.9) if not with_bulge else rng.uniform(0.5, 0.8))
        bulge_fraction = rng.uniform(0.3, 0.55) if with_bulge else 0.0
        # GalSim's shear keeps the area, stretching the major axis by 1/sqrt(q): undo that here.
        disk = galsim.Exponential(scale_radius=length * np.sqrt(q), flux=1.0).shear(q=q, beta=beta * galsim.radians)
        mono = _draw_mono(scene, disk, centre)
        disk_colour = _jitter(rng, MIXED if with_bulge else 0.7 * MIXED + 0.3 * YOUNG)
        disk_light = disk_colour[:, None, None] * mono * flux * (1 - bulge_fraction)
        if with_bulge:
            bulge = _sersic(rng.uniform(2.0, 4.0), length * rng.uniform(0.35, 0.6), rng.uniform(0.55, 0.9), beta)
            disk_light += _jitter(rng, OLD)[:, None, None] * _draw_mono(scene, bulge, centre) * flux * bulge_fraction
        if with_bulge or rng.random() < 0.4:  # a dust lane just off the mid-plane
            x = _GRID[None, :] - centre[0]
            y = _GRID[:, None] - centre[1]
            height = -x * np.sin(beta) + y * np.cos(beta) - rng.normal(0, 0.6)
            lane = np.exp(-0.5 * (height / rng.uniform(0.8, 1.6)) ** 2) * np.exp(-np.abs(x * np.cos(beta) + y * np.sin(beta)) / (3 * length))
            depth = rng.uniform(0.4, 0.8) if with_bulge else rng.uniform(0.2, 0.4)
            disk_light *= np.exp(-depth * DUST_TAU[:, None, None] * lane[None])
        scene.sharp += disk_light

    return render


RENDERERS: tuple[Callable, ...] = (
    _disturbed,
    _merging,
    _smooth((0.8, 1.0), (3.0, 5.0)),  # round smooth
    _smooth((0.45, 0.75), (1.5, 4.0)),  # in-between round smooth
    _smooth((0.15, 0.35), (1.0, 2.5)),  # cigar-shaped smooth
    _spiral(True, (12, 28), (0.15, 0.35), 0.3),  # barred spiral
    _spiral(False, (7, 14), (0.2, 0.45), 0.0),  # unbarred tight spiral
    _spiral(False, (20, 35), (0.05, 0.2), 1.0),  # unbarred loose spiral
    _edge_on(False),  # edge-on without bulge
    _edge_on(True),  # edge-on with bulge
)
# Typical half-light size (pixels) and r-band flux (nanomaggies) ranges per class.
SIZE_RANGE = ((7, 16), (8, 16), (7, 22), (8, 18), (8, 16), (12, 24), (11, 22), (12, 26), (16, 34), (14, 30))


def _field(scene: Scene, rng: np.random.Generator) -> None:
    """Foreground stars and faint background galaxies, as in every DECaLS cutout."""
    n_stars = rng.poisson(3)
    if n_stars:
        x, y = rng.uniform(-128, 128, (2, n_stars))
        flux = 10 ** rng.uniform(-0.5, 2.0, n_stars)
        colours = np.stack([_jitter(rng, c, 0.1) for c in rng.choice([OLD, MIXED, YOUNG, 0.5 * (OLD + MIXED)], n_stars)])
        scene.points(x, y, flux, colours)
    n_faint = rng.poisson(14)
    if n_faint:
        x, y = rng.uniform(-128, 128, (2, n_faint))
        flux = 10 ** rng.uniform(-1.0, 0.5, n_faint)
        colours = np.stack([_jitter(rng, c, 0.15) for c in rng.choice([OLD, OLD * [0.6, 1, 1.3], MIXED], n_faint)])
        scene.points(x, y, flux, colours, soft=True)
    for _ in range(rng.poisson(0.8)):  # a resolved neighbour
        centre = tuple(rng.uniform(-115, 115, 2))
        neighbour = _sersic(round(rng.uniform(1, 4)), rng.uniform(2, 6), rng.uniform(0.4, 1), rng.uniform(0, np.pi))
        scene.draw(neighbour, _jitter(rng, MIXED) * 10 ** rng.uniform(0.3, 1.5), centre)


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


def render_image(label: int, seed: int, index: int) -> np.ndarray:
    """One synthetic Galaxy10 image (256, 256, 3) uint8 of the given class; pure function of its inputs."""
    rng = np.random.default_rng([seed, GENERATOR_VERSION, 1, index])
    scene = Scene(rng)
    size = rng.uniform(*SIZE_RANGE[label])
    # Surface brightness, not total flux, sets how bright a galaxy looks: flux grows with area.
    flux = 10 ** rng.uniform(-0.15, 0.3) * size**2
    RENDERERS[label](scene, rng, size, flux)
    _field(scene, rng)

    seeing = rng.uniform(2.0, 4.2)  # PSF FWHM in pixels of the resampled cutout
    sky_sigma = rng.uniform(0.004, 0.0075) * np.array([0.45, 1.0, 1.6], dtype=np.float32)  # g, r, z
    # Gaussian sky noise from numpy's float32 generator: 4x faster here than GalSim's GaussianNoise.
    noise = rng.standard_normal((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32) * sky_sigma[:, None, None]

    psf = _psf_otfs(seeing * np.array([1.12, 1.0, 0.93]))  # blue seeing is worse
    soft_otf = _gaussian_otf(rng.uniform(0.8, 1.6))  # faint galaxies and streams are extended light
    spectrum = scipy.fft.rfft2(scene.sharp, workers=1)
    spectrum += scipy.fft.rfft2(scene.soft, workers=1) * soft_otf
    spectrum *= psf
    spectrum += scipy.fft.rfft2(noise, workers=1) * _NOISE_OTF
    return legacy_rgb(scipy.fft.irfft2(spectrum, s=(IMAGE_SIZE, IMAGE_SIZE), workers=1))


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


# ----- writing files ------------------------------------------------------------------------
def _render_block(task: tuple[int, int, np.ndarray]) -> tuple[int, list[bytes]]:
    """Render and gzip a block of images in a worker: HDF5's deflate filter stores zlib streams,
    so the main process only writes finished chunks and both cores keep rendering."""
    galsim.set_omp_threads(1)  # one process per core already; more threads only contend
    start, seed, labels = task
    return start, [zlib.compress(render_image(int(label), seed, start + k).tobytes(), COMPRESSION_LEVEL)
                   for k, label in enumerate(labels)]


def _worker_count(requested: int | None) -> int:
    if requested:
        return max(1, requested)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _resumable(partial: Path, params: dict) -> int:
    """How many leading images a previous, interrupted run with the same parameters finished."""
    if not partial.exists():
        return 0
    try:
        with h5py.File(partial, "r") as f:
            if all(f.attrs.get(k) == v for k, v in params.items()):
                return int(f.attrs.get("completed", 0))
    except OSError:  # killed while HDF5 metadata was being written: start again
        pass
    return 0


def generate(
    out: str | os.PathLike,
    n: int,
    seed: int = 0,
    balance: str = "real",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a synthetic Galaxy10 file of n images. Resumes an interrupted run; atomic at the end."""
    out = Path(out)
    if n < 1:
        raise UserError(f"--n must be at least 1 (got {n}).")
    if seed < 0:
        raise UserError(f"--seed must be zero or positive (got {seed}).")
    out.parent.mkdir(parents=True, exist_ok=True)
    catalogue = make_catalogue(n, seed, balance)
    params = {"synthetic": True, "generator": GENERATOR, "generator_version": GENERATOR_VERSION,
              "seed": seed, "n": n, "balance": balance}
    partial = partial_path(out)
    done = _resumable(partial, params)
    if done == 0:
        partial.unlink(missing_ok=True)
        with h5py.File(partial, "w") as f:
            create_galaxy10_datasets(f, n, IMAGE_SIZE, IMAGE_SIZE, COMPRESSION_LEVEL)
            f.attrs.update(params)
            f.attrs["completed"] = 0
            f.attrs["description"] = "Synthetic Galaxy10 DECaLS images made by galaxy_core; not real galaxies."
            f[LABELS_KEY][...] = catalogue.labels
            for key in ("ra", "dec", "redshift", "pxscale"):
                f[key][...] = getattr(catalogue, key)
    if progress:
        progress(done, n)
    tasks = [(s, seed, catalogue.labels[s : s + BLOCK]) for s in range(done, n, BLOCK)]
    count = _worker_count(workers)
    with h5py.File(partial, "r+") as f:
        images = f[IMAGES_KEY]
        if count == 1 or len(tasks) <= 1:
            results = map(_render_block, tasks)
            pool = None
        else:
            # Not "fork": a parent that has already rendered holds GalSim/FFT threads, and forked
            # children can deadlock on their locks. A fork server starts workers from a clean process.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            pool = context.Pool(count)
            results = pool.imap(_render_block, tasks)  # in order: `completed` stays a prefix
        try:
            for start, chunks in results:
                for k, chunk in enumerate(chunks):
                    images.id.write_direct_chunk((start + k, 0, 0, 0), chunk)
                f.attrs["completed"] = start + len(chunks)
                f.flush()
                if progress:
                    progress(start + len(chunks), n)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    fsync_path(partial)
    os.replace(partial, out)
    return out
