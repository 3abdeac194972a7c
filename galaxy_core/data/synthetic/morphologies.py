"""One renderer per Galaxy10 class, and the field (stars, faint galaxies, neighbours) around each."""
from __future__ import annotations

from typing import Callable

import galsim
import numpy as np

from galaxy_core.data.synthetic.scene import (DUST_TAU, GRID, YOUNG, Scene, clumps, disk_galaxy, draw_mono, face_on, jitter, sersic,
                                              tidal_tail)

# One renderer per class: each adds the main object(s) to the scene.
def _disturbed(scene, rng, size, flux):
    old, mixed = scene.look.old, scene.look.mixed
    q, beta = rng.uniform(0.45, 0.95), rng.uniform(0, np.pi)
    centre = tuple(rng.normal(0, 2.5, 2))
    radius, angle = face_on(q, beta, centre)
    base = galsim.Exponential(scale_radius=size * 0.7, flux=1.0).shear(q=q, beta=beta * galsim.radians)
    mono = draw_mono(scene, base, centre)
    lopsided = mono * (1.0 + rng.uniform(0.5, 0.9) * np.cos(angle - rng.uniform(0, 2 * np.pi)))
    lopsided *= mono.sum() / max(lopsided.sum(), 1e-12)
    scene.add_mono(flux * 0.6 * lopsided, jitter(rng, 0.5 * (mixed + YOUNG)))
    clumps(scene, lopsided ** 0.7, int(rng.integers(8, 25)), flux * 0.3, 0.5 * (mixed + YOUNG))
    # Real disturbed galaxies keep a bright, compact core near the cutout's centre.
    core_offset = (centre[0] + rng.normal(0, size * 0.1), centre[1] + rng.normal(0, size * 0.1))
    scene.draw(sersic(2.5, size * 0.15, rng.uniform(0.6, 1), beta), jitter(rng, old) * flux * rng.uniform(0.15, 0.3), core_offset)
    for _ in range(int(rng.integers(1, 3))):  # plumes, warps, shells
        tidal_tail(scene, centre, rng.uniform(0, 2 * np.pi), size * rng.uniform(1.5, 3.5), rng.uniform(-1.2, 1.2),
                    size * 0.25, flux * rng.uniform(0.08, 0.2), jitter(rng, mixed))


def _merging(scene, rng, size, flux):
    old, mixed = scene.look.old, scene.look.mixed
    members = 2 if rng.random() < 0.8 else 3
    separation = size * rng.uniform(0.8, 2.4)
    axis = rng.uniform(0, 2 * np.pi)
    shares = rng.dirichlet(np.full(members, 2.5))
    for k in range(members):
        # Cutouts are centred on one member, as Galaxy10's catalogue positions are.
        offset = separation * k * 0.9
        wobble = rng.normal(0, size * 0.25, 2) if k else rng.normal(0, 1.5, 2)
        centre = (offset * np.cos(axis) + wobble[0], offset * np.sin(axis) + wobble[1])
        member_size = size * rng.uniform(0.5, 0.9)
        q, beta = rng.uniform(0.5, 1.0), rng.uniform(0, np.pi)
        if rng.random() < 0.5:
            scene.draw(sersic(rng.uniform(3, 5), member_size, q, beta), jitter(rng, old) * flux * shares[k], centre)
        else:
            disk_galaxy(scene, flux * shares[k], member_size * 0.6, q, beta, centre, rng.uniform(0.2, 0.5), 2.5)
        side = axis + (np.pi if k == 0 else 0.0) + rng.normal(0, 0.5)
        tidal_tail(scene, centre, side, size * rng.uniform(2.0, 4.5), rng.choice([-1, 1]) * rng.uniform(0.6, 1.8),
                    size * 0.2, flux * shares[k] * rng.uniform(0.15, 0.35), jitter(rng, 0.5 * (mixed + YOUNG)))


def _smooth(shape: int, q_range):
    """shape: 0 round, 1 in-between, 2 cigar-shaped (the look's Sérsic index range for each)."""
    def render(scene, rng, size, flux):
        look = scene.look
        q, beta = rng.uniform(*q_range), rng.uniform(0, np.pi)
        n = round(rng.uniform(*look.smooth_sersic_n[shape]) * 4) / 4  # GalSim caches profiles per n
        centre = tuple(rng.normal(0, 1.5, 2))
        colour = look.round_smooth_colour if shape == 0 else look.old
        scene.draw(sersic(n, size, q, beta), jitter(rng, colour, 0.06) * flux, centre)

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
        disk_galaxy(scene, flux, scale_length, q, beta, centre, rng.uniform(*bulge_range), rng.uniform(*scene.look.spiral_bulge_n),
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
        mono = draw_mono(scene, disk, centre)
        # Real edge-on disks look red: old stars seen through the disk's dust (domain_gap.py's g-r).
        disk_colour = jitter(rng, scene.look.old if with_bulge else scene.look.bare_edge_on_colour)
        disk_light = disk_colour[:, None, None] * mono * flux * (1 - bulge_fraction)
        if with_bulge:
            bulge = sersic(rng.uniform(*scene.look.edge_on_bulge_n), length * rng.uniform(0.35, 0.6), rng.uniform(0.55, 0.9), beta)
            disk_light += jitter(rng, scene.look.old)[:, None, None] * draw_mono(scene, bulge, centre) * flux * bulge_fraction
        if with_bulge or rng.random() < 0.4:  # a dust lane just off the mid-plane
            x = GRID[None, :] - centre[0]
            y = GRID[:, None] - centre[1]
            height = -x * np.sin(beta) + y * np.cos(beta) - rng.normal(0, 0.6)
            lane = np.exp(-0.5 * (height / rng.uniform(0.8, 1.6)) ** 2) * np.exp(-np.abs(x * np.cos(beta) + y * np.sin(beta)) / (3 * length))
            depth = rng.uniform(0.4, 0.8) if with_bulge else rng.uniform(0.2, 0.4)
            disk_light *= np.exp(-depth * DUST_TAU[:, None, None] * lane[None])
        scene.sharp += disk_light

    return render


RENDERERS: tuple[Callable, ...] = (
    _disturbed,
    _merging,
    _smooth(0, (0.8, 1.0)),  # round smooth
    _smooth(1, (0.45, 0.75)),  # in-between round smooth
    _smooth(2, (0.15, 0.35)),  # cigar-shaped smooth
    _spiral(True, (12, 28), (0.15, 0.35), 0.3),  # barred spiral
    _spiral(False, (7, 14), (0.2, 0.45), 0.0),  # unbarred tight spiral
    _spiral(False, (20, 35), (0.05, 0.2), 1.0),  # unbarred loose spiral
    _edge_on(False),  # edge-on without bulge
    _edge_on(True),  # edge-on with bulge
)


def field_objects(scene: Scene, rng: np.random.Generator, crowding: float = 1.0) -> None:
    """Foreground stars, faint background galaxies and neighbours, as in every DECaLS cutout."""
    old, mixed = scene.look.old, scene.look.mixed
    n_stars = rng.poisson(4)
    if n_stars:
        x, y = rng.uniform(-128, 128, (2, n_stars))
        flux = 10 ** rng.uniform(-0.5, 2.0, n_stars)
        colours = np.stack([jitter(rng, c, 0.1) for c in rng.choice([old, mixed, YOUNG, 0.5 * (old + mixed)], n_stars)])
        scene.points(x, y, flux, colours)
    n_faint = rng.poisson(20 * crowding)  # real cutouts show about 1.7x the faint sources of v1
    if n_faint:
        x, y = rng.uniform(-128, 128, (2, n_faint))
        flux = 10 ** rng.uniform(-1.0, 0.5, n_faint)
        colours = np.stack([jitter(rng, c, 0.15) for c in rng.choice([old, old * [0.6, 1, 1.3], mixed], n_faint)])
        scene.points(x, y, flux, colours, soft=True)
    for _ in range(rng.poisson(0.8 * crowding)):  # a resolved neighbour
        centre = tuple(rng.uniform(-115, 115, 2))
        neighbour = sersic(round(rng.uniform(1, 4)), rng.uniform(2, 6), rng.uniform(0.4, 1), rng.uniform(0, np.pi))
        scene.draw(neighbour, jitter(rng, mixed) * 10 ** rng.uniform(0.3, 1.5), centre)
