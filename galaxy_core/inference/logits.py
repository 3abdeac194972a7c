"""Logits and probabilities for dataset images or decoded uploads, through the one preprocessing path."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.prepared import input_batches
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.inference.forward import forward, reconstruct

def batch_logits(model: nn.Module, images, preprocessing: Preprocessing, device: torch.device, tta: bool = False) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> logits (N, 10) on the CPU; with `tta`, the mean of the 8 views' logits."""
    return forward(model, images, preprocessing, device, tta=tta).logits


def batch_features_and_logits(model: nn.Module, images, preprocessing: Preprocessing, device: torch.device,
                              tta: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W, 3) -> latent features and logits (`forward` is the head over `features`). With `tta` the
    logits are the mean over the 8 rotations/flips; the features stay those of the image as given (the first
    view), the ones the out-of-distribution thresholds were calibrated on."""
    out = forward(model, images, preprocessing, device, features=True, tta=tta)
    return out.features.numpy(), out.logits.numpy()


def dataset_logits(model: nn.Module, data: Galaxy10, indices: np.ndarray, preprocessing: Preprocessing, device: torch.device,
                   batch_size: int = 64, tta: bool = False, workers: int = 0, cache: bool = True,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Logits for the given images, in the given order (decoded once, then from the prepared-image cache)."""
    out, done = [], 0
    for images in input_batches(data, indices, preprocessing, batch_size, workers, cache):
        out.append(batch_logits(model, images, preprocessing, device, tta))
        done += len(images)
        if progress:
            progress(done, len(indices))
    return torch.cat(out).numpy() if out else np.empty((0, 10), np.float32)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def reconstructions(model: nn.Module, images, preprocessing: Preprocessing, device: torch.device | str = "cpu") -> np.ndarray:
    """The autoencoder's reconstructions of uint8 images, as uint8 (N, S, S, 3) images to look at."""
    if not getattr(model, "multitask", False):
        raise UserError("Only the autoencoder reconstructs images: choose an autoencoder checkpoint.")
    return (reconstruct(model, images, preprocessing, device) * 255 + 0.5).byte().permute(0, 2, 3, 1).numpy()
