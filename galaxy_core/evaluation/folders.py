"""Evaluate a checkpoint or an ensemble on a folder of labelled images (the real check set, or any
other): the same metrics, per-image CSV and JSON shape as a dataset evaluation.

A folder has no validation split: an ensemble's preferred member and F1 weights come from the
validation metrics stored in each checkpoint. A checkpoint's score on the real check set is also
recorded in its meta.json (`metrics.real_sample`), where every interface reads it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from galaxy_core.data.labelled_images import LabelledImages
from galaxy_core.evaluation.evaluate import ModelPredictions, score_ensemble, write_predictions_csv
from galaxy_core.evaluation.metrics import answers_risk_coverage, compute_metrics, kl_smoothing, trained_on_check_set
from galaxy_core.fileio import write_json_atomic
from galaxy_core.inference.predictor import Predictor
from galaxy_core.models.checkpoint import record_metrics
from galaxy_core.settings import portable_record, results_root


def folder_predictions(predictor: Predictor, folder: LabelledImages, tta: bool | None = None,
                       batches: Iterable[np.ndarray] | None = None) -> list[ModelPredictions]:
    """Each member's probabilities for every image of the folder, decoded once per batch for all members
    (or given as `batches` by a caller that already holds the pixels). `tta` defaults to the predictor's own."""
    collected = [[] for _ in predictor.members]
    for images in folder.batches() if batches is None else batches:
        for store, probabilities in zip(collected, predictor.member_probabilities(images, tta)):
            store.append(probabilities)
    positions = np.arange(len(folder))
    return [ModelPredictions(m.name, positions, folder.labels, np.concatenate(p), 1.0, m.meta.get("metrics", {}).get("val"))
            for m, p in zip(predictor.members, collected)]


def evaluate_folder(checkpoints: list[str | Path], folder: LabelledImages, rule: str | None = None, tta: bool = False,
                    device: str = "cpu", out: str | Path | None = None) -> dict:
    """Score one checkpoint (rule None) or an ensemble on `folder`; write the per-image CSV and the JSON to `out`
    (default: results/NAME, results/ensembles/RULE_FOLDER). The check set's figure is recorded in the checkpoint's meta.json."""
    predictor = Predictor(list(checkpoints), rule, device=device, tta=tta)
    members = folder_predictions(predictor, folder)
    files = [str(path.relative_to(folder.root)) for path in folder.files]
    suffix = f"{folder.name}{'_tta' if tta else ''}"
    common = {"part": "images", "tta": tta, "data": str(folder.root), "data_synthetic": False, "note": folder.note}
    trained_on_it = [m.name for m in predictor.members if trained_on_check_set(m.meta)]
    if folder.is_real_sample and trained_on_it:
        common["note"] = (f"{', '.join(trained_on_it)} {'was' if len(trained_on_it) == 1 else 'were'} fine-tuned on these very images, so this "
                          "figure says nothing about other galaxies; the cross-validated estimate in meta.json does")
    if rule is None:
        directory, member = Path(checkpoints[0]), members[0]
        common["risk_coverage"] = answers_risk_coverage(member.labels, member.probabilities)
        meta = predictor.members[0].meta
        metrics = compute_metrics(member.labels, member.probabilities, kl_smoothing(meta["recipe"]))
        written = Path(out) if out else results_root() / directory.name
        written.mkdir(parents=True, exist_ok=True)
        csv_path = written / f"predictions_{suffix}.csv"
        result = {"checkpoint": str(directory), "model": meta["model"], **common, "temperature": 1.0, "cross_dataset": True,
                  "metrics": metrics, "predictions_csv": str(csv_path)}
        write_predictions_csv(csv_path, member.indices, member.labels, member.probabilities, {"file": files})
        write_json_atomic(written / f"evaluation_{suffix}.json", result)
        if folder.is_real_sample and not tta and not trained_on_it:
            record_metrics(directory, "real_sample", {**metrics, "note": folder.note})
        return result
    scores = score_ensemble(rule, members)
    common["risk_coverage"] = answers_risk_coverage(scores.labels, scores.output.probabilities)
    out = Path(out) if out else results_root() / "ensembles" / f"{rule}_{suffix}"
    out.mkdir(parents=True, exist_ok=True)
    write_predictions_csv(out / "predictions.csv", scores.indices, scores.labels, scores.output.probabilities,
                          {"file": files, "source": scores.output.source})
    result = {"rule": rule, "members": [str(c) for c in checkpoints], "preferred": scores.names[scores.preferred], **common,
              "images": int(len(scores.indices)), "metrics": scores.metrics, "member_accuracy": scores.member_accuracy,
              "predictions_csv": str(out / "predictions.csv")}
    write_json_atomic(out / "evaluation.json", portable_record(result))  # the record keeps no machine path; stdout does
    return result


def check_set_answers(predictor: Predictor, folder: LabelledImages,
                      batches: Iterable[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """The predictor's confidence and rightness on every image of the folder (the real check set), as `predict` gives
    them (the images decoded here, or given as `batches` by a caller that holds them); None where a member learned from
    those very images (its answers there say nothing)."""
    if folder.is_real_sample and any(trained_on_check_set(m.meta) for m in predictor.members):
        return None
    confidence, correct = [], []
    labels = iter(folder.labels)
    for images in folder.batches() if batches is None else batches:
        for result in predictor.predict(images):
            confidence.append(result["confidence"])
            correct.append(result["label"] == next(labels))
    return np.array(confidence), np.array(correct)
