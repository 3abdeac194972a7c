"""Latent spaces: each model's penultimate features (the autoencoder's latent vector); latent_gap.Projection maps them."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
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
