"""The first study's multi-task model: a shared encoder feeding a decoder (reconstruction) and a classifier."""
from __future__ import annotations

import torch
from torch import nn

from galaxy_core.errors import UserError
from galaxy_core.models.recipe import Recipe
from galaxy_core.models.registry import register_model


def _down(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def _up(c_in: int, c_out: int, last: bool = False) -> nn.Module:
    layers = [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)]
    layers += [nn.Sigmoid()] if last else [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


@register_model("Autoencoder-classifier multi-task model (first study)", Recipe(
    "autoencoder", image_size=256, optimizer="adam", learning_rate=1e-4, batch_size=64, epochs=70, label_smoothing=0.1,
    grad_clip=1.0, reconstruction_weight=0.5, split="65/15/20"))
class AutoencoderClassifier(nn.Module):
    """Encoder: 4 stride-2 convs to a latent vector. Decoder: transposed convs back to the image,
    sigmoid output (inputs are in [0, 1]), trained with MSE. Classifier: FC + batch norm + dropout.

    `forward` gives logits like every model; with `with_reconstruction=True` it also gives the
    reconstruction (a keyword, so it passes through DistributedDataParallel's forward).
    """

    gradcam_layer = "encoder.1"  # the second encoder stage: 1/4 of the input (16x16 cells at 64 px)
    gradcam_method = "layercam"  # docs/explanations.md: the best pointing game of the layers and methods measured
    head_name = "classifier"
    multitask = True

    def __init__(self, num_classes: int = 10, image_size: int = 256, weights: str | None = None, channels=(32, 64, 128, 256),
                 latent_dim: int = 256, dropout: float = 0.3):
        super().__init__()
        if weights:
            raise UserError("The autoencoder has no pretrained weights: train it from scratch (--weights none).")
        widths = (3, *channels)
        self.encoder = nn.Sequential(*[_down(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.side = image_size // 16
        flat = channels[-1] * self.side * self.side
        self.to_latent = nn.Sequential(nn.Flatten(), nn.Linear(flat, latent_dim), nn.ReLU(inplace=True))
        self.from_latent = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU(inplace=True))
        reversed_widths = widths[::-1]
        self.decoder = nn.Sequential(*[
            _up(a, b, last=(i == len(channels) - 1)) for i, (a, b) in enumerate(zip(reversed_widths[:-1], reversed_widths[1:]))
        ])
        self.classifier = nn.Sequential(
            nn.Linear(latent_dim, 128), nn.BatchNorm1d(128), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(128, num_classes)
        )
        self.channels = channels

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The autoencoder's latent vector."""
        return self.to_latent(self.encoder(x))

    def reconstruct_from(self, latent: torch.Tensor) -> torch.Tensor:
        grid = self.from_latent(latent).view(-1, self.channels[-1], self.side, self.side)
        return self.decoder(grid)

    def forward(self, x: torch.Tensor, with_reconstruction: bool = False):
        latent = self.features(x)
        logits = self.classifier(latent)
        return (logits, self.reconstruct_from(latent)) if with_reconstruction else logits
