"""Metrics over per-image probabilities: the first study's (accuracy, cross-entropy, KL divergence)
and the second's (per-class F1), plus balanced accuracy, confusion matrix and calibration."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, log_loss, precision_recall_fscore_support

from galaxy_core.classes import CLASS_NAMES, NUM_CLASSES

EPS = 1e-12
# KL divergence is measured against label-smoothed targets: the recipe's smoothing, else this.
DEFAULT_KL_SMOOTHING = 0.1
# A confidence above nearly every check-set answer is judged by this many most confident answers instead.
FEWEST_FOR_TRUST = 5
# The headline metrics, in the order every summary shows them (CLI, Overview, Evaluation): key, label, format.
SUMMARY_METRICS: tuple[tuple[str, str, str], ...] = (
    ("accuracy", "Accuracy", "{:.1%}"),
    ("balanced_accuracy", "Balanced accuracy", "{:.1%}"),
    ("macro_f1", "Macro-F1", "{:.3f}"),
    ("cross_entropy", "Cross-entropy", "{:.3f}"),
    ("kl_divergence", "KL divergence", "{:.3f}"),
    ("ece", "ECE", "{:.3f}"),
)
SUMMARY_KEYS = tuple(key for key, _, _ in SUMMARY_METRICS)


def wilson(right: int, of: int, level: float = 0.95) -> dict:
    """right of `of` with its Wilson interval: {right, of, low, high}. No answers, no knowledge: 0 to 1."""
    from scipy.stats import binomtest

    if of < 1:
        return {"right": 0, "of": 0, "low": 0.0, "high": 1.0}
    interval = binomtest(right, of).proportion_ci(level, method="wilson")
    return {"right": int(right), "of": int(of), "low": float(interval.low), "high": float(interval.high)}


def accuracy_interval(metrics: dict, level: float = 0.95) -> tuple[float, float]:
    """Wilson interval of an accuracy over `metrics['count']` images: on the 60-image check set a model at 50% could
    be anywhere from about 38% to 62%, so differences of a few galaxies between models are not differences."""
    count = int(metrics["count"])
    counted = wilson(min(max(round(metrics["accuracy"] * count), 0), count), count, level)  # a hand-edited meta.json must not break a page
    return counted["low"], counted["high"]


def confidence_trust(confidence: float, confidences: np.ndarray, correct: np.ndarray, fewest: int = FEWEST_FOR_TRUST) -> dict | None:
    """How often answers at least this confident were right on a labelled set (the real check set): {right, of, low,
    high, at_least}. Above all but a few of the set's answers, the `fewest` most confident judge it instead."""
    confidences, correct = np.asarray(confidences, np.float64), np.asarray(correct, bool)
    if not len(confidences):
        return None
    order = np.sort(confidences)[::-1]
    at_least = min(float(confidence), float(order[min(fewest, len(order)) - 1]))
    chosen = confidences >= at_least
    return {"at_least": at_least, **wilson(int(correct[chosen].sum()), int(chosen.sum()))}


def risk_coverage(confidences: np.ndarray, correct: np.ndarray) -> list[dict]:
    """Accuracy of the most confident k answers for every k (selective prediction: answer only when this sure), each
    with its coverage (k over all) and Wilson interval; the curve a reliability diagram's bins cannot show on few images."""
    confidences, correct = np.asarray(confidences, np.float64), np.asarray(correct, bool)
    order = np.argsort(-confidences, kind="stable")
    right = np.cumsum(correct[order])
    return [{"coverage": (k + 1) / len(order), "threshold": float(confidences[order[k]]), "accuracy": float(right[k] / (k + 1)),
             **wilson(int(right[k]), k + 1)} for k in range(len(order))]


def answers_risk_coverage(labels: np.ndarray, probabilities: np.ndarray) -> list[dict]:
    """`risk_coverage` of per-image probabilities against the true labels."""
    return risk_coverage(probabilities.max(axis=1), probabilities.argmax(axis=1) == labels)


def check_set_interval(real: dict | None) -> tuple[float, float] | None:
    """The 95% interval of a checkpoint's recorded check-set figure (`metrics.real_sample`); None when it was not
    measured, or is a cross-validated estimate (fine-tuned on the check set), which carries its fold spread instead."""
    return accuracy_interval(real) if real and not real.get("cross_validated") else None


def trained_on_check_set(meta: dict) -> bool:
    """Whether a checkpoint learned from real check-set images (`import` counts them): it must never be scored on them."""
    return bool((meta.get("data") or {}).get("real_check_set_images"))


def accuracy_summary(meta: dict) -> str:
    """A checkpoint's two headline accuracies side by side, each saying what it was measured on:
    its own test split (synthetic or real data) and the real check set (a development set)."""
    metrics = meta.get("metrics") or {}
    kind = "synthetic" if (meta.get("data") or {}).get("synthetic") else "real"
    test = (metrics.get("test") or {}).get("accuracy")
    real = metrics.get("real_sample")
    own = f"{kind} test {test:.1%}" if test is not None else f"{kind} test not measured"
    if not real:
        return f"{own} · real check set not measured"
    if real.get("cross_validated"):  # fine-tuned on the check set: only held-out folds say anything
        cv = real["cross_validated"]
        return f"{own} · real check set {real['accuracy']:.0%} ± {cv['sd']:.0%} ({cv['folds']}-fold cross-validated: fine-tuned on it)"
    right = round(real["accuracy"] * real["count"])
    low, high = accuracy_interval(real)
    return f"{own} · real check set {real['accuracy']:.0%} ({right}/{real['count']}, 95% CI {low:.0%}–{high:.0%}, dev set)"


def kl_smoothing(recipe: dict) -> float:
    """The smoothing of the KL targets for a model trained with `recipe` (a recipe's dict)."""
    return recipe.get("label_smoothing") or DEFAULT_KL_SMOOTHING


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


def compute_metrics(labels: np.ndarray, probabilities: np.ndarray, smoothing: float = DEFAULT_KL_SMOOTHING) -> dict:
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predictions = probabilities.argmax(axis=1)
    all_classes = list(range(NUM_CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predictions, labels=all_classes, zero_division=0)
    calib = calibration(labels, probabilities)
    counted = {"count": int(len(labels)), "accuracy": float((predictions == labels).mean())}
    return {
        **counted,
        "accuracy_interval": list(accuracy_interval(counted)),
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


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature scaling: the single T minimising validation NLL (Guo et al. 2017)."""
    z = torch.tensor(logits, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.exp().item())
