"""The Latent space page's cached work: synthetic test points and real galaxies through one model, the map fitted on
the synthetic points (PCA or UMAP, per checkpoint, dataset fingerprint, method and dimensions) and the gap scores."""
from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from galaxy_core.dashboard.loaded_models import loaded_model, predictor
from galaxy_core.dashboard.scores import real_sample_images
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.image_batches import expand_uploads
from galaxy_core.data.images import MAX_BYTES, load_image
from galaxy_core.data.labelled_images import read_image_folder
from galaxy_core.errors import UserError
from galaxy_core.evaluation import latent_gap

PAGE_LIMIT = 500  # real images one page placement holds (their thumbnails stay in memory)


@st.cache_resource(show_spinner="Computing latent features of the synthetic test images (once per checkpoint)...", max_entries=8)
def synthetic(checkpoint: str, data_path: str, fingerprint: str) -> latent_gap.LatentPoints:
    model, meta = loaded_model(checkpoint)
    return latent_gap.synthetic_points(model, meta, Galaxy10(data_path), "cpu")


@st.cache_resource(show_spinner="Fitting the map on the synthetic points (once per checkpoint and method)...", max_entries=16)
def projection(checkpoint: str, data_path: str, fingerprint: str, method: str, dimensions: int) -> latent_gap.Projection:
    return latent_gap.Projection(method, dimensions).fit(synthetic(checkpoint, data_path, fingerprint).features)


@st.cache_resource(show_spinner="Placing the real galaxies...", max_entries=16)
def real(checkpoint: str, key: str, _pixels: tuple, names: tuple, labels: tuple) -> latent_gap.LatentPoints:
    """Real images through the model; `key` (the images' digest) is what the cache is keyed on."""
    return latent_gap.real_points(predictor((checkpoint,), None), [np.stack(_pixels[i:i + 32]) for i in range(0, len(_pixels), 32)],
                                  list(names), np.asarray(labels))


@st.cache_data(show_spinner="Measuring the gap...", max_entries=16)
def gap(checkpoint: str, data_path: str, fingerprint: str, real_key: str, k: int, _real: latent_gap.LatentPoints) -> dict:
    return latent_gap.gap_scores(synthetic(checkpoint, data_path, fingerprint), _real, k)


def digest(pixels: list[np.ndarray]) -> str:
    hashed = hashlib.sha256()
    for p in pixels:
        hashed.update(p.tobytes())
    return hashed.hexdigest()[:16]


def check_set() -> tuple[list[np.ndarray], list[str], list[int]]:
    folder, pixels = real_sample_images()
    return list(pixels), [p.name for p in folder.files], folder.labels.tolist()


def from_folder(path: str, notes: list[str]) -> tuple[list[np.ndarray], list[str], list[int]]:
    """A local folder of cutouts (labels read as `evaluate --images` reads them), its first PAGE_LIMIT readable ones."""
    folder = read_image_folder(path)
    if len(folder) > PAGE_LIMIT:
        notes.append(f"Only the first {PAGE_LIMIT} of {len(folder):,} images are placed here; "
                     "`python -m galaxy_core latent --images FOLDER` places up to 10,000.")
    pixels, names, labels, skipped = [], [], [], []
    for batch, positions in latent_gap.readable_batches(folder.files[:PAGE_LIMIT], skipped):
        pixels += list(batch)
        names += [folder.files[i].name for i in positions]
        labels += [int(folder.labels[i]) for i in positions]
    notes += skipped[:5] + ([f"... and {len(skipped) - 5} more unreadable files"] if len(skipped) > 5 else [])
    if not pixels:
        raise UserError(f"No image in {folder.root.name} could be read: give a folder of JPEG, PNG or FITS cutouts.")
    return pixels, names, labels


def from_uploads(uploads, notes: list[str]) -> tuple[list[np.ndarray], list[str], list[int]]:
    """Uploaded images or zips (unlabelled), opened safely, at most PAGE_LIMIT images."""
    pixels, names = [], []
    for found in expand_uploads([(u.name, u.read(MAX_BYTES + 1)) for u in uploads], PAGE_LIMIT):
        if isinstance(found, str):
            notes.append(found)
            continue
        try:
            pixels.append(load_image(found[1], found[0]).pixels)
            names.append(found[0])
        except UserError as exc:
            notes.append(str(exc))
    if not pixels:
        raise UserError("None of the uploaded files could be read as an image: upload JPEG, PNG or FITS cutouts, or a zip of them.")
    return pixels, names, [-1] * len(pixels)
