"""EfficientNet-B0 (torchvision, ImageNet-pretrained) and EfficientNet-B2 (timm, from scratch): the second study."""
from __future__ import annotations

import timm
import torch
from torch import nn
from torchvision.models import EfficientNet_B0_Weights, efficientnet_b0

from galaxy_core.models.pretrained import load_pretrained
from galaxy_core.models.recipe import Recipe
from galaxy_core.models.registry import register_model

B0_WEIGHTS_URL = EfficientNet_B0_Weights.IMAGENET1K_V1.url


@register_model("EfficientNet-B0, ImageNet-pretrained, 128 px (second study)", Recipe(
    "efficientnet_b0", image_size=128, normalisation="imagenet", optimizer="adamw", learning_rate=3e-4, weight_decay=1e-4,
    batch_size=64, epochs=30, label_smoothing=0.05, scheduler="cosine", cosine_t_max=30, weights="imagenet"))
class EfficientNetB0Classifier(nn.Module):
    gradcam_layer = "net.features.8"  # the last conv block before pooling
    head_name = "net.classifier"

    def __init__(self, num_classes: int = 10, image_size: int | None = None, weights: str | None = "imagenet", dropout: float = 0.2):
        """`image_size` is not needed: global pooling takes any size."""
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


@register_model("EfficientNet-B2 from scratch, 260 -> 224 px (second study)", Recipe(
    "efficientnet_b2", image_size=224, resize=260, normalisation="imagenet", optimizer="adamw", learning_rate=2e-4,
    weight_decay=1e-4, batch_size=32, epochs=30, label_smoothing=0.05, scheduler="cosine", cosine_t_max=30))
class EfficientNetB2Classifier(nn.Module):
    gradcam_layer = "net.bn2"  # after conv_head: the last spatial map
    head_name = "net.classifier"

    def __init__(self, num_classes: int = 10, image_size: int | None = None, weights: str | None = None, dropout: float = 0.3):
        """`image_size` is not needed: global pooling takes any size."""
        super().__init__()
        self.net = timm.create_model("efficientnet_b2", pretrained=False, num_classes=num_classes, drop_rate=dropout)
        self.weights_source = "random"
        if weights:  # the study trained B2 from scratch; a local file may still seed it
            self.weights_source = load_pretrained(self, weights, "efficientnet_b2", None, "net.", "classifier.", ("net.classifier.",))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.classifier(self.features(x))
