"""Galaxy10 DECaLS workbench: `streamlit run app.py`. A router over app_pages/; the sidebar is shared.

The pages live in app_pages/, not pages/: Streamlit treats a folder named pages/ as legacy
auto-discovered pages, which can run a page without this router (no sidebar, no dataset choice).
"""
from pathlib import Path

import streamlit as st

from galaxy_core.dashboard.data_source import dataset
from galaxy_core.dashboard.sidebar import sidebar
from galaxy_core.settings import public_mode, quiet_library_warnings

st.set_page_config(page_title="Galaxy10 workbench", page_icon=":milky_way:", layout="wide")
# .streamlit/config.toml hides error details from every browser; a local run (the owner's own
# machine) shows them. Public mode ($GALAXY_PUBLIC, on by default on Community Cloud) keeps them hidden.
st.set_option("client.showErrorDetails", "none" if public_mode() else "full")
quiet_library_warnings()

PAGES = Path(__file__).resolve().parent / "app_pages"  # absolute: the Community Cloud entry point lives elsewhere
page = st.navigation([
    st.Page(PAGES / "overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page(PAGES / "dataset.py", title="Dataset browser", icon=":material/grid_view:"),
    st.Page(PAGES / "classify.py", title="Classify", icon=":material/image_search:"),
    st.Page(PAGES / "evaluation.py", title="Evaluation", icon=":material/analytics:"),
    st.Page(PAGES / "latent.py", title="Latent space", icon=":material/scatter_plot:"),
    st.Page(PAGES / "label.py", title="Label", icon=":material/label:"),
    st.Page(PAGES / "train.py", title="Train", icon=":material/model_training:"),
])
data, error = dataset()
sidebar(data, error)
page.run()
