"""Trained models for the pages: found in the checkpoints root, labelled, loaded once per process."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from galaxy_core.errors import UserError
from galaxy_core.evaluation.metrics import accuracy_summary
from galaxy_core.inference.default_answer import DefaultAnswer, DefaultChoice, default_answer
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
    Every pass through a model holds that model's own lock (`galaxy_core.inference.forward.inference`), whoever calls it.
    """
    return _loaded_model(str(checkpoint), weights_stamp(str(checkpoint)))


def predictor(checkpoints: tuple[str, ...], rule: str | None, tta: bool = False) -> Predictor:
    """A Predictor over the shared models (cheap to build: the models themselves are cached)."""
    return Predictor(list(checkpoints), rule, device="cpu", load=loaded_model, tta=tta)


def default_choice() -> DefaultChoice | None:
    """The default answer as the command line and the service take it (`default_answer`); None where there is none
    (several checkpoints and no usable record): the pages then start from their first model, without averaging."""
    try:
        return default_answer(checkpoints_root())
    except UserError:
        return None


def recorded_default() -> DefaultAnswer | None:
    """The record behind the default answer (its measurement and check-set confidences), where it is the one in force."""
    choice = default_choice()
    return choice.recorded if choice else None


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
