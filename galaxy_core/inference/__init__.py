"""Inference: logits through the one preprocessing path, ensemble rules, and the Predictor."""
from galaxy_core.inference.ensemble import RULES, combine
from galaxy_core.inference.forward import dihedral_views, forward, inference
from galaxy_core.inference.logits import MODEL_LOCK, batch_logits, dataset_logits, reconstructions, softmax
from galaxy_core.inference.predictor import Predictor

__all__ = ["MODEL_LOCK", "RULES", "Predictor", "batch_logits", "combine", "dataset_logits", "dihedral_views", "forward",
           "inference", "reconstructions", "softmax"]
