"""The one preprocessing path: training, evaluation, Grad-CAM and uploads all call `preprocess`.

Images arrive as uint8 (N, H, W, 3) and leave as float32 (N, 3, S, S) on the same device:
resized and centre-cropped, scaled to [0, 1] (as in both studies), optionally augmented, normalised.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from galaxy_core.classes import NUM_CLASSES
from galaxy_core.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects. `resize` > `input_size` means resize, then centre-crop (EfficientNet-B2: 260 -> 224)."""

    input_size: int
    resize: int | None = None
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self):
        if self.input_size < 8 or (self.resize is not None and self.resize < self.input_size):
            raise UserError(f"Image size {self.input_size} (resize {self.resize}) is invalid: use at least 8 px, with resize >= size.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocessing":
        return cls(int(data["input_size"]), data.get("resize"), tuple(data["mean"]), tuple(data["std"]))


def as_batch(images) -> torch.Tensor:
    """uint8 images as a (N, H, W, 3) tensor, from numpy or torch, one image or many."""
    if not isinstance(images, torch.Tensor):
        images = np.asarray(images)
        if not images.flags.writeable:  # decoded images can be read-only; torch wants its own copy then
            images = images.copy()
    batch = torch.as_tensor(images)
    if batch.ndim == 3:
        batch = batch.unsqueeze(0)
    if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != torch.uint8:
        raise UserError(f"Expected uint8 RGB images of shape (N, H, W, 3), got {tuple(batch.shape)} {batch.dtype}.")
    return batch


def preprocess(images, preprocessing: Preprocessing, augment: bool = False, generator: torch.Generator | None = None,
               device: torch.device | str | None = None, look: bool = False) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> normalised float32 (N, 3, S, S).

    `augment`: random flips and rotations; `look` (with augment): also scale, brightness, colour
    balance, seeing and noise, the ways real cutouts vary (`random_look`)."""
    batch = as_batch(images)
    if device is not None:
        batch = batch.to(device, non_blocking=True)
    x = resized(batch, preprocessing)
    if x.shape[-1] != preprocessing.input_size:
        x = TF.center_crop(x, [preprocessing.input_size, preprocessing.input_size])
    if augment:  # rotating 0-255 floats: the corners outside the rotated frame become 0, black sky
        x = random_flip_rotate(x.float(), generator, zoom=LOOK_ZOOM if look else 0.0)
        if look:
            x = random_look(x, generator)
    # ((x / 255) - mean) / std as one multiply-add straight from uint8: half the time of four passes.
    mean = torch.tensor(preprocessing.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(preprocessing.std, device=x.device).view(1, 3, 1, 1)
    return torch.addcmul(-mean / std, x, 1.0 / (255.0 * std))


def resized(batch: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> uint8 (N, 3, side, side), side = `preprocessing.resize or preprocessing.input_size`, before any crop.

    Resizing while still uint8: on the CPU, torchvision's channels-last uint8 bilinear kernel is
    14-19x faster than resizing floats (docs/benchmarks.md), and the rounding it adds (at most
    half a grey level) is what PIL-based pipelines do anyway. Images already at `side` pass through,
    which is how the prepared-image cache (`data/prepared.py`) skips this step.
    """
    x = batch.permute(0, 3, 1, 2)
    side = preprocessing.resize or preprocessing.input_size
    if x.shape[-2:] != (side, side):
        x = TF.resize(x, [side, side], antialias=True)
    return x


def random_flip_rotate(x: torch.Tensor, generator: torch.Generator | None = None, zoom: float = 0.0) -> torch.Tensor:
    """Per-image random flip and rotation over ±180°: galaxies have no preferred orientation; with
    `zoom` > 0, also a scale change between exp(-zoom) and exp(zoom) (galaxy sizes vary).

    One affine grid-sample for the whole batch; corners outside the rotated frame become black sky.
    """
    n = x.shape[0]
    angles = (torch.rand(n, generator=generator) * 2 - 1) * math.pi
    flips = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    # only with zoom: runs without it draw exactly the random numbers they always did
    shrink = torch.exp(-(torch.rand(n, generator=generator) * 2 - 1) * zoom) if zoom > 0 else torch.ones(n)
    cos, sin = torch.cos(angles) * shrink, torch.sin(angles) * shrink
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos * flips, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * flips, cos
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


LOOK_ZOOM = math.log(1.25)  # scale changes up to 25% either way
LOOK_BRIGHTNESS = 0.25  # gain up to exp(±0.25)
LOOK_COLOUR = 0.1  # per-channel gain up to exp(±0.1): colour balance
LOOK_MAX_BLUR = 1.2  # Gaussian seeing, sigma in input pixels
LOOK_MAX_NOISE = 5.0  # added noise, sigma in grey levels


def random_look(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """0-255 float batch -> the same galaxies as another survey night or pipeline might show them:
    per-image brightness and colour-balance gains, one seeing blur per batch, per-image noise."""
    n = x.shape[0]

    def uniform(*shape):  # in [-1, 1), drawn on the CPU so a seeded generator gives the same run everywhere
        return torch.rand(*shape, generator=generator) * 2 - 1

    gain = torch.exp(uniform(n, 1, 1, 1) * LOOK_BRIGHTNESS + uniform(n, 3, 1, 1) * LOOK_COLOUR)
    x = x * gain.to(x.device, x.dtype)
    sigma = float(torch.rand(1, generator=generator)) * LOOK_MAX_BLUR
    if sigma > 0.3:
        x = TF.gaussian_blur(x, [2 * math.ceil(3 * sigma) + 1] * 2, [sigma, sigma])
    noise = torch.randn(x.shape, generator=generator) * (torch.rand(n, 1, 1, 1, generator=generator) * LOOK_MAX_NOISE)
    return (x + noise.to(x.device, x.dtype)).clamp(0.0, 255.0)


def one_hot(labels, num_classes: int = NUM_CLASSES, smoothing: float = 0.0) -> torch.Tensor:
    """One-hot targets, optionally label-smoothed: (1 - eps) on the true class plus eps / K everywhere."""
    if not 0.0 <= smoothing < 1.0:
        raise UserError(f"Label smoothing must be in [0, 1), got {smoothing}.")
    labels = torch.as_tensor(labels, dtype=torch.long)
    target = F.one_hot(labels, num_classes).float()
    return target * (1.0 - smoothing) + smoothing / num_classes
