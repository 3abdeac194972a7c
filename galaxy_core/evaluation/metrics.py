"""Metrics over per-image probabilities: the first study's (accuracy, cross-entropy, KL divergence)
and the second's (per-class F1), plus balanced accuracy, confusion matrix and calibration."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, log_loss, precision_recall_fscore_support

from galaxy_core.classes import CLASS_NAMES, NUM_CLASSES

EPS = 1e-12


def kl_divergence(labels: np.ndarray, probabilities: np.ndarray, smoothing: float) -> float:
    """Mean KL(target || p) against label-smoothed one-hot targets, as the first study reports."""
    target = np.full(probabilities.shape, smoothing / NUM_CLASSES)
    target[np.arange(len(labels)), labels] += 1.0 - smoothing
    p = np.clip(probabilities, EPS, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(target > 0, target * (np.log(np.maximum(target, EPS)) - np.log(p)), 0.0)
    return float(terms.sum(axis=1).mean())


def calibration(labels: np.ndarray, probabilities: np.ndarray, bins: int = 15) -> dict:
    """Expected calibration error and the reliability diagram's bins (confidence vs accuracy)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        members = which == b
        count = int(members.sum())
        accuracy = float(correct[members].mean()) if count else None
        mean_confidence = float(confidence[members].mean()) if count else None
        if count:
            ece += count / len(labels) * abs(accuracy - mean_confidence)
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": count,
                     "accuracy": accuracy, "confidence": mean_confidence})
    return {"ece": float(ece), "bins": rows}


def _clipped(probabilities: np.ndarray) -> np.ndarray:
    p = np.clip(probabilities, EPS, 1.0)
    return p / p.sum(axis=1, keepdims=True)


def compute_metrics(labels: np.ndarray, probabilities: np.ndarray, smoothing: float = 0.1) -> dict:
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predictions = probabilities.argmax(axis=1)
    all_classes = list(range(NUM_CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predictions, labels=all_classes, zero_division=0)
    calib = calibration(labels, probabilities)
    return {
        "count": int(len(labels)),
        "accuracy": float((predictions == labels).mean()),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, labels=all_classes, average="macro", zero_division=0)),
        "cross_entropy": float(log_loss(labels, _clipped(probabilities), labels=all_classes)),
        "kl_divergence": kl_divergence(labels, probabilities, smoothing),
        "kl_smoothing": smoothing,
        "ece": calib["ece"],
        "reliability": calib["bins"],
        "per_class": [
            {"class": CLASS_NAMES[c], "precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]), "support": int(support[c])}
            for c in all_classes
        ],
        "confusion_matrix": confusion_matrix(labels, predictions, labels=all_classes).tolist(),
    }


def cell_members(labels: np.ndarray, probabilities: np.ndarray, true_class: int, predicted_class: int) -> np.ndarray:
    """Positions of the images in one confusion-matrix cell, most confident first."""
    predicted = probabilities.argmax(axis=1)
    members = np.flatnonzero((labels == true_class) & (predicted == predicted_class))
    return members[np.argsort(-probabilities[members].max(axis=1), kind="stable")]


def confident_mistakes(labels: np.ndarray, probabilities: np.ndarray, count: int = 12) -> np.ndarray:
    """Positions of the wrong predictions the model was surest of."""
    wrong = np.flatnonzero(probabilities.argmax(axis=1) != labels)
    return wrong[np.argsort(-probabilities[wrong].max(axis=1), kind="stable")][:count]
