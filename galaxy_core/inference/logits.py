"""Logits and probabilities for dataset images or decoded uploads, through the one preprocessing path."""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np
import torch
from torch import nn

from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.prepared import input_batches
from galaxy_core.data.transforms import Preprocessing, preprocess
from galaxy_core.errors import UserError

# Held while a model that may be shared between threads (the dashboard's) runs: Grad-CAM hooks a
# model's layers, and another thread's forward pass through them would mix into its activations.
MODEL_LOCK = threading.RLock()


def dihedral_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 rotations by 90° and their mirror images: exact, loss-free test-time augmentation."""
    views = []
    for flipped in (x, torch.flip(x, dims=(-1,))):
        views += [torch.rot90(flipped, k, dims=(-2, -1)) for k in range(4)]
    return views


@torch.no_grad()
def batch_logits(model: nn.Module, images, preprocessing: Preprocessing, device: torch.device, tta: bool = False) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> logits (N, 10) on the CPU; with `tta`, the mean of the 8 views' logits."""
    x = preprocess(images, preprocessing, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        if tta:
            logits = torch.stack([model(view) for view in dihedral_views(x)]).float().mean(dim=0)
        else:
            logits = model(x).float()
    return logits.cpu()


@torch.no_grad()
def batch_features_and_logits(model: nn.Module, images, preprocessing: Preprocessing, device: torch.device,
                              tta: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W, 3) -> latent features and logits (`forward` is the head over `features`). With `tta` the
    logits are the mean over the 8 rotations/flips; the features stay those of the image as given (the first
    view), the ones the out-of-distribution thresholds were calibrated on."""
    x = preprocess(images, preprocessing, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    head = model.get_submodule(model.head_name)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        features = model.features(x)
        turned = dihedral_views(x)[1:] if tta else []  # the first view is x itself
        logits = torch.stack([head(features)] + [model(view) for view in turned]).float().mean(dim=0)
    return features.float().cpu().numpy(), logits.float().cpu().numpy()


def dataset_logits(model: nn.Module, data: Galaxy10, indices: np.ndarray, preprocessing: Preprocessing, device: torch.device,
                   batch_size: int = 64, tta: bool = False, workers: int = 0, cache: bool = True,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Logits for the given images, in the given order (decoded once, then from the prepared-image cache)."""
    model.eval()
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


@torch.no_grad()
def reconstructions(model: nn.Module, images, preprocessing: Preprocessing, device: torch.device | str = "cpu") -> np.ndarray:
    """The autoencoder's reconstructions of uint8 images, as uint8 (N, S, S, 3) images to look at."""
    if not getattr(model, "multitask", False):
        raise UserError("Only the autoencoder reconstructs images: choose an autoencoder checkpoint.")
    model.eval()
    _, rebuilt = model(preprocess(images, preprocessing, device=device), with_reconstruction=True)
    return (rebuilt.clamp(0, 1) * 255 + 0.5).byte().permute(0, 2, 3, 1).cpu().numpy()
