"""Dataset browser: class counts, a paged thumbnail grid per class and split, a detail view."""
import math

import numpy as np
import streamlit as st

from galaxy_core.classes import CLASS_NAMES
from galaxy_core.dashboard.data_source import require_dataset
from galaxy_core.dashboard.charts import class_counts_figure
from galaxy_core.data.images import STRETCHES, display_stretch
from galaxy_core.data.splits import DEFAULT_SCHEME, PARTS, select, stratified_split
from galaxy_core.dashboard.loaded_models import checkpoint_dirs
from galaxy_core.dashboard.sky import show_similar

PAGE_SIZE = 24
COLUMNS = 6

st.title("Dataset browser")
data = require_dataset()

st.plotly_chart(class_counts_figure(data.class_counts(), compare_with_real=False), width="stretch")

controls = st.columns([2, 1, 1, 1])
class_choice = controls[0].selectbox("Class", ["All classes", *CLASS_NAMES], key="browse_class")
part = controls[1].selectbox("Split part", ["all", *PARTS], key="browse_part",
                             help=f"The default {DEFAULT_SCHEME} split, seed 0: the one training uses.")
stretch = controls[2].selectbox("Display stretch", STRETCHES, key="browse_stretch")
strength = controls[3].slider("Strength", 0.0, 1.0, 0.5, key="browse_strength", disabled=stretch == "as stored")

label = None if class_choice == "All classes" else CLASS_NAMES.index(class_choice)
split = stratified_split(data.labels, DEFAULT_SCHEME, 0) if part != "all" else None
indices = select(data.labels, split, None if part == "all" else part, label)
pages = max(1, math.ceil(len(indices) / PAGE_SIZE))
page_number = st.number_input(f"Page (of {pages})", 1, pages, 1, key="browse_page")
shown = indices[(page_number - 1) * PAGE_SIZE : page_number * PAGE_SIZE]
st.caption(f"{len(indices):,} images match; showing {len(shown)}.")

thumbnails = data.images(shown) if len(shown) else np.empty((0, *data.image_shape), np.uint8)  # only what is shown
for row_start in range(0, len(shown), COLUMNS):
    for column, position in zip(st.columns(COLUMNS), range(row_start, min(row_start + COLUMNS, len(shown)))):
        index = int(shown[position])
        column.image(display_stretch(thumbnails[position], stretch, strength),
                     caption=f"#{index} · {CLASS_NAMES[data.labels[index]]}", width="stretch")

st.subheader("Detail")
pick, jump = st.columns([2, 1])
options = [int(i) for i in shown]
picked = pick.selectbox("Galaxy on this page", options, key="browse_pick",
                        format_func=lambda i: f"#{i} · {CLASS_NAMES[data.labels[i]]}") if options else None
typed = jump.number_input(f"...or any index (0 to {len(data) - 1:,})", 0, len(data) - 1, value=None, key="browse_index")
index = int(typed) if typed is not None else picked
if index is None:
    st.stop()
image_column, facts_column = st.columns([2, 1])
image_column.image(display_stretch(data.image(index), stretch, strength), width="stretch")
ra, dec = data.metadata["ra"][index], data.metadata["dec"][index]
redshift, pxscale = data.metadata["redshift"][index], data.metadata["pxscale"][index]
facts_column.markdown(
    f"**Class:** {CLASS_NAMES[data.labels[index]]} ({data.labels[index]})  \n"
    f"**RA, Dec:** {ra:.5f}°, {dec:+.5f}°  \n"
    f"**Redshift:** {'unknown' if np.isnan(redshift) else f'{redshift:.4f}'}  \n"
    f"**Pixel scale:** {pxscale:.3f} arcsec/pixel"
)
facts_column.link_button("Open in the Legacy Survey viewer",
                         f"https://www.legacysurvey.org/viewer?ra={ra:.5f}&dec={dec:.5f}&layer=ls-dr10&zoom=15")
if data.is_synthetic:
    facts_column.caption("Synthetic coordinates: the viewer shows whatever real sky lies there.")

models = checkpoint_dirs()
if models and st.toggle("Galaxies like this one", key="browse_similar", help="The nearest galaxies of this dataset in a model's latent space."):
    chosen = st.selectbox("Model", [str(m) for m in models], key="browse_similar_model", format_func=lambda m: m.rsplit("/", 1)[-1])
    show_similar(chosen, data, data.image(index), exclude=index)
