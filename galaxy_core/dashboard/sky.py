"""The sky for the pages: cutouts at typed positions, and galaxies like a classified one (issue 13)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from galaxy_core.dashboard import catalogue_runs
from galaxy_core.dashboard.loaded_models import loaded_model
from galaxy_core.data.cutouts import CUTOUT_URL_ENV, DEFAULT_CUTOUT_URL, DEFAULT_PIXSCALE, CutoutClient, CutoutError, check_position
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.errors import UserError, one_sentence
from galaxy_core.evaluation.similarity import dataset_embeddings, image_embedding, neighbours

MAX_POSITIONS = 20
VIEWER = "https://www.legacysurvey.org/viewer?ra={ra:.5f}&dec={dec:.5f}&layer=ls-dr10&zoom=15"


def parse_positions(text: str) -> tuple[list[tuple[float, float]], list[str]]:
    """'RA, Dec' per line (commas or spaces) -> positions, and one sentence per line that is not one."""
    positions, errors = [], []
    for number, line in enumerate((text or "").splitlines(), start=1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        if len(positions) >= MAX_POSITIONS:
            errors.append(f"Only the first {MAX_POSITIONS} positions are used: classify the rest next, or run a catalogue.")
            break
        try:
            if len(parts) != 2:
                raise CutoutError(f"Line {number} ({line.strip()[:40]!r}) is not 'RA, Dec' in degrees.")
            positions.append(check_position(*parts))
        except CutoutError as exc:
            errors.append(one_sentence(exc))
    return positions, errors


def cutout(ra: float, dec: float, pixscale: float = DEFAULT_PIXSCALE) -> tuple[np.ndarray, str]:
    """(256x256 RGB, the cutout's URL) from the Legacy Surveys viewer (or $GALAXY_CUTOUT_URL); CutoutError if none."""
    return _cutout(ra, dec, pixscale, os.environ.get(CUTOUT_URL_ENV) or DEFAULT_CUTOUT_URL)


@st.cache_data(show_spinner="Fetching the cutout...", max_entries=256)
def _cutout(ra: float, dec: float, pixscale: float, service: str) -> tuple[np.ndarray, str]:
    found = CutoutClient(service, pixscale=pixscale, timeout_s=15, retries=2).fetch(ra, dec)
    return found.image.pixels, found.url


@st.cache_resource(show_spinner="Computing the dataset's embeddings for this model (once)...", max_entries=4)
def _embeddings(checkpoint: str, data_path: str, fingerprint: str) -> np.ndarray:
    model, meta = loaded_model(checkpoint)
    return np.asarray(dataset_embeddings(checkpoint, model, meta, Galaxy10(data_path), torch.device("cpu")))


def similar_galaxies(checkpoint: str, data: Galaxy10, pixels: np.ndarray, k: int = 8, exclude: int | None = None) -> list[dict]:
    """The k dataset galaxies nearest to `pixels` in the checkpoint's latent space, nearest first."""
    embeddings = _embeddings(checkpoint, str(data.path), data.fingerprint())
    model, meta = loaded_model(checkpoint)
    query = image_embedding(model, pixels, meta, torch.device("cpu"))
    return neighbours(embeddings, data.labels, query, k, exclude)


def show_similar(checkpoint: str, data: Galaxy10, pixels: np.ndarray, exclude: int | None = None) -> None:
    """A row of the nearest dataset galaxies with their classes and cosine distances."""
    found = similar_galaxies(checkpoint, data, pixels, 8, exclude)
    st.image([data.image(n["index"]) for n in found], width=110,
             caption=[f"#{n['index']} {n['class']} (d={n['distance']:.3f})" for n in found])


def catalogue_panel(checkpoint: str) -> None:
    """Upload a CSV of positions; it runs in the background with the first chosen model; follow it, download it."""
    with st.expander("A whole catalogue (CSV with columns ra, dec and optionally id)"):
        upload = st.file_uploader("Catalogue CSV", type=["csv"], key="catalogue_upload", max_upload_size=5)
        if upload is not None and st.button(f"Classify it with {Path(checkpoint).name}", key="catalogue_start"):
            try:
                st.session_state["catalogue_run"] = str(catalogue_runs.start_run(upload.getvalue(), checkpoint))
            except UserError as exc:
                st.error(str(exc))
        if st.session_state.get("catalogue_run"):
            _follow(Path(st.session_state["catalogue_run"]))


@st.fragment(run_every=2)
def _follow(folder: Path) -> None:
    total, done, running = catalogue_runs.total_rows(folder), catalogue_runs.done_rows(folder), catalogue_runs.running(folder)
    st.progress(min(done / max(total, 1), 1.0), text=f"{done:,} of {total:,} rows" + (" (running)" if running else ""))
    if running and st.button("Stop", key="catalogue_stop", help="Finished rows are kept; Resume goes on from there."):
        catalogue_runs.stop(folder)
        st.rerun(scope="fragment")
    if not running and done < total and st.button("Resume", key="catalogue_resume", help="Goes on where the run stopped."):
        catalogue_runs.resume(folder)
        st.rerun(scope="fragment")
    error = catalogue_runs.last_error(folder)
    if error and not running:
        st.error(error)
    if done:
        st.download_button("Download the predictions (CSV)", (folder / "predictions.csv").read_bytes(), file_name="predictions.csv",
                           mime="text/csv", key="catalogue_download")
