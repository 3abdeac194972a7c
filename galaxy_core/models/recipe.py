"""A recipe: the hyper-parameters of one training run, frozen; any field can be overridden.

Each model family declares its study's recipe beside its builder (see `models/registry.py`)."""
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
    init: str | None = None  # fine-tuning: a checkpoint folder whose weights the run starts from
    trainable: str = "all"  # "all" layers, or the classifier "head" only (the rest frozen)
    split: str = "80/10/10"
    augment: bool = True  # flips and rotation over ±180°
    look_augment: bool = False  # also scale, brightness, colour balance, seeing and noise (transforms.random_look)
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def override(self, **changes) -> "Recipe":
        """A copy with exactly the given fields changed (None included: `weights=None` means from scratch)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise UserError(f"Unknown recipe setting(s): {', '.join(sorted(unknown))}.")
        updated = replace(self, **changes)
        if updated.epochs < 1 or updated.batch_size < 1:
            raise UserError("Epochs and batch size must be at least 1.")
        if updated.resize is not None and updated.resize < updated.image_size:
            updated = replace(updated, resize=None)  # an override of image_size beyond the resize
        return updated
