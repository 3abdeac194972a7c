"""Where the Classify page's images come from: uploads, the real check set, a dataset image, sky positions.

Each source returns `Item`s: the pixels and what is known about them, so the page passes values, never display strings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st

from galaxy_core.classes import CLASSES
from galaxy_core.dashboard.data_source import require_dataset
from galaxy_core.dashboard.loaded_models import loaded_model
from galaxy_core.dashboard.scores import real_sample_images
from galaxy_core.dashboard.sky import VIEWER, catalogue_panel, cutout, parse_positions
from galaxy_core.data.cutouts import training_pixscale
from galaxy_core.data.fits import FITS_SUFFIXES, is_fits
from galaxy_core.data.image_batches import expand_uploads
from galaxy_core.data.images import MAX_BYTES, MAX_IMAGE_MB, load_image
from galaxy_core.data.stretch import LEGACY_SURVEYS, AsinhStretch
from galaxy_core.errors import UserError
from galaxy_core.evaluation.metrics import trained_on_check_set

MAX_UPLOAD_FILES = 100  # images per batch, from files or zips: 100 decoded cutouts are 20 MB per visitor
UPLOAD, REAL_EXAMPLES, DATASET, SKY = "Upload", "Real galaxies (the check set)", "From the dataset", "Sky position"
SOURCES = (UPLOAD, REAL_EXAMPLES, DATASET, SKY)


@dataclass
class Item:
    name: str
    pixels: np.ndarray  # (256, 256, 3) uint8
    truth: int | None = None  # the true class, where known
    dataset_index: int | None = None  # where the image is a dataset galaxy (left out of its own look-alikes)
    notes: list[str] = field(default_factory=list)


def stretch_controls() -> AsinhStretch:
    """The asinh stretch FITS uploads get (the Legacy Surveys' own by default, which made Galaxy10's JPEGs)."""
    with st.expander("FITS colour stretch (for FITS uploads only)"):
        st.caption("FITS cutouts hold g, r, z fluxes in nanomaggies; this stretch makes them the 8-bit picture the models see, "
                   "as it made Galaxy10's JPEGs. Its defaults are the Legacy Surveys'; other values show faint light differently "
                   "and move the models' answers.")
        q, offset = st.columns(2)
        g, r, z = st.columns(3)
        default = LEGACY_SURVEYS
        return AsinhStretch(
            scales=(g.number_input("g scale", 0.1, 100.0, default.scales[0], key="fits_g"),
                    r.number_input("r scale", 0.1, 100.0, default.scales[1], key="fits_r"),
                    z.number_input("z scale", 0.1, 100.0, default.scales[2], key="fits_z")),
            offset=offset.number_input("offset", 0.0, 1.0, default.offset, step=0.01, key="fits_offset"),
            q=q.number_input("softening Q", 1.0, 200.0, default.q, key="fits_q"))


def uploaded_items() -> list[Item]:
    """Uploads are read once, then the uploader is replaced by a fresh one, so Streamlit lets go of the uploaded bytes
    (up to MAX_UPLOAD_FILES x MAX_IMAGE_MB per visitor). JPEG and PNG are kept decoded; FITS as their bytes (a
    256-px cutout is under 1 MB), decoded on every run with the stretch as set."""
    generation = st.session_state.setdefault("upload_generation", 0)
    uploads = st.file_uploader(f"JPEG, PNG or FITS images, or zips of them (up to {MAX_UPLOAD_FILES} images, {MAX_IMAGE_MB} MB a file)",
                               type=["jpg", "jpeg", "png", *(s[1:] for s in FITS_SUFFIXES), "zip"],
                               accept_multiple_files=True, key=f"classify_upload_{generation}", max_upload_size=MAX_IMAGE_MB)
    if uploads:
        kept = []
        for found in expand_uploads([(upload.name, upload.read(MAX_BYTES + 1)) for upload in uploads], MAX_UPLOAD_FILES):
            try:
                kept.append(found if isinstance(found, str) or is_fits(found[1]) else _item(*found))
            except UserError as exc:
                kept.append(str(exc))
        del uploads
        st.session_state["classify_uploaded"] = kept
        st.session_state["upload_generation"] = generation + 1
        st.rerun()
    uploaded = st.session_state.get("classify_uploaded", [])
    stretch = stretch_controls() if any(isinstance(k, tuple) for k in uploaded) else LEGACY_SURVEYS
    items = []
    for kept in uploaded:
        if isinstance(kept, tuple):  # FITS: decoded with the stretch as set now
            try:
                kept = _item(*kept, stretch)
            except UserError as exc:
                kept = str(exc)
        if isinstance(kept, str):  # a file that could not be used: its one sentence
            st.error(kept)
            continue
        for note in kept.notes:
            st.caption(f"{kept.name}: {note}")
        items.append(kept)
    return items


def _item(name: str, data: bytes, stretch: AsinhStretch = LEGACY_SURVEYS) -> Item:
    """An uploaded file's bytes decoded (a FITS cutout with `stretch`)."""
    decoded = load_image(data, name=name, stretch=stretch)
    return Item(name, decoded.pixels, notes=decoded.notes)


def real_example_items(chosen: list[str]) -> list[Item]:
    """Galaxies of the real check set, clicked as pills, each with its Galaxy Zoo label."""
    folder, pixels = real_sample_images()
    files = [path.name for path in folder.files]
    picked = st.pills("Real Galaxy10 DECaLS galaxies (click to classify; labels by Galaxy Zoo volunteers)", range(len(files)),
                      selection_mode="multi", default=[files.index(f) for f in files if f.endswith("_curated.jpg")][:1],
                      format_func=lambda i: f"{CLASSES[folder.labels[i]].short} · {files[i].removeprefix('g10_').removesuffix('.jpg')}",
                      key="classify_real")
    tuned = [Path(c).name for c in chosen if trained_on_check_set(loaded_model(c)[1])]
    if tuned:
        st.warning(f"{', '.join(tuned)} learned from these very galaxies, so right answers here prove nothing: upload other galaxies to try it.")
    return [Item(files[i], pixels[i], truth=int(folder.labels[i])) for i in picked or []]


def dataset_items() -> list[Item]:
    data = require_dataset()
    index = int(st.number_input(f"Image index (0 to {len(data) - 1:,})", 0, len(data) - 1, 0, key="classify_index"))
    return [Item(f"#{index}", data.image(index), truth=int(data.labels[index]), dataset_index=index)]


def sky_items(chosen: list[str]) -> list[Item]:
    """Legacy Surveys cutouts at typed positions, at the models' training pixel scale, linked to the viewer."""
    catalogue_panel(chosen[0])
    try:
        pixscale = training_pixscale([loaded_model(c)[1] for c in chosen], "choose models trained at one scale")
    except UserError as exc:
        st.error(str(exc))
        st.stop()
    text = st.text_area("RA, Dec in degrees, one position per line (at most 20)", key="classify_positions", placeholder="185.7286, 15.8223",
                        help=f"Cutouts of the Legacy Surveys DR10 (grz, {pixscale:g}\"/px as the models' training data, 256 px), as Galaxy10 DECaLS.")
    positions, problems = parse_positions(text)
    for problem in problems:
        st.error(problem)
    items = []
    for ra, dec in positions:
        try:
            pixels, url = cutout(ra, dec, pixscale)
        except UserError as exc:  # no network, outside the footprint, a failing service: one sentence, the page goes on
            st.error(str(exc))
            continue
        items.append(Item(f"RA {ra:.4f}, Dec {dec:.4f}", pixels))
        st.caption(f"[RA {ra:.4f}, Dec {dec:.4f} in the Legacy Surveys viewer]({VIEWER.format(ra=ra, dec=dec)}) · [cutout]({url})")
    return items


def gather(source: str, chosen: list[str]) -> list[Item]:
    if source == UPLOAD:
        return uploaded_items()
    if source == REAL_EXAMPLES:
        return real_example_items(chosen)
    if source == SKY:
        return sky_items(chosen)
    return dataset_items()
