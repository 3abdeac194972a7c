"""Stratified, seeded train/val/test splits held as index lists.

The order within each class comes from a splitmix64 hash of (seed, index): plain integer
arithmetic, so a split is identical across runs, machines and numpy versions.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from galaxy_core.errors import UserError

SCHEMES = {
    "80/10/10": "the EfficientNet-B0/B2 study's split (default)",
    "65/15/20": "the CNN / autoencoder / ResNet50 study's split",
}
DEFAULT_SCHEME = "80/10/10"
PARTS = ("train", "val", "test")


def parse_scheme(scheme: str) -> tuple[float, float, float]:
    """'80/10/10' (or 80-10-10) -> (0.8, 0.1, 0.1); any three whole percentages summing to 100."""
    match = re.fullmatch(r"\s*(\d+)\s*[/-]\s*(\d+)\s*[/-]\s*(\d+)\s*", str(scheme))
    if not match:
        raise UserError(f"Split '{scheme}' is not of the form TRAIN/VAL/TEST in percent: use e.g. 80/10/10 or 65/15/20.")
    parts = [int(p) for p in match.groups()]
    if sum(parts) != 100 or parts[0] == 0:
        raise UserError(f"Split '{scheme}' must add up to 100 with a non-empty training part: use e.g. 80/10/10.")
    return tuple(p / 100 for p in parts)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    scheme: str
    seed: int

    def indices(self, part: str) -> np.ndarray:
        if part not in PARTS:
            raise UserError(f"Unknown split part '{part}': use one of {', '.join(PARTS)}.")
        return getattr(self, part)

    def sizes(self) -> dict[str, int]:
        return {part: int(len(self.indices(part))) for part in PARTS}

    def digest(self) -> str:
        """A short hash of the three index lists: checkpoints store it to prove which images they saw."""
        h = hashlib.sha256()
        for part in PARTS:
            h.update(part.encode())
            h.update(np.asarray(self.indices(part), dtype="<i8").tobytes())
        return h.hexdigest()[:16]

    def without(self, excluded) -> "Split":
        """The same split with `excluded` images taken out of its training and validation parts (the test part keeps
        them: scoring on an image never trained on is fine). Real check-set galaxies found in a file go this way."""
        excluded = np.asarray(sorted(excluded), dtype=np.int64)
        if not len(excluded):
            return self
        return Split(np.setdiff1d(self.train, excluded), np.setdiff1d(self.val, excluded), self.test, self.scheme, self.seed)

    def describe(self) -> dict:
        return {"scheme": self.scheme, "seed": self.seed, "sizes": self.sizes(), "digest": self.digest()}


def stratified_split(labels: np.ndarray, scheme: str = DEFAULT_SCHEME, seed: int = 0) -> Split:
    """Split each class by the scheme's fractions (rounded per class), in a seeded hash order."""
    _, val_frac, test_frac = parse_scheme(scheme)
    labels = np.asarray(labels)
    with np.errstate(over="ignore"):  # uint64 wrap-around is the point of the hash
        keys = _splitmix64(np.arange(len(labels), dtype=np.uint64) ^ _splitmix64(np.array([seed], dtype=np.uint64))[0])
    parts = {part: [] for part in PARTS}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[np.argsort(keys[members], kind="stable")]
        n_test = int(np.floor(len(members) * test_frac + 0.5))
        n_val = int(np.floor(len(members) * val_frac + 0.5))
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    joined = {part: np.sort(np.concatenate(chunks)).astype(np.int64) for part, chunks in parts.items()}
    return Split(joined["train"], joined["val"], joined["test"], scheme, seed)


def select(labels: np.ndarray, split: Split | None = None, part: str | None = None, label: int | None = None) -> np.ndarray:
    """Indices (ascending) in a split part and/or of a class; None means no filter."""
    chosen = np.arange(len(labels)) if part is None or split is None else split.indices(part)
    if label is not None:
        chosen = chosen[np.asarray(labels)[chosen] == label]
    return chosen
