"""The model zoo: one file per family, each registering its models and its study's recipe.

Importing this package imports every family, in the order the models are listed everywhere.
"""
from galaxy_core.models import cnn  # noqa: F401, I001 (registration order: the first study's models, then the second's)
from galaxy_core.models import autoencoder  # noqa: F401
from galaxy_core.models import resnet  # noqa: F401
from galaxy_core.models import efficientnet  # noqa: F401
from galaxy_core.models.registry import ModelSpec, create_model, get_spec, model_names, preprocessing_for

MODEL_NAMES = model_names()

__all__ = ["MODEL_NAMES", "ModelSpec", "create_model", "get_spec", "preprocessing_for"]
