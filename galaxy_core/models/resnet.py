"""Transfer-learned ResNet50 (first study): ImageNet backbone, last 20 layers fine-tuned, new dense head."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, resnet50

from galaxy_core.models.pretrained import freeze_all_but_last, load_pretrained

WEIGHTS_URL = ResNet50_Weights.IMAGENET1K_V2.url
TRAINABLE_LAYERS = 20


class ResNet50Classifier(nn.Module):
    gradcam_layer = "backbone.layer4.2"  # the last bottleneck block

    def __init__(self, num_classes: int = 10, weights: str | None = "imagenet", trainable_layers: int = TRAINABLE_LAYERS, dropout: float = 0.5):
        super().__init__()
        self.backbone = resnet50(weights=None)
        self.backbone.fc = nn.Identity()
        self.head = nn.Sequential(nn.Linear(2048, 256), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(256, num_classes))
        self.weights_source = "random"
        if weights:
            self.weights_source = load_pretrained(self, weights, "resnet50", WEIGHTS_URL, "backbone.", "fc.", ("head.",))
            freeze_all_but_last(self, trainable_layers, always_trainable=("head",))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 2048-d pooled backbone output."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
