"""Inference: the one forward pass, logits through the one preprocessing path, ensemble rules, and the Predictor.

Names are imported on first use (PEP 562), so `galaxy_core.inference.forward` alone needs nothing but torch: the GPU
check (benchmarks/gpu_check.py) runs it where the Predictor's checkpoint reader (jsonschema) is not installed."""
from importlib import import_module

_WHERE = {
    "RULES": "ensemble", "combine": "ensemble",
    "dihedral_views": "forward", "forward": "forward", "inference": "forward",
    "batch_logits": "logits", "dataset_logits": "logits", "reconstructions": "logits", "softmax": "logits",
    "Predictor": "predictor",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
