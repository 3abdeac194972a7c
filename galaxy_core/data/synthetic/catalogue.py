"""The catalogue of a synthetic file: shuffled labels in the real class balance, and sky metadata."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galaxy_core.classes import NUM_CLASSES, REAL_COUNTS
from galaxy_core.data.synthetic.looks import GENERATOR_VERSION, look_for
from galaxy_core.errors import UserError

GENERATOR = "galaxy_core.synthetic"


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


def make_catalogue(n: int, seed: int, balance: str = "real", version: int = GENERATOR_VERSION) -> Catalogue:
    """Labels (shuffled) and sky metadata for n galaxies, deterministic for the seed and version."""
    look_for(version)  # an unknown version fails here, with the versions there are
    rng = np.random.default_rng([seed, version, 0])
    labels = np.repeat(np.arange(NUM_CLASSES), class_counts(n, balance))
    labels = rng.permutation(labels).astype(np.uint8)
    ra = rng.uniform(0.0, 360.0, n)
    sin_dec = rng.uniform(np.sin(np.radians(-20.0)), np.sin(np.radians(35.0)), n)  # DECaLS-like band
    dec = np.degrees(np.arcsin(sin_dec))
    redshift = np.clip(rng.gamma(2.2, 0.025, n), 0.004, 0.35)
    pxscale = 0.262 * rng.uniform(1.0, 2.6, n)  # cutouts were resampled to 256 px
    return Catalogue(labels, ra, dec, redshift, pxscale)
