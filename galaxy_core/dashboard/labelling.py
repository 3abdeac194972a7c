"""The Label page's work: where a labelling session keeps its answers, the ranked queue (cached), one answer written
at once, and the adaptation run in the background with what it measured.

Local mode: answers go to results/labels/NAME/ (labels.csv, skipped.csv), uploaded zips are unpacked into its
images/ folder, the adapted model is written to checkpoints/adapted_NAME and can be made the default. Public mode:
answers live in the visitor's session only and nothing is written on the server; adaptation is refused.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from galaxy_core.dashboard.latent_view import from_uploads
from galaxy_core.dashboard.loaded_models import predictor
from galaxy_core.data.label_store import Answers, image_files, read_answers, record_answer
from galaxy_core.data.labelled_images import LABELS_FILE
from galaxy_core.errors import UserError
from galaxy_core.evaluation.labelling_queue import rank_batches, rank_files
from galaxy_core.fileio import write_bytes_atomic
from galaxy_core.models.checkpoint import META_FILE
from galaxy_core.processes import job_alive, last_error, start_job
from galaxy_core.settings import checkpoints_root, results_root
from galaxy_core.training.jobs import run_folder

ADAPT_FOLDER = "adapt"  # inside a session's folder: the background run's job.json and log
ANSWERS_KEY = "label_answers"  # public mode: {file: answer} in the visitor's session


def session_folder(name: str) -> Path:
    return run_folder(results_root() / "labels", name)


def adapted_folder(name: str) -> Path:
    return run_folder(checkpoints_root(), f"adapted_{name}")


def unpack_uploads(uploads, folder: Path, notes: list[str]) -> Path:
    """Local mode: the uploaded cutouts (or zips of them) written into the session's images/ folder, once each."""
    pixels, names, _ = from_uploads(uploads, notes)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    for name, image in zip(names, pixels):
        target = images / (Path(name).stem.replace("/", "_") + ".png")
        if not target.exists():
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            write_bytes_atomic(target, buffer.getvalue())
    return images


@st.cache_data(show_spinner="Ranking the galaxies by how much a label would teach the answer...", max_entries=8)
def ranked_folder(root: str, files: tuple[str, ...], strategy: str, checkpoints: tuple[str, ...], rule: str | None,
                  seed: int) -> tuple[list[dict], list[str]]:
    skipped: list[str] = []
    queue = rank_files(predictor(checkpoints, rule), Path(root), [Path(root) / f for f in files], strategy, seed, skipped)
    return queue, skipped


@st.cache_data(show_spinner="Ranking the galaxies by how much a label would teach the answer...", max_entries=4)
def ranked_pixels(key: str, _pixels: tuple, names: tuple[str, ...], strategy: str, checkpoints: tuple[str, ...], rule: str | None,
                  seed: int) -> list[dict]:
    batches = ((np.stack(_pixels[i:i + 32]), list(names[i:i + 32])) for i in range(0, len(names), 32))
    return rank_batches(predictor(checkpoints, rule), batches, strategy, seed)


def folder_queue(root: Path, strategy: str, checkpoints: tuple[str, ...], rule: str | None, seed: int = 0) -> tuple[list[dict], list[str]]:
    files = tuple(p.name for p in image_files(root))
    if not files:
        raise UserError(f"{root} holds no JPEG, PNG or FITS file: give a folder of cutouts.")
    return ranked_folder(str(root), files, strategy, checkpoints, rule, seed)


def answers_of(folder: Path | None, images: Path | None) -> Answers:
    """What has been answered so far: the session's files (local mode) or the visitor's session (public mode)."""
    if folder is None:
        found = Answers()
        for file, value in st.session_state.get(ANSWERS_KEY, {}).items():
            (found.labels if isinstance(value, int) else found.other)[file] = value
        return found
    return read_answers(folder / LABELS_FILE, images)


def answer(folder: Path | None, file: str, value: int | str) -> None:
    """One answer, written at once (atomically, under a lock) or kept in the session in public mode."""
    if folder is None:
        st.session_state.setdefault(ANSWERS_KEY, {})[file] = value
    else:
        record_answer(folder, file, value)


# ----- adaptation ------------------------------------------------------------------------------------------------------
def adaptation_running(name: str) -> bool:
    return job_alive(session_folder(name) / ADAPT_FOLDER)


def start_adaptation(name: str, images: Path, checkpoints: tuple[str, ...], rule: str | None) -> None:
    """`adapt` in the background (a CLI process: reruns and closed tabs do not touch it); the previous adapted model
    stays in force until the new one has been written whole."""
    job = session_folder(name) / ADAPT_FOLDER
    if job_alive(job):
        raise UserError("An adaptation of these labels is already running: wait for it to finish.")
    job.mkdir(parents=True, exist_ok=True)
    (job / "adapt.log").unlink(missing_ok=True)  # its last error is this run's, not an earlier one's
    models = ["--checkpoint", checkpoints[0]] if len(checkpoints) == 1 else ["--ensemble", rule, "--checkpoints", *checkpoints]
    start_job(job, ["adapt", "--images", str(images), "--labels", str(session_folder(name) / LABELS_FILE), *models,
                    "--out", str(adapted_folder(name)), "--device", "cpu"], "adapt.log")


def adaptation_state(name: str) -> dict:
    """The last adapted model's summary (meta.json's adapted block), whether a run is going, and its last error."""
    meta_path = adapted_folder(name) / META_FILE
    try:
        summary = json.loads(meta_path.read_text()).get("adapted") if meta_path.is_file() else None
    except (OSError, ValueError):
        summary = None
    job = session_folder(name) / ADAPT_FOLDER
    return {"summary": summary, "running": job_alive(job), "error": last_error(job / "adapt.log")}
