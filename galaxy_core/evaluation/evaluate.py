"""Evaluate a checkpoint or an ensemble on a split part; keep every per-image prediction.

The split comes from the checkpoint's own scheme and seed. On the data it was trained on, the
recomputed split must match the stored digest, so evaluation can never drift onto training
images. On another file (say, a model trained on synthetic data tested on the real file) the
same scheme is applied to that file's labels and the result says so (`cross_dataset`).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from galaxy_core.classes import CLASS_NAMES
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.splits import Split, stratified_split
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.evaluation.metrics import compute_metrics, fit_temperature, kl_smoothing
from galaxy_core.fileio import atomic_path, write_json_atomic
from galaxy_core.inference.ensemble import EnsembleOutput, align_on_common, combine, preferences
from galaxy_core.inference.logits import dataset_logits, softmax
from galaxy_core.models.checkpoint import load_checkpoint
from galaxy_core.settings import portable_record, results_root


@dataclass
class ModelPredictions:
    name: str
    indices: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    temperature: float
    val_metrics: dict | None = None  # on the validation split: re-scored (with the same TTA/temperature) or as stored


@dataclass
class EnsembleScores:
    indices: np.ndarray  # the images every member scored, ascending
    labels: np.ndarray
    output: EnsembleOutput
    metrics: dict
    names: list[str]
    preferred: int  # position of the preferred member (best on validation)
    member_accuracy: dict[str, float]


def checkpoint_split(meta: dict, data: Galaxy10) -> tuple[Split, bool]:
    """(split, cross_dataset) for a checkpoint evaluated on `data`."""
    recipe = meta["recipe"]
    same_data = data.fingerprint() == meta["data"]["fingerprint"]
    split = stratified_split(data.labels, recipe["split"], recipe["seed"])
    if same_data:  # the check-set galaxies training left out of its training and validation parts
        split = split.without(meta["data"].get("check_set_excluded") or [])
    if same_data and split.digest() != meta["split"]["digest"]:
        raise UserError("This checkpoint's stored split does not match the one recomputed on its own data: it was made by an "
                        "incompatible version; retrain it.")
    return split, not same_data


def predict_checkpoint(directory: str | Path, data: Galaxy10, part: str = "test", tta: bool = False,
                       temperature: bool = False, need_validation: bool = False, device: str = "cpu",
                       batch_size: int = 64, workers: int = 0, loaded: tuple | None = None) -> tuple[ModelPredictions, dict]:
    """Per-image predictions of one checkpoint on a split; `loaded` = (model, meta) reuses a model already in memory."""
    model, meta = loaded or load_checkpoint(directory, device)
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    split, cross = checkpoint_split(meta, data)
    indices = split.indices(part)
    if len(indices) == 0:
        raise UserError(f"{data.path} has no images in its {part} split ({meta['recipe']['split']}): it is too small; use a bigger file.")
    torch_device = torch.device(device)
    logits = dataset_logits(model, data, indices, preprocessing, torch_device, batch_size, tta, workers)
    t, val_metrics = 1.0, None
    if temperature or need_validation:
        val_logits = dataset_logits(model, data, split.val, preprocessing, torch_device, batch_size, tta, workers)
        if temperature:
            t = fit_temperature(val_logits, data.labels[split.val])
        val_metrics = compute_metrics(data.labels[split.val], softmax(val_logits, t))
    name = Path(directory).name
    predictions = ModelPredictions(name, indices, data.labels[indices], softmax(logits, t), t, val_metrics)
    return predictions, {"meta": meta, "split": split, "cross_dataset": cross}


def score_ensemble(rule: str, members: list[ModelPredictions]) -> EnsembleScores:
    """Combine members' predictions by `rule` on the images every member scored (members may come from
    different studies' splits); the preferred member and F1 weights come from their validation metrics."""
    common, aligned = align_on_common([m.indices for m in members], [m.probabilities for m in members])
    names = [m.name for m in members]
    preferred, val_f1 = preferences([m.val_metrics for m in members])
    output = combine(rule, aligned, names, preferred, val_f1)
    labels = members[0].labels[np.searchsorted(members[0].indices, common)]
    member_accuracy = {name: compute_metrics(labels, p)["accuracy"] for name, p in zip(names, aligned)}
    return EnsembleScores(common, labels, output, compute_metrics(labels, output.probabilities), names, preferred, member_accuracy)


def write_predictions_csv(path: Path, indices, labels, probabilities, extra: dict[str, list] | None = None) -> None:
    """One row per image: index, true label, predicted label, confidence, every class's probability."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        extra = extra or {}
        writer.writerow(["index", "true_label", "true_class", "predicted_label", "predicted_class", "confidence",
                         *extra.keys(), *[f"p_{c}" for c in range(len(CLASS_NAMES))]])
        predicted = probabilities.argmax(axis=1)
        for row, index in enumerate(indices):
            writer.writerow([int(index), int(labels[row]), CLASS_NAMES[labels[row]], int(predicted[row]), CLASS_NAMES[predicted[row]],
                             f"{probabilities[row].max():.6f}", *[values[row] for values in extra.values()],
                             *[f"{p:.6f}" for p in probabilities[row]]])


def evaluate_checkpoint(directory: str | Path, data: Galaxy10, part: str = "test", tta: bool = False, temperature: bool = False,
                        device: str = "cpu", workers: int = 0, out: str | Path | None = None) -> dict:
    """Score one checkpoint on a split part; the per-image CSV and the summary go to `out` (default: results/NAME)."""
    directory = Path(directory)
    folder = Path(out) if out else results_root() / directory.name
    predictions, context = predict_checkpoint(directory, data, part, tta, temperature, device=device, workers=workers)
    metrics = compute_metrics(predictions.labels, predictions.probabilities, kl_smoothing(context["meta"]["recipe"]))
    suffix = f"{part}{'_tta' if tta else ''}{'_temperature' if temperature else ''}"
    result = {"checkpoint": str(directory), "model": context["meta"]["model"], "part": part, "tta": tta,
              "temperature": predictions.temperature, "cross_dataset": context["cross_dataset"], "data": str(data.path),
              "data_synthetic": data.is_synthetic, "metrics": metrics, "predictions_csv": str(folder / f"predictions_{suffix}.csv")}
    folder.mkdir(parents=True, exist_ok=True)
    write_predictions_csv(folder / f"predictions_{suffix}.csv", predictions.indices, predictions.labels, predictions.probabilities)
    write_json_atomic(folder / f"evaluation_{suffix}.json", result)
    return result


def evaluate_ensemble(rule: str, directories: list[str | Path], data: Galaxy10, part: str = "test", tta: bool = False,
                      device: str = "cpu", out: str | Path | None = None, workers: int = 0) -> dict:
    """Combine several checkpoints by `rule`; the preferred model is the best on validation."""
    if len(directories) < 2:
        raise UserError("An ensemble needs at least two checkpoints: pass --checkpoints DIR DIR [...].")
    members = [predict_checkpoint(directory, data, part, tta, need_validation=True, device=device, workers=workers)[0]
               for directory in directories]
    scores = score_ensemble(rule, members)
    out = Path(out) if out else results_root() / "ensembles" / f"{rule}_{part}"
    out.mkdir(parents=True, exist_ok=True)
    write_predictions_csv(out / "predictions.csv", scores.indices, scores.labels, scores.output.probabilities,
                          {"source": scores.output.source})
    result = {"rule": rule, "members": [str(d) for d in directories], "preferred": scores.names[scores.preferred], "part": part,
              "tta": tta, "images": int(len(scores.indices)), "metrics": scores.metrics, "member_accuracy": scores.member_accuracy,
              "predictions_csv": str(out / "predictions.csv")}
    write_json_atomic(out / "evaluation.json", portable_record(result))  # the record keeps no machine path; stdout does
    return result
