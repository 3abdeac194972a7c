"""Ensembles over any subset of models.

- `agreement`: the second study's rule. If the models' labels agree, the confidence is the mean
  of theirs and the source is "both" ("all" beyond two); otherwise the preferred model's label and
  confidence, with that model as the source.
- `soft`: the mean of the probabilities.
- `f1_weighted`: per class, a weighted mean of the probabilities, each model weighted by its
  validation F1 on that class (the second study's future work).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galaxy_core.errors import UserError

RULES = ("agreement", "soft", "f1_weighted")


@dataclass
class EnsembleOutput:
    probabilities: np.ndarray  # (N, 10): used for metrics
    labels: np.ndarray  # (N,)
    confidence: np.ndarray  # (N,)
    source: list[str]  # per image: which model(s) decided


def combine(rule: str, probabilities: list[np.ndarray], names: list[str], preferred: int = 0,
            val_f1: list[np.ndarray] | None = None) -> EnsembleOutput:
    if rule not in RULES:
        raise UserError(f"Unknown ensemble rule '{rule}': use one of {', '.join(RULES)}.")
    if len(probabilities) < 2:
        raise UserError("An ensemble needs at least two models: give two or more checkpoints.")
    stack = np.stack([np.asarray(p, dtype=np.float64) for p in probabilities])  # (M, N, C)
    if rule == "agreement":
        labels_each = stack.argmax(axis=2)  # (M, N)
        agree = np.all(labels_each == labels_each[0], axis=0)
        confidences = stack.max(axis=2)  # (M, N)
        labels = np.where(agree, labels_each[0], labels_each[preferred])
        confidence = np.where(agree, confidences.mean(axis=0), confidences[preferred])
        combined = np.where(agree[:, None], stack.mean(axis=0), stack[preferred])
        together = "both" if len(names) == 2 else "all"
        source = [together if a else names[preferred] for a in agree]
        return EnsembleOutput(combined, labels, confidence, source)
    if rule == "soft":
        combined = stack.mean(axis=0)
    else:
        if val_f1 is None or len(val_f1) != len(probabilities) or any(f is None for f in val_f1):
            raise UserError("The f1_weighted rule needs every model's per-class validation F1 (its meta.json's validation "
                            "metrics): retrain the checkpoints with this version, or choose agreement or soft.")
        weights = np.stack([np.asarray(w, dtype=np.float64) for w in val_f1])[:, None, :] + 1e-6  # (M, 1, C)
        combined = (stack * weights).sum(axis=0) / weights.sum(axis=0)
        combined /= combined.sum(axis=1, keepdims=True)
    return EnsembleOutput(combined, combined.argmax(axis=1), combined.max(axis=1), [rule] * combined.shape[0])


def align_on_common(indices: list[np.ndarray], probabilities: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The images every member scored (members may hold out different splits), and each member's
    probabilities for exactly those images, in the same order. Indices must be ascending."""
    common = indices[0]
    for other in indices[1:]:
        common = np.intersect1d(common, other)
    if len(common) == 0:
        raise UserError("These models share no held-out images: ensemble models trained with compatible splits.")
    return common, [p[np.searchsorted(i, common)] for i, p in zip(indices, probabilities)]


def preferences(val_metrics: list[dict | None]) -> tuple[int, list[np.ndarray | None]]:
    """From each member's validation metrics: the preferred member (best accuracy) and the
    per-class F1 weights f1_weighted needs (None where a member has no validation metrics)."""
    preferred = int(np.argmax([v["accuracy"] if v else -1.0 for v in val_metrics]))
    return preferred, [np.array([row["f1"] for row in v["per_class"]]) if v else None for v in val_metrics]
