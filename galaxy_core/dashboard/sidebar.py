"""The sidebar every page shares: the dataset in use (and a path box for another) and the checkpoints found."""
from __future__ import annotations

import streamlit as st

from galaxy_core.dashboard.loaded_models import checkpoint_labels
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.dashboard.data_source import MAX_PATH_CHARS
from galaxy_core.settings import checkpoints_root, configured_datasets, public_mode


def sidebar(data: Galaxy10 | None, error: str | None) -> None:
    with st.sidebar:
        if public_mode():  # visitors choose among the operator's files; they never type a path
            offered = [path.name for path in configured_datasets()]
            if offered:
                st.selectbox("Galaxy10 file", [None, *offered], key="data_choice",
                             format_func=lambda name: name or "the synthetic default")
        else:
            st.text_input(
                "Galaxy10 file",
                key="data_path",
                placeholder="empty: $GALAXY10_H5 or the synthetic default",
                help="Path to Galaxy10_DECals.h5 on this machine. Get it with `python -m galaxy_core download`.",
                max_chars=MAX_PATH_CHARS,
            )
        if error:
            st.error(error)
        elif data is not None:
            kind = "Synthetic" if data.is_synthetic else "Real"
            st.markdown(f"**Dataset:** {kind} Galaxy10, {len(data):,} images  \n`{data.path.name}`")
            if data.is_synthetic:
                st.caption("Synthetic galaxies made by galaxy_core's generator, not real observations.")
        found = checkpoint_labels()
        root = checkpoints_root().name
        st.markdown(f"**Checkpoints:** {len(found)} in `{root}/`" if found else "**Checkpoints:** none trained yet")
        for label in found.values():
            st.caption(label)
        if found:
            st.caption("Real check set: 60 real galaxies shipped with the package, a development set; "
                       "synthetic test scores say nothing about real galaxies.")
