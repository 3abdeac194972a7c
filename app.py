"""Galaxy10 DECaLS workbench: `streamlit run app.py`. A router over app_pages/; the sidebar is shared.

The pages live in app_pages/, not pages/: Streamlit treats a folder named pages/ as legacy
auto-discovered pages, which can run a page without this router (no sidebar, no dataset choice).
"""
import streamlit as st

from galaxy_core.dashboard.data_source import dataset
from galaxy_core.dashboard.sidebar import sidebar

st.set_page_config(page_title="Galaxy10 workbench", page_icon=":milky_way:", layout="wide")

page = st.navigation([
    st.Page("app_pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("app_pages/dataset.py", title="Dataset browser", icon=":material/grid_view:"),
    st.Page("app_pages/classify.py", title="Classify", icon=":material/image_search:"),
    st.Page("app_pages/evaluation.py", title="Evaluation", icon=":material/analytics:"),
    st.Page("app_pages/latent.py", title="Latent space", icon=":material/scatter_plot:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
])
data, error = dataset()
sidebar(data, error)
page.run()
