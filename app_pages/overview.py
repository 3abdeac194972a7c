"""Overview: the dataset in use, how to get the real one, the trained models, what each page does."""
import streamlit as st

from galaxy_core.dashboard.data_source import require_dataset
from galaxy_core.dashboard.loaded_models import checkpoint_dirs
from galaxy_core.dashboard.charts import class_counts_figure
from galaxy_core.errors import UserError
from galaxy_core.evaluation.metrics import SUMMARY_METRICS, check_set_interval
from galaxy_core.models.checkpoint import read_meta
from galaxy_core.settings import public_mode

st.title("Galaxy10 DECaLS workbench")
st.write("Train, evaluate and explain deep-learning classifiers of galaxy morphology on Galaxy10 DECaLS "
         "(17,736 galaxies, 10 classes).")

data = require_dataset()

st.subheader("Dataset in use")
left, right = st.columns([1, 2])
with left:
    st.metric("Images", f"{len(data):,}")
    st.metric("Image size", "x".join(str(s) for s in data.image_shape))
    shown = data.path.name if public_mode() else data.path  # a visitor need not learn the server's folders
    st.caption(f"File: `{shown}`  \nFingerprint: `{data.fingerprint()}`")
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
found = checkpoint_dirs()
if not found:
    st.write("No trained checkpoints in `checkpoints/` yet.")
else:
    rows = []
    for folder in found:
        try:
            meta = read_meta(folder)
        except UserError as exc:
            rows.append({"checkpoint": folder.name, "model": str(exc)})
            continue
        test = meta.get("metrics", {}).get("test", {})
        real = meta.get("metrics", {}).get("real_sample") or {}
        rows.append({"checkpoint": folder.name, "model": meta.get("model"), "input px": meta.get("recipe", {}).get("image_size"),
                     "real check-set accuracy": round(real["accuracy"], 4) if real else None,
                     "its 95% interval": "{:.0%}–{:.0%}".format(*interval) if (interval := check_set_interval(real)) else None,
                     **{f"test {label.lower()}": round(test[key], 4) for key, label, _ in SUMMARY_METRICS if key in test},
                     "trained on": "synthetic" if meta.get("data", {}).get("synthetic") else "real"})
    st.dataframe(rows, hide_index=True)
    st.caption("Real check-set accuracy: on the 60 real galaxies shipped with the package (a development set; with 60 images "
               "its 95% interval is about ±12 points, so models a few galaxies apart are not told apart by it). "
               "Test scores: on the test split of the data each model was trained on (trained on: synthetic means those "
               "scores say nothing about real galaxies). The Evaluation page scores the models on either.")

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
