"""Flux layers for one image and the building blocks of galaxies drawn into them.

Each image is rendered in three bands (g, r, z, in nanomaggies per pixel). GalSim draws the smooth
profiles (Sérsic bulges, ellipticals, exponential disks, bars); numpy adds what GalSim lacks
(spiral-arm density waves, star-forming clumps, dust lanes, tidal tails).
"""
from __future__ import annotations

import galsim
import numpy as np

from galaxy_core.data.synthetic.looks import Look

IMAGE_SIZE = 256

# Colours as g, r, z flux ratios (r = 1); old and mixed stars are each version's (`Look`), young blue
# stars are the same in all. In the stretch a neutral (white) source is about g:r:z = 0.57:1:1.55; real
# disks and arms are only mildly bluer than that (docs/contact_sheet.jpg measures it per class).
YOUNG = np.array([0.72, 1.0, 1.22])
DUST_TAU = np.array([1.0, 0.72, 0.45])  # relative attenuation per band

GRID = np.arange(IMAGE_SIZE) - (IMAGE_SIZE - 1) / 2.0


class Scene:
    """Flux layers for one image: `sharp` gets the PSF, `soft` the PSF and an extra blur."""

    def __init__(self, rng: np.random.Generator, look: Look):
        self.rng = rng
        self.look = look
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


def face_on(shape_q: float, beta: float, centre=(0.0, 0.0)):
    """Face-on radius and angle of every pixel for a disk GalSim sheared by (q, beta).

    GalSim's shear is area-preserving (major axis stretched by 1/sqrt(q), minor squeezed by
    sqrt(q)); inverting that matrix puts each pixel back in the disk's own plane.
    """
    x = GRID[None, :] - centre[0]
    y = GRID[:, None] - centre[1]
    c, s = np.cos(beta), np.sin(beta)
    along = (x * c + y * s) * np.sqrt(shape_q)
    across = (-x * s + y * c) / np.sqrt(shape_q)
    radius = np.hypot(along, across)
    angle = np.arctan2(across, along) + beta
    return radius, angle


def jitter(rng, colour, amount=0.08):
    """Vary a colour along the blue-red axis only: stellar populations never turn green."""
    return colour * np.exp(rng.normal(0.0, amount) * np.array([-1.0, 0.0, 1.0]))


def sersic(n, hlr, q, beta):
    return galsim.Sersic(n=n, half_light_radius=hlr, flux=1.0).shear(q=q, beta=beta * galsim.radians)


def spiral_pattern(radius, angle, arms, pitch_deg, start_radius, phase, sharpness, handed):
    """Logarithmic spiral density wave in [0, 1]; 0 inside `start_radius` (bulge or bar)."""
    wind = np.log(np.maximum(radius, 1e-3) / start_radius) / np.tan(np.radians(pitch_deg))
    wave = 0.5 * (1.0 + np.cos(arms * (angle - handed * wind) - phase))
    pattern = wave**sharpness
    ramp = np.clip((radius - 0.6 * start_radius) / (0.6 * start_radius), 0.0, 1.0)
    return pattern * ramp


def clumps(scene: Scene, weight_map: np.ndarray, count: int, total_flux: float, colour=YOUNG):
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
    scene.points(x, y, flux, jitter(rng, colour, 0.15))


def disk_galaxy(scene, flux, scale_length, q, beta, centre, bulge_fraction, bulge_n, arms=None, bar=None, clumpy=0.0):
    """Bulge + exponential disk, optionally with spiral arms and a bar; returns the face-on coords."""
    rng, look = scene.rng, scene.look
    disk = galsim.Exponential(scale_radius=scale_length, flux=1.0).shear(q=q, beta=beta * galsim.radians)
    disk_mono = draw_mono(scene, disk, centre)
    radius, angle = face_on(q, beta, centre)
    disk_flux = flux * (1.0 - bulge_fraction)
    if arms is not None:
        pattern = spiral_pattern(radius, angle, **arms)
        strength = rng.uniform(*look.arm_strength)
        arm_light = disk_mono * pattern
        arm_light *= disk_mono.sum() / max(arm_light.sum(), 1e-12)
        scene.add_mono(disk_flux * (1 - strength) * disk_mono, jitter(rng, look.mixed))
        scene.add_mono(disk_flux * strength * arm_light, jitter(rng, 0.5 * (look.mixed + YOUNG)))
        clumps(scene, arm_light, int(rng.integers(10, 40) * (1 + clumpy)), disk_flux * strength * (0.2 + 0.2 * clumpy) * look.clump_flux)
    else:
        scene.add_mono(disk_flux * disk_mono, jitter(rng, look.mixed))
    if bar is not None:
        bar_profile = galsim.Sersic(n=0.5, half_light_radius=bar["length"] * 0.6, flux=1.0)
        bar_profile = bar_profile.shear(q=bar["q"], beta=bar["angle"] * galsim.radians).shear(q=q, beta=beta * galsim.radians)
        scene.draw(bar_profile, jitter(rng, 0.5 * (look.old + look.mixed)) * flux * bar["fraction"], centre)
    if bulge_fraction > 0:
        bulge_q = float(np.clip(q + rng.uniform(0.2, 0.5), 0.5, 1.0))
        bulge = sersic(bulge_n, scale_length * rng.uniform(0.25, 0.5), bulge_q, beta)
        scene.draw(bulge, jitter(rng, look.old) * flux * bulge_fraction, centre)
    return radius, angle


def draw_mono(scene: Scene, profile, centre) -> np.ndarray:
    profile.drawImage(image=scene._canvas, method="no_pixel", offset=centre)
    return scene._canvas.array.copy()


def tidal_tail(scene, origin, start_angle, length, curl, width, flux, colour):
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
