"""Per-image scores for the Evaluation and Latent space pages, computed once and cached: they wrap
`galaxy_core.evaluation` and never re-implement it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from galaxy_core.dashboard.loaded_models import loaded_model, recorded_default
from galaxy_core.dashboard.loaded_models import predictor as shared_predictor
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.labelled_images import LabelledImages, real_sample
from galaxy_core.evaluation.evaluate import ModelPredictions, predict_checkpoint, score_ensemble
from galaxy_core.evaluation.folders import check_set_answers, folder_predictions
from galaxy_core.evaluation.metrics import compute_metrics, kl_smoothing
from galaxy_core.inference.predictor import Predictor


@st.cache_data(show_spinner="Scoring the test images (once per checkpoint)...", max_entries=16)
def checkpoint_test_scores(checkpoint: str, data_path: str, fingerprint: str) -> dict:
    """Per-image test predictions of one checkpoint on the dataset in use, and their metrics."""
    data = Galaxy10(data_path)
    predictions, context = predict_checkpoint(checkpoint, data, "test", loaded=loaded_model(checkpoint))
    return {"indices": predictions.indices, "labels": predictions.labels, "probabilities": predictions.probabilities,
            "metrics": compute_metrics(predictions.labels, predictions.probabilities, kl_smoothing(context["meta"]["recipe"])),
            "meta": context["meta"], "cross_dataset": context["cross_dataset"]}


@st.cache_data(show_spinner="Combining the models...", max_entries=16)
def ensemble_test_scores(checkpoints: tuple[str, ...], rule: str, data_path: str, fingerprint: str) -> dict:
    """An ensemble's per-image predictions on the test images every member held out; the preferred
    member and F1 weights come from the validation metrics stored in each checkpoint."""
    cached = [checkpoint_test_scores(c, data_path, fingerprint) for c in checkpoints]
    members = [ModelPredictions(Path(c).name, m["indices"], m["labels"], m["probabilities"], 1.0, m["meta"]["metrics"].get("val"))
               for c, m in zip(checkpoints, cached)]
    scores = score_ensemble(rule, members)
    # the history and recipe shown are the preferred member's
    return {"indices": scores.indices, "labels": scores.labels, "probabilities": scores.output.probabilities,
            "source": scores.output.source, "metrics": scores.metrics, "meta": cached[scores.preferred]["meta"],
            "cross_dataset": any(m["cross_dataset"] for m in cached), "members": scores.names,
            "preferred": scores.names[scores.preferred]}


@st.cache_resource(show_spinner=False)
def real_sample_images() -> tuple[LabelledImages, np.ndarray]:
    """The real check set and its decoded pixels (60 images, 12 MB), once per process."""
    folder = real_sample()
    return folder, folder.pixels()


@st.cache_data(show_spinner="Scoring the real check set (60 galaxies)...", max_entries=16)
def real_sample_scores(checkpoints: tuple[str, ...], rule: str | None, stamps: tuple) -> dict:
    """One checkpoint's (rule None) or an ensemble's predictions on the real check set, in the shape
    of the test-split scores above; `stamps` (the weights' mtime and size) refresh a retrained model."""
    folder, pixels = real_sample_images()
    predictor = Predictor(list(checkpoints), rule, device="cpu", load=loaded_model)
    members = folder_predictions(predictor, folder, batches=[pixels])
    names = [str(p.relative_to(folder.root)) for p in folder.files]
    common = {"indices": np.arange(len(folder)), "labels": folder.labels, "cross_dataset": True, "pixels": pixels, "files": names}
    if rule is None:
        meta = predictor.members[0].meta
        probabilities = members[0].probabilities
        return {**common, "probabilities": probabilities, "meta": meta,
                "metrics": compute_metrics(folder.labels, probabilities, kl_smoothing(meta["recipe"]))}
    scores = score_ensemble(rule, members)
    return {**common, "probabilities": scores.output.probabilities, "source": scores.output.source, "metrics": scores.metrics,
            "meta": predictor.members[scores.preferred].meta, "members": scores.names, "preferred": scores.names[scores.preferred]}


@st.cache_data(show_spinner="Measuring these models on the real check set (once)...", max_entries=32)
def check_set_record(checkpoints: tuple[str, ...], rule: str | None, tta: bool) -> tuple[list[float], list[bool]] | None:
    """The chosen models' confidence and rightness on the real check set: the recorded default's as measured when it was
    chosen, any other choice's measured now; None where a model learned from those galaxies."""
    recorded = recorded_default()
    if recorded is not None and [str(c) for c in recorded.checkpoints] == list(checkpoints) and recorded.rule == rule \
            and recorded.tta == tta and len(recorded.confidence):
        return recorded.confidence.tolist(), recorded.correct.tolist()
    folder, pixels = real_sample_images()
    answers = check_set_answers(shared_predictor(checkpoints, rule, tta), folder, batches=[pixels])
    return None if answers is None else (answers[0].tolist(), answers[1].tolist())
