"""One registry: model name -> builder, recipe, preprocessing, Grad-CAM layer, latent extractor.

Every model offers the same face: `forward(x)` gives logits, `features(x)` the latent vector,
and `gradcam_layer` names the module whose activations Grad-CAM weighs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from galaxy_core.classes import NUM_CLASSES
from galaxy_core.data.transforms import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.training.recipes import RECIPES, Recipe


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    builder: Callable[[Recipe], nn.Module]

    @property
    def recipe(self) -> Recipe:
        return RECIPES[self.name]


def preprocessing_for(recipe: Recipe) -> Preprocessing:
    imagenet = recipe.normalisation == "imagenet"
    return Preprocessing(
        input_size=recipe.image_size,
        resize=recipe.resize,
        mean=IMAGENET_MEAN if imagenet else (0.0, 0.0, 0.0),
        std=IMAGENET_STD if imagenet else (1.0, 1.0, 1.0),
    )


def _cnn(recipe: Recipe) -> nn.Module:
    from galaxy_core.models.cnn import BaselineCNN

    return BaselineCNN(NUM_CLASSES, image_size=recipe.image_size)


def _autoencoder(recipe: Recipe) -> nn.Module:
    from galaxy_core.models.autoencoder import AutoencoderClassifier

    return AutoencoderClassifier(NUM_CLASSES, image_size=recipe.image_size)


def _resnet50(recipe: Recipe) -> nn.Module:
    from galaxy_core.models.resnet import ResNet50Classifier

    return ResNet50Classifier(NUM_CLASSES, weights=recipe.weights)


def _efficientnet_b0(recipe: Recipe) -> nn.Module:
    from galaxy_core.models.efficientnet import EfficientNetB0Classifier

    return EfficientNetB0Classifier(NUM_CLASSES, weights=recipe.weights)


def _efficientnet_b2(recipe: Recipe) -> nn.Module:
    from galaxy_core.models.efficientnet import EfficientNetB2Classifier

    return EfficientNetB2Classifier(NUM_CLASSES, weights=recipe.weights)


SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("cnn", "Baseline 4-block CNN (first study)", _cnn),
    ModelSpec("autoencoder", "Autoencoder-classifier multi-task model (first study)", _autoencoder),
    ModelSpec("resnet50", "Transfer-learned ResNet50, last 20 layers fine-tuned (first study)", _resnet50),
    ModelSpec("efficientnet_b0", "EfficientNet-B0, ImageNet-pretrained, 128 px (second study)", _efficientnet_b0),
    ModelSpec("efficientnet_b2", "EfficientNet-B2 from scratch, 260 -> 224 px (second study)", _efficientnet_b2),
)}
MODEL_NAMES = tuple(SPECS)


def get_spec(name: str) -> ModelSpec:
    if name not in SPECS:
        raise UserError(f"Unknown model '{name}': choose one of {', '.join(MODEL_NAMES)}.")
    return SPECS[name]


def create_model(name: str, recipe: Recipe | None = None) -> nn.Module:
    """Build a model for a recipe (the study's own by default)."""
    spec = get_spec(name)
    return spec.builder(recipe or spec.recipe)
