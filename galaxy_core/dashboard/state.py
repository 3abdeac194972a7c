"""The dataset handle, cached once per process, and the sidebar every page shares."""
from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from galaxy_core.data.default import (DATA_ENV, default_dataset_path, generation_progress, generation_running, resolve_dataset,
                                      start_generation_process)
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.errors import UserError

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


@st.cache_resource(show_spinner=False, max_entries=4)
def _open_dataset(path: str, stamp: tuple[int, int]) -> Galaxy10:
    """One reader per file version per process; `stamp` (mtime, size) reopens a replaced file."""
    return Galaxy10(path)


def _make_default_with_progress() -> None:
    """Start (or join) the background generation of the default dataset and show its progress.

    The work runs in a separate CLI process, so page reruns and other sessions never start it
    twice, and it carries on if this page is left.
    """
    path = default_dataset_path()
    bar = st.progress(0.0, text="Creating the default synthetic dataset (once; about 80 s on two cores)...")
    process = None if generation_running() else start_generation_process()  # else another session's run
    while not path.exists():
        done_total = generation_progress()
        if done_total:
            done, total = done_total
            bar.progress(done / total, text=f"Creating the default synthetic dataset: {done:,} of {total:,} images")
        alive = (process is not None and process.poll() is None) or generation_running()
        if not alive and not path.exists():
            raise UserError(f"Creating the default dataset stopped before it finished (log: {path.parent / 'default_generation.log'}): "
                            "reload the page to continue it, or run `python -m galaxy_core synth --default` in a terminal.")
        time.sleep(1.0)
    bar.empty()


def dataset() -> tuple[Galaxy10 | None, str | None]:
    """The Galaxy10 file in use (sidebar path, else $GALAXY10_H5, else the synthetic default) or an error."""
    explicit = (st.session_state.get("data_path") or "").strip() or None
    try:
        if not explicit and not os.environ.get(DATA_ENV) and not default_dataset_path().exists():
            _make_default_with_progress()
        path = resolve_dataset(explicit)
        if not path.exists():
            raise UserError(f"{path} does not exist: check the path, or clear it to use the synthetic default.")
        stat = path.stat()
        return _open_dataset(str(path.resolve()), (stat.st_mtime_ns, stat.st_size)), None
    except UserError as exc:
        return None, str(exc)


def checkpoint_dirs() -> list[Path]:
    """Trained models: every folder under checkpoints/ that holds a meta.json."""
    return sorted(p.parent for p in CHECKPOINTS.glob("*/meta.json"))


def sidebar(data: Galaxy10 | None, error: str | None) -> None:
    with st.sidebar:
        st.text_input(
            "Galaxy10 file",
            key="data_path",
            placeholder="empty: $GALAXY10_H5 or the synthetic default",
            help="Path to Galaxy10_DECals.h5 on this machine. Get it with `python -m galaxy_core download`.",
        )
        if error:
            st.error(error)
        elif data is not None:
            kind = "Synthetic" if data.is_synthetic else "Real"
            st.markdown(f"**Dataset:** {kind} Galaxy10, {len(data):,} images  \n`{data.path.name}`")
            if data.is_synthetic:
                st.caption("Synthetic galaxies made by galaxy_core's generator, not real observations.")
        found = checkpoint_dirs()
        st.markdown(f"**Checkpoints:** {len(found)} in `checkpoints/`" if found else "**Checkpoints:** none trained yet")
        for folder in found:
            st.caption(folder.name)


def _weights_stamp(checkpoint: str) -> tuple[int, int]:
    """(mtime, size) of the weights: a retrained checkpoint in the same folder loads afresh."""
    from galaxy_core.training.checkpoint import WEIGHTS_FILE

    try:
        stat = (Path(checkpoint) / WEIGHTS_FILE).stat()
        return stat.st_mtime_ns, stat.st_size
    except OSError:
        return 0, 0  # load_checkpoint then names what is missing


@st.cache_resource(show_spinner="Loading the model...", max_entries=8)
def _loaded_model(checkpoint: str, stamp: tuple[int, int]):
    from galaxy_core.training.checkpoint import load_checkpoint

    return load_checkpoint(checkpoint, "cpu")


def loaded_model(checkpoint: str):
    """(model, meta) of one checkpoint, loaded once per process and shared by every page and ensemble.

    One copy of each model, not one per page or per ensemble: the five demo models take about 200 MB.
    Whoever runs a shared model holds `galaxy_core.inference.MODEL_LOCK`.
    """
    return _loaded_model(str(checkpoint), _weights_stamp(str(checkpoint)))


def predictor(checkpoints: tuple[str, ...], rule: str | None):
    """A Predictor over the shared models (cheap to build: the models themselves are cached)."""
    from galaxy_core.inference import Predictor

    return Predictor(list(checkpoints), rule, device="cpu", load=loaded_model)


def checkpoint_labels() -> dict[str, str]:
    """Checkpoint folder -> a label with its test accuracy, for model pickers."""
    import json

    labels = {}
    for folder in checkpoint_dirs():
        try:
            meta = json.loads((folder / "meta.json").read_text())
            accuracy = meta["metrics"]["test"]["accuracy"]
            labels[str(folder)] = f"{folder.name} ({meta['model']}, test acc {accuracy:.1%})"
        except (ValueError, KeyError, OSError):
            labels[str(folder)] = f"{folder.name} (unreadable meta.json)"
    return labels


@st.cache_data(show_spinner="Scoring the test images (once per checkpoint)...", max_entries=16)
def test_predictions(checkpoint: str, data_path: str, fingerprint: str) -> dict:
    """Per-image test predictions of one checkpoint on the dataset in use, computed once."""
    from galaxy_core.evaluation.evaluate import predict_checkpoint
    from galaxy_core.evaluation.metrics import compute_metrics

    from galaxy_core.inference import MODEL_LOCK

    data = Galaxy10(data_path)
    with MODEL_LOCK:
        predictions, context = predict_checkpoint(checkpoint, data, "test", loaded=loaded_model(checkpoint))
    smoothing = context["meta"]["recipe"].get("label_smoothing") or 0.1
    return {"indices": predictions.indices, "labels": predictions.labels, "probabilities": predictions.probabilities,
            "metrics": compute_metrics(predictions.labels, predictions.probabilities, smoothing),
            "meta": context["meta"], "cross_dataset": context["cross_dataset"]}


@st.cache_data(show_spinner="Computing latent features of the test images (once per checkpoint)...", max_entries=16)
def test_latents(checkpoint: str, data_path: str, fingerprint: str, limit: int = 1500) -> dict:
    """Latent features (penultimate layer; the autoencoder's latent vector) and their PCA, computed once."""
    import numpy as np
    import torch

    from galaxy_core.data.transforms import Preprocessing
    from galaxy_core.evaluation.embeddings import latent_features, pca_projection
    from galaxy_core.inference import MODEL_LOCK

    predictions = test_predictions(checkpoint, data_path, fingerprint)
    keep = np.arange(min(limit, len(predictions["indices"])))  # bounded work and memory on big files
    model, meta = loaded_model(checkpoint)
    with MODEL_LOCK:
        features = latent_features(model, Galaxy10(data_path), predictions["indices"][keep],
                                   Preprocessing.from_dict(meta["preprocessing"]), torch.device("cpu"))
    coords, ratio = pca_projection(features, 3)
    return {"indices": predictions["indices"][keep], "labels": predictions["labels"][keep],
            "predicted": predictions["probabilities"][keep].argmax(axis=1), "coords": coords, "explained": ratio,
            "dimension": int(features.shape[1])}


@st.cache_data(show_spinner="Combining the models...", max_entries=16)
def ensemble_test_predictions(checkpoints: tuple[str, ...], rule: str, data_path: str, fingerprint: str) -> dict:
    """An ensemble's per-image predictions on the test images every member held out."""
    import numpy as np

    from galaxy_core.evaluation.ensemble import align_on_common, combine, preferences
    from galaxy_core.evaluation.metrics import compute_metrics

    members = [test_predictions(c, data_path, fingerprint) for c in checkpoints]
    common, aligned = align_on_common([m["indices"] for m in members], [m["probabilities"] for m in members])
    preferred, val_f1 = preferences([m["meta"]["metrics"].get("val") for m in members])
    if rule == "f1_weighted" and any(f is None for f in val_f1):
        raise UserError("f1_weighted needs validation metrics in every checkpoint: retrain them with this version.")
    names = [Path(c).name for c in checkpoints]
    output = combine(rule, aligned, names, preferred, val_f1)
    labels = members[0]["labels"][np.searchsorted(members[0]["indices"], common)]
    # the history and recipe shown are the preferred member's
    return {"indices": common, "labels": labels, "probabilities": output.probabilities, "source": output.source,
            "metrics": compute_metrics(labels, output.probabilities), "meta": members[preferred]["meta"],
            "cross_dataset": any(m["cross_dataset"] for m in members), "members": names, "preferred": names[preferred]}


def require_dataset() -> Galaxy10:
    """The dataset in use, or the page stops with its error."""
    data, error = dataset()
    if data is None:
        st.error(error)
        st.stop()
    return data


def require_checkpoints() -> dict[str, str]:
    """Checkpoint folder -> label, or the page stops saying how to train one."""
    labels = checkpoint_labels()
    if not labels:
        st.info("No trained checkpoints in `checkpoints/` yet: train one with `python -m galaxy_core train --model cnn`.")
        st.stop()
    return labels
