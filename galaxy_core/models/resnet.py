"""Transfer-learned ResNet50 (first study): ImageNet backbone, last 20 layers fine-tuned, new dense head."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, resnet50

from galaxy_core.models.pretrained import freeze_all_but_last, load_pretrained
from galaxy_core.models.recipe import Recipe
from galaxy_core.models.registry import register_model

WEIGHTS_URL = ResNet50_Weights.IMAGENET1K_V2.url
TRAINABLE_LAYERS = 20


@register_model("Transfer-learned ResNet50, last 20 layers fine-tuned (first study)", Recipe(
    "resnet50", image_size=224, normalisation="imagenet", optimizer="adam", learning_rate=1e-5, batch_size=32, epochs=50,
    label_smoothing=0.1, scheduler="plateau", plateau_patience=3, plateau_factor=0.5, early_stopping_patience=10,
    weights="imagenet", split="65/15/20"))
class ResNet50Classifier(nn.Module):
    gradcam_layer = "backbone.layer1"  # stride 4 (16x16 cells at 64 px); layer4 gives 2x2
    gradcam_method = "gradcam++"  # docs/explanations.md: the best pointing game of the layers and methods measured
    head_name = "head"

    def __init__(self, num_classes: int = 10, image_size: int | None = None, weights: str | None = "imagenet",
                 trainable_layers: int = TRAINABLE_LAYERS, dropout: float = 0.5):
        """`image_size` is not needed: global pooling takes any size."""
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
