"""One registry: model name -> model class, the study's recipe, a description.

Each family file registers its models with `@register_model(...)` right beside their definition,
recipe included (as timm does with its default configurations); `create_model(name)` is the one
door. Every model offers the same face: built as `Model(num_classes, image_size=..., weights=...)`,
`forward(x)` gives logits, `features(x)` the latent vector, and `gradcam_layer` names the module
whose activations Grad-CAM weighs.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from galaxy_core.classes import NUM_CLASSES
from galaxy_core.data.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.models.recipe import Recipe


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    recipe: Recipe  # the study's settings
    model_class: type[nn.Module]

    def build(self, recipe: Recipe | None = None) -> nn.Module:
        recipe = recipe or self.recipe
        return self.model_class(NUM_CLASSES, image_size=recipe.image_size, weights=recipe.weights)


_SPECS: dict[str, ModelSpec] = {}


def register_model(description: str, recipe: Recipe):
    """Class decorator: register a model family under `recipe.model`, with its study's recipe."""
    def register(model_class: type[nn.Module]) -> type[nn.Module]:
        if recipe.model in _SPECS:
            raise ValueError(f"model '{recipe.model}' is registered twice")
        _SPECS[recipe.model] = ModelSpec(recipe.model, description, recipe, model_class)
        return model_class

    return register


def model_names() -> tuple[str, ...]:
    """Registered names, in registration order (`galaxy_core.models` imports every family)."""
    return tuple(_SPECS)


def get_spec(name: str) -> ModelSpec:
    if name not in _SPECS:
        raise UserError(f"Unknown model '{name}': choose one of {', '.join(_SPECS)}.")
    return _SPECS[name]


def create_model(name: str, recipe: Recipe | None = None) -> nn.Module:
    """Build a model for a recipe (the study's own by default)."""
    return get_spec(name).build(recipe)


def preprocessing_for(recipe: Recipe) -> Preprocessing:
    imagenet = recipe.normalisation == "imagenet"
    return Preprocessing(
        input_size=recipe.image_size,
        resize=recipe.resize,
        mean=IMAGENET_MEAN if imagenet else (0.0, 0.0, 0.0),
        std=IMAGENET_STD if imagenet else (1.0, 1.0, 1.0),
    )
