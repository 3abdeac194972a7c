"""EfficientNet-B0 (torchvision, ImageNet-pretrained) and EfficientNet-B2 (timm, from scratch): the second study."""
from __future__ import annotations

import timm
import torch
from torch import nn
from torchvision.models import EfficientNet_B0_Weights, efficientnet_b0

from galaxy_core.models.pretrained import load_pretrained

B0_WEIGHTS_URL = EfficientNet_B0_Weights.IMAGENET1K_V1.url


class EfficientNetB0Classifier(nn.Module):
    gradcam_layer = "net.features.8"  # the last conv block before pooling

    def __init__(self, num_classes: int = 10, weights: str | None = "imagenet", dropout: float = 0.2):
        super().__init__()
        self.net = efficientnet_b0(weights=None)
        self.net.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))
        self.weights_source = "random"
        if weights:
            self.weights_source = load_pretrained(self, weights, "efficientnet_b0", B0_WEIGHTS_URL, "net.", "classifier.", ("net.classifier.",))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.net.avgpool(self.net.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.classifier(self.features(x))


class EfficientNetB2Classifier(nn.Module):
    gradcam_layer = "net.bn2"  # after conv_head: the last spatial map

    def __init__(self, num_classes: int = 10, weights: str | None = None, dropout: float = 0.3):
        super().__init__()
        self.net = timm.create_model("efficientnet_b2", pretrained=False, num_classes=num_classes, drop_rate=dropout)
        self.weights_source = "random"
        if weights:  # the study trained B2 from scratch; a local file may still seed it
            self.weights_source = load_pretrained(self, weights, "efficientnet_b2", None, "net.", "classifier.", ("net.classifier.",))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.classifier(self.features(x))
