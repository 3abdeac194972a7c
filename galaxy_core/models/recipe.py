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

    def with_options(self, epochs: int | None = None, image_size: int | None = None, resize: int | None = None,
                     batch_size: int | None = None, learning_rate: float | None = None, split: str | None = None,
                     seed: int | None = None, weights: str | None = None, **fields) -> "Recipe":
        """The recipe with a run's options applied as `train` and `study` take them (None: the recipe's own). A shorter
        run anneals its cosine schedule over its own length; `image_size` scales a resize-then-crop recipe's resize;
        `weights` 'none' trains from scratch. `fields` override other recipe fields as they are."""
        given = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "split": split, "seed": seed}
        changes = {field: value for field, value in given.items() if value is not None}
        if weights is not None:
            changes["weights"] = None if weights.lower() == "none" else weights
        if epochs and self.cosine_t_max == self.epochs:
            changes["cosine_t_max"] = epochs
        if image_size:
            changes["image_size"] = image_size
            changes["resize"] = None if self.resize is None else round(image_size * self.resize / self.image_size)
        if resize:
            side = image_size or self.image_size
            if resize < side:
                raise UserError(f"--resize {resize} is smaller than the image size {side}: give at least {side} (larger zooms in).")
            changes["resize"] = resize
        return self.override(**changes, **fields)
