"""The two studies' hyper-parameters, one frozen recipe per model; any field can be overridden."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from galaxy_core.errors import UserError


@dataclass(frozen=True)
class Recipe:
    model: str
    image_size: int  # the side the network sees
    resize: int | None = None  # resize to this first, then centre-crop to image_size
    normalisation: str = "unit"  # "unit": [0, 1] as in both studies; "imagenet": ImageNet mean/std
    optimizer: str = "adam"  # adam | adamw
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 50
    label_smoothing: float = 0.0
    grad_clip: float | None = None  # max gradient norm
    scheduler: str = "none"  # none | cosine | plateau
    cosine_t_max: int = 30
    plateau_patience: int = 3  # epochs without val-loss improvement before the LR is halved
    plateau_factor: float = 0.5
    early_stopping_patience: int | None = None  # epochs without val-loss improvement; restores the best
    reconstruction_weight: float = 0.0  # autoencoder: weight of the MSE reconstruction loss
    weights: str | None = None  # "imagenet", a local file, or None (from scratch)
    split: str = "80/10/10"
    augment: bool = True  # flips and rotation over ±180°
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def override(self, **changes) -> "Recipe":
        """A copy with the given fields changed (None values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise UserError(f"Unknown recipe setting(s): {', '.join(sorted(unknown))}.")
        updated = replace(self, **changes)
        if updated.epochs < 1 or updated.batch_size < 1:
            raise UserError("Epochs and batch size must be at least 1.")
        if updated.resize is not None and updated.resize < updated.image_size:
            updated = replace(updated, resize=None)  # an override of image_size beyond the resize
        return updated


# First study: baseline CNN, autoencoder-classifier, ResNet50 (65/15/20 split).
# Second study: EfficientNet-B0 and -B2 (80/10/10 split).
RECIPES: dict[str, Recipe] = {
    "cnn": Recipe("cnn", image_size=256, optimizer="adam", learning_rate=1e-4, batch_size=32, epochs=50, split="65/15/20"),
    "autoencoder": Recipe("autoencoder", image_size=256, optimizer="adam", learning_rate=1e-4, batch_size=64, epochs=70,
                          label_smoothing=0.1, grad_clip=1.0, reconstruction_weight=0.5, split="65/15/20"),
    "resnet50": Recipe("resnet50", image_size=224, normalisation="imagenet", optimizer="adam", learning_rate=1e-5, batch_size=32,
                       epochs=50, label_smoothing=0.1, scheduler="plateau", plateau_patience=3, plateau_factor=0.5,
                       early_stopping_patience=10, weights="imagenet", split="65/15/20"),
    "efficientnet_b0": Recipe("efficientnet_b0", image_size=128, normalisation="imagenet", optimizer="adamw", learning_rate=3e-4,
                              weight_decay=1e-4, batch_size=64, epochs=30, label_smoothing=0.05, scheduler="cosine", cosine_t_max=30,
                              weights="imagenet"),
    "efficientnet_b2": Recipe("efficientnet_b2", image_size=224, resize=260, normalisation="imagenet", optimizer="adamw",
                              learning_rate=2e-4, weight_decay=1e-4, batch_size=32, epochs=30, label_smoothing=0.05,
                              scheduler="cosine", cosine_t_max=30),
}
