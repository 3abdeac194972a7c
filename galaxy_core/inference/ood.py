"""Out-of-distribution scores: does an image look like what a model saw in training?

Two distances, each divided by its own threshold (the 99th percentile over the validation split of
the data the model was trained on), and the larger of the two is the image's `ood_score`; above 1
the image is flagged `ood`:
- features: the squared distance, in the PCA-whitened space of the model's latent features (fitted
  on training images), to the nearest class mean (a Mahalanobis distance with a shared covariance);
- galaxy presence: the Mahalanobis distance of two pixel statistics (the centre's brightness over
  the border's, and the centre's brightness) from those of the training images. Uniform, black,
  noise and checkerboard images, and empty star fields, have no bright centre over dark sky.

The fitted numbers live beside the checkpoint in `ood.safetensors` (meta.json says how they were made). Real
galaxies lie farther out than synthetic validation images, so meta.json's `ood.real_galaxies` may raise both
thresholds to what real Galaxy10 cutouts need (evaluation/ood_calibration.py fits and checks them).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from galaxy_core.data.transforms import Preprocessing, as_batch, resized
from galaxy_core.errors import UserError
from galaxy_core.fileio import atomic_path

OOD_FILE = "ood.safetensors"
QUANTILE = 99.0
COMPONENTS = 64
EPS = 1e-3


def image_statistics(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) -> (N, 2): log(centre - border brightness), log(centre brightness).

    The centre is the central eighth of the frame (where Galaxy10 cutouts put the galaxy), the
    border the outer sixteenth at the top and bottom. Measured on images resized to the model's
    input side (before any crop), in calibration and prediction alike.
    """
    x = np.asarray(images, dtype=np.float32).mean(axis=-1) / 255.0  # (N, H, W) luminance
    height, width = x.shape[1:]
    cy, cx, r = height // 2, width // 2, max(1, min(height, width) // 16)
    centre = x[:, cy - r : cy + r, cx - r : cx + r].mean(axis=(1, 2))
    edge = max(1, height // 16)
    border = np.concatenate([x[:, :edge], x[:, -edge:]], axis=1).mean(axis=(1, 2))
    return np.stack([np.log(np.maximum(centre - border, 0.0) + EPS), np.log(centre + EPS)], axis=1)


def input_statistics(images: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """`image_statistics` of uint8 (N, H, W, 3) cutouts as a model with this preprocessing sees them (resized, not cropped)."""
    return image_statistics(resized(as_batch(images), preprocessing).permute(0, 2, 3, 1).numpy())


@dataclass
class OodModel:
    feature_mean: np.ndarray  # (D,)
    components: np.ndarray  # (K, D): PCA directions of the training features
    scale: np.ndarray  # (K,): their standard deviations
    class_means: np.ndarray  # (C, K): per-class means in the whitened space
    feature_threshold: np.ndarray  # one value: the 99th percentile of the validation images' feature distance
    pixel_mean: np.ndarray  # (2,)
    pixel_precision: np.ndarray  # (2, 2)
    pixel_threshold: np.ndarray  # one value

    def feature_distance(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, np.float64) - self.feature_mean) @ self.components.T / self.scale
        return ((z[:, None, :] - self.class_means[None]) ** 2).sum(axis=-1).min(axis=1)

    def pixel_distance(self, statistics: np.ndarray) -> np.ndarray:
        """Distance of `image_statistics` rows from the training images'."""
        d = statistics - self.pixel_mean
        return np.einsum("ij,jk,ik->i", d, self.pixel_precision, d)

    def scores(self, features: np.ndarray, statistics: np.ndarray) -> np.ndarray:
        """(N,) ood_score from features and `image_statistics`: the larger distance over its threshold; > 1 is out of distribution."""
        return np.maximum(self.feature_distance(features) / self.feature_threshold.item(),
                          self.pixel_distance(statistics) / self.pixel_threshold.item())

    def save(self, directory: str | Path) -> str:
        """Write `ood.safetensors` atomically; returns its SHA256 (meta.json records it)."""
        path = Path(directory) / OOD_FILE
        # The PCA directions are nearly all of the file: float32 halves it (scores move by ~1e-7, relative).
        dtypes = {f.name: np.float32 if f.name == "components" else np.float64 for f in fields(self)}
        with atomic_path(path) as tmp:
            save_file({name: torch.from_numpy(np.ascontiguousarray(getattr(self, name), dtype=dtype)) for name, dtype in dtypes.items()},
                      str(tmp))
        return hashlib.sha256(path.read_bytes()).hexdigest()


def fit_ood(train_features: np.ndarray, train_labels: np.ndarray, val_features: np.ndarray, train_images_stats: np.ndarray,
            val_images_stats: np.ndarray, components: int = COMPONENTS) -> OodModel:
    """Fit both distances on training images and set their thresholds on validation images."""
    features = np.asarray(train_features, np.float64)
    mean = features.mean(axis=0)
    _, singular, directions = np.linalg.svd(features - mean, full_matrices=False)
    k = max(1, min(components, len(features) - 1, features.shape[1]))
    scale = np.maximum(singular[:k] / np.sqrt(max(len(features) - 1, 1)), 1e-6)
    whitened = (features - mean) @ directions[:k].T / scale
    class_means = np.stack([whitened[train_labels == c].mean(axis=0) if np.any(train_labels == c) else np.full(k, np.inf)
                            for c in range(int(train_labels.max()) + 1)])
    pixel_mean = train_images_stats.mean(axis=0)
    covariance = np.cov(train_images_stats, rowvar=False) + 1e-6 * np.eye(train_images_stats.shape[1])
    model = OodModel(mean, directions[:k], scale, class_means, np.array(1.0), pixel_mean, np.linalg.inv(covariance), np.array(1.0))
    model.feature_threshold = np.array(max(np.percentile(model.feature_distance(val_features), QUANTILE), 1e-6))
    model.pixel_threshold = np.array(max(np.percentile(model.pixel_distance(val_images_stats), QUANTILE), 1e-6))
    return model


def load_ood(directory: str | Path, meta: dict) -> OodModel | None:
    """A checkpoint's OOD model, or None for checkpoints calibrated before OOD scores existed."""
    info = meta.get("ood")
    if not info:
        return None
    path = Path(directory) / OOD_FILE
    try:
        tensors = load_file(str(path))
        if hashlib.sha256(path.read_bytes()).hexdigest() != info.get("sha256"):
            raise ValueError("checksum")
        return with_real_thresholds(OodModel(**{f.name: tensors[f.name].numpy() for f in fields(OodModel)}), info.get("real_galaxies"))
    except (OSError, SafetensorError, KeyError, TypeError, ValueError):
        raise OodFileError(directory, f"{path} is missing or does not match meta.json: the checkpoint's out-of-distribution "
                                      "scores must be fitted again") from None


def with_real_thresholds(model: OodModel, real: dict | None) -> OodModel:
    """Raise the thresholds to those fitted on real galaxies (meta.json's ood.real_galaxies), never lower them: a real
    DECaLS cutout is what the model is for, even where its features lie farther out than the synthetic validation's."""
    if real:
        model.feature_threshold = np.array(max(model.feature_threshold.item(), float(real["feature_threshold"])))
        model.pixel_threshold = np.array(max(model.pixel_threshold.item(), float(real["pixel_threshold"])))
    return model


class OodFileError(UserError):
    """A checkpoint's OOD file is missing or damaged. The message is a clause: each surface adds how to refit it."""

    def __init__(self, directory: str | Path, message: str):
        super().__init__(message)
        self.directory = Path(directory)
