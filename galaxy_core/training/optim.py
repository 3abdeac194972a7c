"""The optimizers and learning-rate schedules a recipe can name."""
from __future__ import annotations

import torch
from torch import nn

from galaxy_core.errors import UserError
from galaxy_core.models.recipe import Recipe


def build_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    trainable = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(trainable, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    raise UserError(f"Unknown optimizer '{recipe.optimizer}': use adam or adamw.")


def build_scheduler(optimizer, recipe: Recipe):
    if recipe.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.cosine_t_max)
    if recipe.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=recipe.plateau_factor, patience=recipe.plateau_patience)
    if recipe.scheduler == "none":
        return None
    raise UserError(f"Unknown scheduler '{recipe.scheduler}': use none, cosine or plateau.")
