"""The central source of a cutout, found as astronomers find sources: sep (SExtractor's algorithms) on the image.

Every Galaxy10 galaxy sits at its cutout's centre, so the segment under the centre (or, when the centre pixel
falls between segments, the nearest one within a few pixels) is the galaxy an explanation should point at.
"""
from __future__ import annotations

import numpy as np
import sep

DETECTION_SIGMA = 1.5  # SExtractor's usual threshold, in units of the background's noise
MIN_AREA = 20  # pixels: smaller detections are noise peaks or faint stars
CENTRE_SEARCH = 8  # pixels: how far from the centre a segment may start when the centre pixel is sky
FALLBACK_RADIUS = 56  # pixels (15 arcsec at 0.262"/px): the circle used when no source is found there


def central_source(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """A boolean mask of the central source of an RGB cutout, and whether it was found (else a 56-px circle)."""
    grey = np.ascontiguousarray(image.astype(np.float32).mean(axis=2))
    height, width = grey.shape
    rows, cols = np.mgrid[:height, :width]
    distance = np.hypot(cols - (width - 1) / 2, rows - (height - 1) / 2)
    try:
        background = sep.Background(grey)
        _, segments = sep.extract(grey - background, DETECTION_SIGMA, err=background.globalrms, minarea=MIN_AREA,
                                  segmentation_map=True)
    except Exception:  # sep's errors are plain Exceptions (a blank image, too many objects): fall back to the circle
        return distance <= FALLBACK_RADIUS, False
    near = segments[distance <= CENTRE_SEARCH]
    near = near[near > 0]
    if near.size == 0:
        return distance <= FALLBACK_RADIUS, False
    label = segments[height // 2, width // 2] or int(np.bincount(near).argmax())
    return segments == label, True
