"""The first study's baseline: four conv blocks, a 512-unit dense layer, softmax over ten classes."""
from __future__ import annotations

import torch
from torch import nn

from galaxy_core.errors import UserError
from galaxy_core.models.recipe import Recipe
from galaxy_core.models.registry import register_model


@register_model("Baseline 4-block CNN (first study)", Recipe(
    "cnn", image_size=256, optimizer="adam", learning_rate=1e-4, batch_size=32, epochs=50, split="65/15/20"))
class BaselineCNN(nn.Module):
    """4 x [3x3 conv, ReLU, batch norm, 2x2 max-pool, dropout 0.25] with growing channels, then
    flatten, FC 512 + ReLU + dropout 0.25, FC 10 (the softmax lives in the loss)."""

    gradcam_layer = "blocks.1"  # after the second block: 1/4 of the input (16x16 cells at 64 px)
    gradcam_method = "layercam"  # docs/explanations.md: the best pointing game of the layers and methods measured
    head_name = "head"  # the classifier, trained alone by `train --init ... --trainable head`

    def __init__(self, num_classes: int = 10, image_size: int = 256, weights: str | None = None, channels=(32, 64, 128, 256),
                 dropout: float = 0.25, hidden: int = 512):
        super().__init__()
        if weights:
            raise UserError("The baseline CNN has no pretrained weights: train it from scratch (--weights none).")
        layers, previous = [], 3
        for width in channels:
            layers.append(nn.Sequential(
                nn.Conv2d(previous, width, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(width),
                nn.MaxPool2d(2), nn.Dropout(dropout),
            ))
            previous = width
        self.blocks = nn.Sequential(*layers)
        side = image_size // 2 ** len(channels)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(previous * side * side, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 512-d penultimate activations: the latent space the first study projects with PCA."""
        return self.hidden(self.blocks(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
