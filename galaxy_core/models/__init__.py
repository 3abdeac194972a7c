"""The model zoo: `create_model(name)` from the registry; one file per family."""
from galaxy_core.models.registry import MODEL_NAMES, ModelSpec, create_model, get_spec

__all__ = ["MODEL_NAMES", "ModelSpec", "create_model", "get_spec"]
