"""The generator versions: one renderer, and per version the numbers that set how its galaxies look.

v2 is the default: the shipped checkpoints were trained on it, and the default dataset's name and
fingerprint are v2's. v5 and v6 match the real check set class by class (benchmarks/domain_gap.py: no
class differs beyond chance; v6 also in how crisp the galaxies are), yet CNNs trained on v6 recognise
as many real galaxies as v2's, over six seeds (docs/benchmarks.md, "How crisp the galaxies are, and
generator v6"). All stay, so that every result there can be reproduced: `synth --out FILE
--generator-version 6`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from galaxy_core.errors import UserError

# The version the default dataset and the shipped checkpoints use.
GENERATOR_VERSION = 2


@dataclass(frozen=True, eq=False)
class Look:
    """What differs between versions. Colours are g, r, z flux ratios (r = 1)."""

    version: int
    old: np.ndarray  # old red stars: bulges, ellipticals
    mixed: np.ndarray  # a disk's mixed population
    round_smooth_colour: np.ndarray
    bare_edge_on_colour: np.ndarray  # an edge-on disk without a bulge (with one, it is `old`)
    smooth_sersic_n: tuple[tuple[float, float], ...]  # round, in-between, cigar-shaped
    spiral_bulge_n: tuple[float, float]
    arm_strength: tuple[float, float]  # share of a spiral disk's light in its arms
    clump_flux: float  # star-forming knots' light, relative to v2's
    edge_on_bulge_n: tuple[float, float]
    size_range: tuple[tuple[float, float], ...]  # half-light radius (pixels) per class
    # Flux per unit area relative to the other classes: thin edge-on disks would otherwise saturate
    # the stretch (real ones stay below it); small smooth galaxies are compact.
    surface_brightness: tuple[float, ...]
    # Field density per class: ellipticals and interacting galaxies live in groups and clusters.
    crowding: tuple[float, ...]
    flux_spread_dex: tuple[float, float]  # around the class's surface brightness
    seeing_fwhm: tuple[float, float]  # PSF FWHM in pixels of the resampled cutout


_OLD_V2 = np.array([0.45, 1.0, 1.62])
_MIXED_V2 = np.array([0.55, 1.0, 1.48])
_OLD_V5 = np.array([0.42, 1.0, 1.74])
_MIXED_V5 = np.array([0.53, 1.0, 1.58])

LOOKS = {
    # v2: matched to real cutouts by benchmarks/domain_gap.py's first statistics (JPEG artefacts,
    # more faint sources, redder edge-on disks, bright merger and disturbed cores, smaller smooth galaxies).
    2: Look(
        version=2,
        old=_OLD_V2,
        mixed=_MIXED_V2,
        round_smooth_colour=0.5 * (_OLD_V2 + _MIXED_V2),
        bare_edge_on_colour=0.5 * (_OLD_V2 + _MIXED_V2),
        smooth_sersic_n=((2.5, 4.0), (1.5, 4.0), (1.0, 2.5)),
        spiral_bulge_n=(2.0, 4.0),
        arm_strength=(0.3, 0.6),
        clump_flux=1.0,
        edge_on_bulge_n=(2.0, 4.0),
        size_range=((7, 16), (8, 16), (5, 12), (5, 12), (5, 10), (12, 24), (11, 22), (12, 26), (16, 34), (14, 30)),
        surface_brightness=(1.0, 1.0, 1.2, 1.3, 1.8, 1.0, 1.0, 1.0, 0.45, 0.4),
        crowding=(1.5, 2.0, 2.5, 1.5, 1.5, 1.0, 1.0, 1.0, 1.0, 1.0),
        flux_spread_dex=(-0.15, 0.3),
        seeing_fwhm=(2.0, 4.2),
    ),
    # v5: matched class by class to domain_gap.py's Welch tests: brighter, flatter-cored smooth galaxies
    # and bulges, orange old stars, red edge-on disks, a wider spread of brightness and seeing. (v3 and v4
    # were steps on the way: v4's older spiral disks were redder than real ones 15-40 px out.)
    5: Look(
        version=5,
        old=_OLD_V5,
        mixed=_MIXED_V5,
        round_smooth_colour=_MIXED_V5,
        bare_edge_on_colour=_OLD_V5,
        smooth_sersic_n=((1.5, 3.0), (0.8, 2.0), (0.8, 2.0)),
        spiral_bulge_n=(1.5, 3.0),
        arm_strength=(0.3, 0.6),
        clump_flux=1.0,
        edge_on_bulge_n=(1.0, 2.5),
        size_range=((7, 16), (8, 16), (5, 12), (5, 12), (4, 9), (12, 24), (11, 22), (12, 26), (16, 34), (14, 30)),
        surface_brightness=(1.2, 1.7, 2.0, 3.2, 4.0, 1.0, 1.0, 1.0, 0.7, 0.65),
        crowding=(2.5, 2.0, 2.5, 1.0, 1.5, 1.0, 1.0, 1.0, 1.0, 1.0),
        flux_spread_dex=(-0.4, 0.45),
        seeing_fwhm=(2.5, 5.0),
    ),
}
# v6: v5 blurred to the check set's crispness. domain_gap.py's `structure` (band-pass spread 10-40 px out) found
# every v5 class but one crisper than real galaxies (0.33 against 0.24 over all): a wider PSF, weaker arms with
# brighter knots, and brighter surfaces to keep the centres as bright.
LOOKS[6] = replace(LOOKS[5], version=6, arm_strength=(0.2, 0.45), clump_flux=1.5, seeing_fwhm=(4.0, 7.0),
                   surface_brightness=(1.35, 1.9, 2.2, 3.6, 4.4, 1.1, 1.1, 1.1, 0.75, 0.7))
GENERATOR_VERSIONS = tuple(LOOKS)


def look_for(version: int) -> Look:
    if version not in LOOKS:
        raise UserError(f"There is no synthetic generator version {version}: use one of "
                        f"{', '.join(map(str, GENERATOR_VERSIONS))}.")
    return LOOKS[version]
