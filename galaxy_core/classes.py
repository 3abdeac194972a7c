"""The ten Galaxy10 DECaLS morphology classes, in the dataset's own label order."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GalaxyClass:
    index: int
    name: str
    short: str
    colour: str  # hex, used consistently by every chart
    real_count: int  # images of this class in the real Galaxy10_DECals.h5


CLASSES: tuple[GalaxyClass, ...] = (
    GalaxyClass(0, "Disturbed", "disturbed", "#8c564b", 1081),
    GalaxyClass(1, "Merging", "merging", "#d62728", 1853),
    GalaxyClass(2, "Round Smooth", "round", "#ff7f0e", 2645),
    GalaxyClass(3, "In-between Round Smooth", "in-between", "#bcbd22", 2027),
    GalaxyClass(4, "Cigar Shaped Smooth", "cigar", "#e377c2", 334),
    GalaxyClass(5, "Barred Spiral", "barred", "#1f77b4", 2043),
    GalaxyClass(6, "Unbarred Tight Spiral", "tight spiral", "#17becf", 1829),
    GalaxyClass(7, "Unbarred Loose Spiral", "loose spiral", "#2ca02c", 2628),
    GalaxyClass(8, "Edge-on without Bulge", "edge-on", "#9467bd", 1423),
    GalaxyClass(9, "Edge-on with Bulge", "edge-on bulge", "#7f7f7f", 1873),
)

NUM_CLASSES = len(CLASSES)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
REAL_COUNTS: tuple[int, ...] = tuple(c.real_count for c in CLASSES)
REAL_TOTAL = sum(REAL_COUNTS)  # 17,736
