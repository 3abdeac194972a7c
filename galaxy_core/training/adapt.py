"""Adapting to a person's own labelled galaxies: a new head for one model, fitted on its latent features of those
galaxies, written as a checkpoint folder that every command, page and the service take like any other.

Methods (both fitted by L-BFGS on standardised features, in seconds, with an L2 penalty whose strength, like the member,
is chosen by inner cross-validation on the labels; the backbone is untouched,
so the base's out-of-distribution calibration still holds and is copied along):
- residual: the base head's logits plus a linear correction. With no evidence the correction shrinks to nothing, and
  classes the labels never show keep the base model's answer: the safe choice for tens of labels.
- linear: a new linear head on the features alone (logistic regression); it can only answer classes it was shown.

With several base models (the recorded default is an ensemble) one member is adapted: the one whose adapted head has
the best cross-validated accuracy on the labels. Every accuracy it reports is cross-validated: a model adapted on
galaxies is never scored on them. Inside each fold the member is chosen again on that fold's training part only.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from galaxy_core.classes import NUM_CLASSES
from galaxy_core.errors import UserError
from galaxy_core.data.labelled_images import real_sample
from galaxy_core.evaluation.latent_gap import readable_batches
from galaxy_core.evaluation.metrics import wilson
from galaxy_core.inference.ood import OOD_FILE
from galaxy_core.models.checkpoint import load_checkpoint, refit_head, save_checkpoint

METHODS = ("residual", "linear")
STRENGTHS = (0.01, 0.1, 1.0)  # L2 penalties tried; each adaptation picks one by inner cross-validation on its own labels
STRENGTH = STRENGTHS[1]
MIN_LABELS = 5
FOLDS = 5
CURVE_COUNTS = (5, 10, 20, 40, 80, 160)


@dataclass
class LabelledFeatures:
    """One pass of the base models over the labelled galaxies."""

    members: list[str]  # the base checkpoints' folders
    features: list[np.ndarray]  # per member (N, D)
    logits: list[np.ndarray]  # per member (N, 10): its own head's log-probabilities
    answer: np.ndarray  # (N,) the unadapted answer's label (the rule over the members)
    labels: np.ndarray  # (N,)
    files: list[Path]


def labelled_features(predictor, checkpoints: list, folder, skipped: list[str], progress=None) -> LabelledFeatures:
    features, logits, answers, kept = [], [], [], []
    for batch, positions in readable_batches(list(folder.files), skipped, progress=progress):
        found, member_features, member_probabilities = predictor.answer(batch)
        features.append(member_features)
        logits.append([np.log(np.clip(p, 1e-12, 1)) for p in member_probabilities])
        answers += [a["label"] for a in found]
        kept += positions
    if len(kept) < MIN_LABELS:
        raise UserError(f"Only {len(kept)} labelled galaxies could be read; adapting needs at least {MIN_LABELS}: label a few more.")
    count = len(checkpoints)
    return LabelledFeatures([str(c) for c in checkpoints], [np.concatenate([f[m] for f in features]) for m in range(count)],
                            [np.concatenate([lg[m] for lg in logits]) for m in range(count)], np.asarray(answers),
                            folder.labels[kept].astype(np.int64), [folder.files[i] for i in kept])


# ----- fitting one head -----------------------------------------------------------------------------------------------
@dataclass
class Head:
    weight: np.ndarray  # (10, D) on the raw features
    bias: np.ndarray  # (10,)
    method: str

    def logits(self, features: np.ndarray, base_logits: np.ndarray) -> np.ndarray:
        own = features @ self.weight.T + self.bias
        return own + base_logits if self.method == "residual" else own

    def probabilities(self, features: np.ndarray, base_logits: np.ndarray) -> np.ndarray:
        z = self.logits(features, base_logits)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


def fit_head(features: np.ndarray, base_logits: np.ndarray, labels: np.ndarray, method: str, strength: float = STRENGTH) -> Head:
    """Minimise mean cross-entropy + strength * |W|^2 (and, for a residual, + strength * |b|^2) over standardised features z, then fold the standardisation into
    the weights so the head reads raw features. With an L2 penalty the best W lies in the span of the training rows
    (W = B z), so L-BFGS works on B, (10, N), over the N x N Gram matrix: milliseconds however wide the features."""
    from scipy.optimize import minimize

    if method not in METHODS:
        raise UserError(f"--method {method}: choose one of {', '.join(METHODS)}.")
    x = np.asarray(features, dtype=np.float64)
    centre, spread = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - centre) / spread
    n, width = z.shape
    gram = z @ z.T / width  # scaled to O(1) entries (mix below is scaled up to match): L-BFGS converges in tens of steps
    offset = np.asarray(base_logits, dtype=np.float64) if method == "residual" else np.zeros((n, NUM_CLASSES))
    truth = np.eye(NUM_CLASSES)[np.asarray(labels)]
    penalty = strength / width  # strength * |W|^2, in the scaled variables
    bias_strength = strength if method == "residual" else 0.0  # a residual shrinks towards the base in its offsets too

    def loss_and_gradient(flat):
        mix, bias = flat[:-NUM_CLASSES].reshape(NUM_CLASSES, n), flat[-NUM_CLASSES:]
        logits = gram @ mix.T + bias + offset
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        mixed = mix @ gram
        loss = -(truth * log_p).sum() / n + penalty * (mixed * mix).sum() + bias_strength * (bias ** 2).sum()
        error = (np.exp(log_p) - truth) / n  # d loss / d logits
        return loss, np.concatenate([(error.T @ gram + 2 * penalty * mixed).ravel(), error.sum(axis=0) + 2 * bias_strength * bias])

    found = minimize(loss_and_gradient, np.zeros(NUM_CLASSES * (n + 1)), jac=True, method="L-BFGS-B", options={"maxiter": 100})  # tens of labels: near enough
    mix, bias = found.x[:-NUM_CLASSES].reshape(NUM_CLASSES, n), found.x[-NUM_CLASSES:]
    raw = (mix @ z) / width / spread
    return Head(raw.astype(np.float32), (bias - raw @ centre).astype(np.float32), method)


# ----- cross-validation -----------------------------------------------------------------------------------------------
def folds_of(labels: np.ndarray, folds: int = FOLDS, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds where the classes allow, else plain shuffled ones (tens of labels leave classes with one)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    folds = min(folds, len(labels))
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    if counts.max() >= folds:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "the least populated class has only 1 member": expected here
        return list(splitter.split(np.zeros(len(labels)), labels))


def choose_member(data: LabelledFeatures, rows: np.ndarray, method: str, seed: int = 0) -> tuple[int, float]:
    """The member and L2 strength whose adapted head does best in an inner cross-validation over `rows` (ties: lower
    cross-entropy, then the stronger penalty: the answer nearer the base)."""
    inner = folds_of(data.labels[rows], 3, seed)
    best, best_key = (0, STRENGTH), None
    for m in range(len(data.members)):
        for strength in sorted(STRENGTHS, reverse=True):
            right, loss = 0, 0.0
            for train, test in inner:
                head = fit_head(data.features[m][rows[train]], data.logits[m][rows[train]], data.labels[rows[train]], method, strength)
                p = head.probabilities(data.features[m][rows[test]], data.logits[m][rows[test]])
                truth = data.labels[rows[test]]
                right += int((p.argmax(axis=1) == truth).sum())
                loss -= float(np.log(np.clip(p[np.arange(len(truth)), truth], 1e-12, 1)).sum())
            key = (-right, round(loss, 6))
            if best_key is None or key < best_key:
                best, best_key = (m, strength), key
    return best


def cross_validated(data: LabelledFeatures, method: str, rows: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Out-of-fold predicted labels over `rows` (default: all), the member chosen afresh inside every fold."""
    rows = np.arange(len(data.labels)) if rows is None else np.asarray(rows)
    predicted = np.empty(len(rows), dtype=np.int64)
    for train, test in folds_of(data.labels[rows], FOLDS, seed):
        m, strength = choose_member(data, rows[train], method, seed)
        head = fit_head(data.features[m][rows[train]], data.logits[m][rows[train]], data.labels[rows[train]], method, strength)
        predicted[test] = head.probabilities(data.features[m][rows[test]], data.logits[m][rows[test]]).argmax(axis=1)
    return predicted


def learning_curve(data: LabelledFeatures, method: str, seed: int = 0, repeats: int = 3, all_predicted: np.ndarray | None = None) -> list[dict]:
    """Cross-validated accuracy on random subsets of 5, 10, 20, ... labels (and all of them), beside the unadapted
    answer on the same subsets: how the adapted answer grows with the labels given. `all_predicted`: the out-of-fold
    labels over all of them, where the caller has them already (the same folds: not computed again)."""
    n = len(data.labels)
    rng = np.random.default_rng(seed)
    curve = []
    for count in [c for c in CURVE_COUNTS if c < n] + [n]:
        adapted, base = [], []
        for _ in range(1 if count == n else repeats):
            rows = np.sort(rng.choice(n, count, replace=False))
            predicted = all_predicted if count == n and all_predicted is not None else cross_validated(data, method, rows, seed)
            adapted.append(float((predicted == data.labels[rows]).mean()))
            base.append(float((data.answer[rows] == data.labels[rows]).mean()))
        curve.append({"labels": count, "cv_accuracy": round(float(np.mean(adapted)), 4), "baseline_accuracy": round(float(np.mean(base)), 4)})
    return curve


# ----- the adapted checkpoint -----------------------------------------------------------------------------------------
def labels_fingerprint(files: list[Path], labels: np.ndarray) -> str:
    """Of the images' contents and their labels, whatever the files are called."""
    pairs = sorted((hashlib.sha256(Path(f).read_bytes()).hexdigest(), int(label)) for f, label in zip(files, labels))
    return hashlib.sha256(repr(pairs).encode()).hexdigest()[:16]


def adapt(predictor, checkpoints: list, rule: str | None, folder, method: str, out: str | Path, seed: int = 0,
          skipped: list[str] | None = None, progress=None) -> dict:
    """Fit the adapted head, measure it by cross-validation beside the unadapted answer, write the checkpoint folder
    `out` (replacing it whole, atomically) and return the summary `adapt --json` prints."""
    skipped = [] if skipped is None else skipped
    out = Path(out).expanduser()
    if any(out.resolve() == Path(c).resolve() for c in checkpoints):
        raise UserError(f"--out {out} is one of the base checkpoints: write the adapted model to a new folder.")
    data = labelled_features(predictor, checkpoints, folder, skipped, progress)
    if method not in METHODS:
        raise UserError(f"--method {method}: choose one of {', '.join(METHODS)}.")
    predicted = cross_validated(data, method, seed=seed)
    right, base_right, n = int((predicted == data.labels).sum()), int((data.answer == data.labels).sum()), len(data.labels)
    cv, baseline = wilson(right, n), wilson(base_right, n)
    per_fold = [float((predicted[test] == data.labels[test]).mean()) for _, test in folds_of(data.labels, FOLDS, seed)]
    member, strength = choose_member(data, np.arange(n), method, seed)
    head = fit_head(data.features[member], data.logits[member], data.labels, method, strength)
    summary = {
        "method": method, "strength": strength, "adapted_from": Path(data.members[member]).name, "base": [Path(c).name for c in checkpoints], "rule": rule,
        "labels": n, "classes_labelled": int(len(np.unique(data.labels))), "unreadable": len(skipped),
        "cv_accuracy": right / n, "cv_interval": [cv["low"], cv["high"]], "cv_folds": min(FOLDS, n), "cv_per_fold": per_fold,
        "baseline_accuracy": base_right / n, "baseline_interval": [baseline["low"], baseline["high"]],
        "fingerprint": labels_fingerprint(data.files, data.labels),
        "curve": learning_curve(data, method, seed, all_predicted=predicted),
    }
    _write(Path(data.members[member]), head, summary, folder, out)
    return {**summary, "out": str(out)}


def _write(base: Path, head: Head, summary: dict, folder, out: Path) -> None:
    model, base_meta = load_checkpoint(base)
    kind = "residual" if head.method == "residual" else "linear"
    refit_head(model, kind, features=head.weight.shape[1])
    layer = model.get_submodule(model.head_name)
    target = layer.residual if kind == "residual" else layer
    with torch.no_grad():
        target.weight.copy_(torch.as_tensor(head.weight))
        target.bias.copy_(torch.as_tensor(head.bias))
    overlap = folder.real_sample_overlap()
    real_labels = {"accuracy": summary["cv_accuracy"], "count": summary["labels"],
                   "cross_validated": {"folds": summary["cv_folds"], "interval": summary["cv_interval"], "baseline_accuracy": summary["baseline_accuracy"]}}
    meta = {key: value for key, value in base_meta.items() if key not in ("metrics", "weights_sha256", "format_version", "weights_dtype")}
    meta["adapted"] = {"head": kind, **summary,
                       "base_weights_sha256": base_meta.get("weights_sha256"), "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    meta["data"] = {**(base_meta.get("data") or {}), "real_check_set_images": overlap, "adapted_on": {"labels": summary["labels"], "fingerprint": summary["fingerprint"]}}
    meta["metrics"] = {"real_labels": real_labels}
    if overlap == summary["labels"] == len(real_sample().files):  # adapted on the whole check set: its figure there is this estimate
        meta["metrics"]["real_sample"] = {**real_labels, "cross_validated": {
            **real_labels["cross_validated"], "sd": float(np.std(summary["cv_per_fold"])), "per_fold": summary["cv_per_fold"],
            "base": summary["adapted_from"], "note": "cross-validated by `adapt`: every galaxy scored by a head that never saw its label"}}
    for leftover in out.parent.glob(f".{out.name}.partial-*"):  # an earlier run killed while writing
        shutil.rmtree(leftover, ignore_errors=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    save_checkpoint(partial, model, meta)
    if (base / OOD_FILE).is_file():  # same backbone, same features: the base's calibration still holds
        shutil.copy2(base / OOD_FILE, partial / OOD_FILE)
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(partial, out)
    shutil.rmtree(old, ignore_errors=True)

