"""Latent spaces: each model's penultimate features (the autoencoder's latent vector) and their PCA."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from sklearn.decomposition import PCA
from torch import nn

from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.prepared import input_batches
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.inference.forward import features_of


def feature_batches(model: nn.Module, data: Galaxy10, indices: np.ndarray, preprocessing: Preprocessing, device: torch.device,
                    batch_size: int = 64) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(resized uint8 images, latent features) per batch, through the prepared-image cache and the one forward pass
    (so on CUDA under the same autocast as predictions: OOD thresholds fitted here hold for what `predict` scores)."""
    for images in input_batches(data, indices, preprocessing, batch_size):
        yield images.numpy(), features_of(model, images, preprocessing, device)


def latent_features(model: nn.Module, data: Galaxy10, indices: np.ndarray, preprocessing: Preprocessing, device: torch.device,
                    batch_size: int = 64) -> np.ndarray:
    return np.concatenate([features for _, features in feature_batches(model, data, indices, preprocessing, device, batch_size)])


def pca_projection(features: np.ndarray, components: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(N, components) coordinates and the variance ratio each component explains.

    Always `components` columns: with fewer images or features than that, the missing ones are zero.
    """
    coords = np.zeros((features.shape[0], components))
    ratio = np.zeros(components)
    usable = min(components, features.shape[0] - 1, features.shape[1])
    if usable >= 1:
        pca = PCA(n_components=usable, random_state=0)
        coords[:, :usable] = pca.fit_transform(features)
        ratio[:usable] = pca.explained_variance_ratio_
    return coords, ratio
