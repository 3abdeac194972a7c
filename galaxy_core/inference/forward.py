"""The one inference forward pass: every prediction, latent feature, OOD fit and score, API answer and Grad-CAM map
goes through here, so device placement, autocast, channels-last and eval mode are decided once.

On CUDA the pass runs under bfloat16 autocast with channels-last inputs (as training does); elsewhere in float32.
Features and logits therefore always come from the same arithmetic: OOD thresholds fitted on features are never
scored against features computed another way.
"""
from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from galaxy_core.data.transforms import Preprocessing, preprocess

AUTOCAST_DTYPE = torch.bfloat16
_open = threading.local()  # how many `inference` contexts this thread is inside (tests check every pass is)


_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock of one model: a pass through it (and Grad-CAM's hooks on it) excludes other threads' passes through the
    same model only, so scoring one model never waits for another. Re-entrant: Grad-CAM runs the model inside its pass."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


def in_inference() -> bool:
    """Whether this thread is inside `inference`: a model's forward hook can ask, so tests pin that every pass is."""
    return getattr(_open, "depth", 0) > 0


@dataclass
class Forward:
    """What one pass gives, on the CPU as float32: logits (N, 10), and the latent features (N, D) when asked for."""

    logits: torch.Tensor
    features: torch.Tensor | None = None


def model_input(images, preprocessing: Preprocessing, device: torch.device | str) -> torch.Tensor:
    """uint8 (N, H, W, 3) images (or one (H, W, 3)) -> the network's input on `device`, channels-last on CUDA."""
    device = torch.device(device)
    x = preprocess(images, preprocessing, device=device)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


@contextmanager
def inference(model: nn.Module, device: torch.device | str, grad: bool = False):
    """The model's own lock held (a model shared between threads, as the dashboard's are, runs one pass at a time), eval
    mode (restored afterwards), the model on `device` (channels-last on CUDA), gradients off unless `grad` (Grad-CAM
    needs them), and bfloat16 autocast on CUDA."""
    device = torch.device(device)
    with model_lock(model):
        was_training = model.training
        if device.type == "cuda":
            model.to(device, memory_format=torch.channels_last)
        else:
            model.to(device)
        model.eval()
        _open.depth = getattr(_open, "depth", 0) + 1
        try:
            with torch.set_grad_enabled(grad), torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPE,
                                                              enabled=device.type == "cuda"):
                yield device
        finally:
            _open.depth -= 1
            model.train(was_training)


def dihedral_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 rotations by 90° and their mirror images: exact, loss-free test-time augmentation."""
    views = []
    for flipped in (x, torch.flip(x, dims=(-1,))):
        views += [torch.rot90(flipped, k, dims=(-2, -1)) for k in range(4)]
    return views


def forward(model: nn.Module, images, preprocessing: Preprocessing, device: torch.device | str, features: bool = False,
            tta: bool = False) -> Forward:
    """uint8 (N, H, W, 3) -> logits (and, with `features`, the latent vector `forward` puts its head on).

    With `tta` the logits are the mean over the 8 rotations/flips; the features stay those of the image as given,
    the ones the out-of-distribution thresholds were fitted on."""
    with inference(model, device) as device:
        x = model_input(images, preprocessing, device)
        latent = None
        if features:
            latent = model.features(x)
            first = model.get_submodule(model.head_name)(latent)
        else:
            first = model(x)
        turned = dihedral_views(x)[1:] if tta else []  # the first view is x itself
        logits = torch.stack([first] + [model(view) for view in turned]).float().mean(dim=0) if turned else first.float()
        return Forward(logits.cpu(), None if latent is None else latent.float().cpu())


def features_of(model: nn.Module, images, preprocessing: Preprocessing, device: torch.device | str) -> np.ndarray:
    """Latent features (N, D) of uint8 images, as float32 numpy."""
    return forward(model, images, preprocessing, device, features=True).features.numpy()


def reconstruct(model: nn.Module, images, preprocessing: Preprocessing, device: torch.device | str) -> torch.Tensor:
    """The autoencoder's reconstructions (N, 3, S, S) in [0, 1], float32 on the CPU."""
    with inference(model, device) as device:
        _, rebuilt = model(model_input(images, preprocessing, device), with_reconstruction=True)
        return rebuilt.float().clamp(0, 1).cpu()
