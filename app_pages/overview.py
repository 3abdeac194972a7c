"""Overview: the dataset in use, how to get the real one, the trained models, what each page does."""
import json

import streamlit as st

from galaxy_core.dashboard import state
from galaxy_core.dashboard.charts import class_counts_figure

st.title("Galaxy10 DECaLS workbench")
st.write("Train, evaluate and explain deep-learning classifiers of galaxy morphology on Galaxy10 DECaLS "
         "(17,736 galaxies, 10 classes).")

data = state.require_dataset()

st.subheader("Dataset in use")
left, right = st.columns([1, 2])
with left:
    st.metric("Images", f"{len(data):,}")
    st.metric("Image size", "x".join(str(s) for s in data.image_shape))
    st.caption(f"File: `{data.path}`  \nFingerprint: `{data.fingerprint()}`")
    if data.is_synthetic:
        st.info("**Synthetic data.** These galaxies were drawn by galaxy_core's generator (GalSim profiles and "
                "PSF, DECaLS-like colours and noise) with the real file's schema and class balance. They are "
                "not observations: numbers measured on them say nothing about real galaxies.")
    if data.layout.random_access_is_slow:
        st.warning(f"This file's layout makes random reads slow: {data.info()['random_access']}")
with right:
    st.plotly_chart(class_counts_figure(data.class_counts(), compare_with_real=data.is_synthetic), width="stretch")

with st.expander("Use the real Galaxy10 DECaLS file", expanded=data.is_synthetic):
    st.markdown(
        "1. Download it (2.54 GB, resumable, SHA256-checked): `python -m galaxy_core download --out Galaxy10_DECals.h5`\n"
        "2. Point the workbench at it: paste its path in the sidebar, or start with "
        "`GALAXY10_H5=/path/to/Galaxy10_DECals.h5 streamlit run app.py`.\n\n"
        "Source: [Zenodo record 10845026](https://zenodo.org/records/10845026) "
        "(images: DESI Legacy Imaging Surveys; labels: Galaxy Zoo volunteers; compiled by Leung & Bovy)."
    )

st.subheader("Models")
found = state.checkpoint_dirs()
if not found:
    st.write("No trained checkpoints in `checkpoints/` yet.")
else:
    rows = []
    for folder in found:
        meta = json.loads((folder / "meta.json").read_text())
        test = meta.get("metrics", {}).get("test", {})
        rows.append({"checkpoint": folder.name, "model": meta.get("model"), "input px": meta.get("recipe", {}).get("image_size"),
                     **{name: round(test[key], 4) for name, key in (("test accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"),
                        ("macro-F1", "macro_f1"), ("cross-entropy", "cross_entropy"), ("KL divergence", "kl_divergence"), ("ECE", "ece"))
                        if key in test},
                     "trained on": "synthetic" if meta.get("data", {}).get("synthetic") else "real"})
    st.dataframe(rows, hide_index=True)
    st.caption("Test scores on the data each model was trained on. The Evaluation page scores them on the dataset in use.")

st.subheader("Pages")
st.markdown(
    "- **Overview**: this page, the dataset in use and the trained models.\n"
    "- **Dataset browser**: class counts, a paged thumbnail grid filtered by class, split and index, and a "
    "detail view with coordinates, redshift, pixel scale, a Legacy Survey sky-viewer link and a display stretch.\n"
    "- **Classify**: upload JPEG/PNG images (or pick a dataset image), classify them with any model or an ensemble, "
    "and see the probabilities, each model's vote and a Grad-CAM overlay.\n"
    "- **Evaluation**: per model, accuracy, balanced accuracy, macro-F1, cross-entropy, KL divergence and ECE; a "
    "confusion matrix whose cells open the galaxies behind them; per-class scores; training curves; calibration; the "
    "most confident mistakes; a comparison of all models; per-image predictions as CSV.\n"
    "- **Latent space**: the PCA of a model's latent features (2-D or 3-D) coloured by class, prediction or "
    "correctness; a box or lasso selection shows the galaxies.\n"
    "- **Train**: start a training run in the background, follow its progress and curves live, cancel it."
)
