"""The Legacy Surveys' g/r/z asinh colour stretch: flux images in nanomaggies to an 8-bit RGB picture.

Galaxy10 DECaLS's JPEGs were made with it (legacypipe's sdss_rgb with the DR viewer's scales), the synthetic
generator applies it to its bands, and FITS cutouts get it before they are classified: one stretch for all three.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BANDS = ("g", "r", "z")
RGB_PLANE = {"g": 2, "r": 1, "z": 0}  # z -> red, r -> green, g -> blue


@dataclass(frozen=True)
class AsinhStretch:
    """Per-band scales (g, r, z), the offset added before the stretch, and the asinh softening Q."""

    scales: tuple[float, float, float] = (6.0, 3.4, 2.2)
    offset: float = 0.03
    q: float = 20.0

    def describe(self) -> str:
        g, r, z = self.scales
        return f"asinh stretch: Q {self.q:g}, offset {self.offset:g}, scales g {g:g}, r {r:g}, z {z:g}"


LEGACY_SURVEYS = AsinhStretch()


def legacy_rgb(grz: np.ndarray, stretch: AsinhStretch = LEGACY_SURVEYS) -> np.ndarray:
    """g, r, z flux images (3, H, W) to an RGB uint8 image (H, W, 3) with the Legacy Surveys asinh stretch."""
    scaled = grz * np.asarray(stretch.scales, dtype=np.float32)[:, None, None] + np.float32(stretch.offset)
    np.maximum(scaled, 0.0, out=scaled)
    intensity = scaled.mean(axis=0)
    intensity[intensity == 0] = 1e-6
    factor = np.arcsinh(stretch.q * intensity) / (np.sqrt(stretch.q) * intensity) * 255.0
    rgb = np.empty((grz.shape[1], grz.shape[2], 3), dtype=np.float32)
    for band, name in enumerate(BANDS):
        np.multiply(scaled[band], factor, out=rgb[:, :, RGB_PLANE[name]])
    np.clip(rgb, 0, 255, out=rgb)
    return np.rint(rgb).astype(np.uint8)


def grey_rgb(plane: np.ndarray, stretch: AsinhStretch = LEGACY_SURVEYS) -> np.ndarray:
    """One flux plane (H, W) as a grey picture: the same stretch with the r band's scale in all three colours."""
    scaled = np.maximum(plane.astype(np.float32) * np.float32(stretch.scales[1]) + np.float32(stretch.offset), 0.0)
    safe = np.where(scaled == 0, np.float32(1e-6), scaled)
    grey = np.clip(np.rint(np.arcsinh(stretch.q * safe) / np.sqrt(stretch.q) * 255.0 * (scaled > 0)), 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)
