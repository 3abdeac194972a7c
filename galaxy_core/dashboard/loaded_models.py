"""Trained models for the pages: found in the checkpoints root, labelled, loaded once per process."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from galaxy_core.data.labelled_images import real_sample
from galaxy_core.errors import UserError
from galaxy_core.evaluation.folders import check_set_answers
from galaxy_core.evaluation.metrics import accuracy_summary
from galaxy_core.inference.default_answer import DefaultAnswer, read_default
from galaxy_core.inference.predictor import Predictor
from galaxy_core.models.checkpoint import WEIGHTS_FILE, find_checkpoints, load_checkpoint, read_meta
from galaxy_core.settings import checkpoints_root


def checkpoint_dirs() -> list[Path]:
    """Trained models: every folder of the checkpoints root that holds a meta.json."""
    return find_checkpoints(checkpoints_root())


def weights_stamp(checkpoint: str) -> tuple[int, int]:
    """(mtime, size) of the weights: a retrained checkpoint in the same folder loads afresh."""
    try:
        stat = (Path(checkpoint) / WEIGHTS_FILE).stat()
        return stat.st_mtime_ns, stat.st_size
    except OSError:
        return 0, 0  # load_checkpoint then names what is missing


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def _loaded_model(checkpoint: str, stamp: tuple[int, int]):
    return load_checkpoint(checkpoint, "cpu")


def loaded_model(checkpoint: str):
    """(model, meta) of one checkpoint, loaded once per process and shared by every page and ensemble.

    One copy of each model, not one per page or per ensemble: the five demo models take about 200 MB.
    Whoever runs a shared model holds `galaxy_core.inference.logits.MODEL_LOCK`.
    """
    return _loaded_model(str(checkpoint), weights_stamp(str(checkpoint)))


def predictor(checkpoints: tuple[str, ...], rule: str | None, tta: bool = False) -> Predictor:
    """A Predictor over the shared models (cheap to build: the models themselves are cached)."""
    return Predictor(list(checkpoints), rule, device="cpu", load=loaded_model, tta=tta)


def recorded_default() -> DefaultAnswer | None:
    """The recorded default answer (checkpoints/default.json) when every checkpoint it names is there; else None."""
    try:
        recorded = read_default(checkpoints_root())
    except UserError:
        return None
    return recorded if recorded is not None and not recorded.missing else None


@st.cache_data(show_spinner="Measuring these models on the real check set (once)...", max_entries=32)
def check_set_record(checkpoints: tuple[str, ...], rule: str | None, tta: bool) -> tuple[list[float], list[bool]] | None:
    """The chosen models' confidence and rightness on the real check set: the recorded default's as measured when it was
    chosen, any other choice's measured now; None where a model learned from those galaxies."""
    recorded = recorded_default()
    if recorded is not None and [str(c) for c in recorded.checkpoints] == list(checkpoints) and recorded.rule == rule \
            and recorded.tta == tta and len(recorded.confidence):
        return recorded.confidence.tolist(), recorded.correct.tolist()
    answers = check_set_answers(predictor(checkpoints, rule, tta), real_sample())
    return None if answers is None else (answers[0].tolist(), answers[1].tolist())


def checkpoint_labels() -> dict[str, str]:
    """Checkpoint folder -> a label with both its accuracies (synthetic test, real check set), for model pickers."""
    labels = {}
    for folder in checkpoint_dirs():
        try:
            meta = read_meta(folder)
            labels[str(folder)] = f"{folder.name} ({meta['model']}; {accuracy_summary(meta)})"
        except (UserError, KeyError, TypeError, ValueError):
            labels[str(folder)] = f"{folder.name} (unreadable meta.json)"
    return labels


def require_checkpoints() -> dict[str, str]:
    """Checkpoint folder -> label, or the page stops saying how to train one."""
    labels = checkpoint_labels()
    if not labels:
        st.info(f"No trained checkpoints in `{checkpoints_root()}` yet: train one with `python -m galaxy_core train --model cnn`.")
        st.stop()
    return labels
