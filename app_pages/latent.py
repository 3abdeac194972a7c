"""Latent space: PCA of a model's latent features, coloured by class, prediction or correctness; select to see galaxies."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from galaxy_core.classes import CLASSES
from galaxy_core.dashboard.data_source import require_dataset
from galaxy_core.dashboard.loaded_models import require_checkpoints
from galaxy_core.dashboard.scores import checkpoint_test_latents
from galaxy_core.errors import UserError

st.title("Latent space")
data = require_dataset()
model_labels = require_checkpoints()

left, middle, right = st.columns([2, 1, 1])
checkpoint = left.selectbox("Model", list(model_labels), format_func=model_labels.get, key="latent_model")
dimensions = middle.radio("PCA", ["2-D", "3-D"], horizontal=True, key="latent_dims")
colour_by = right.selectbox("Colour by", ["true class", "prediction", "correct or not"], key="latent_colour")
try:
    latent = checkpoint_test_latents(checkpoint, str(data.path), data.fingerprint())
except UserError as exc:
    st.error(str(exc))
    st.stop()
st.caption(f"{len(latent['indices']):,} test images · {latent['dimension']}-d features · variance explained by PC1-3: "
           + ", ".join(f"{r:.1%}" for r in latent["explained"]))

coords, figure = latent["coords"], go.Figure()
if colour_by == "correct or not":
    groups = [("correct", latent["predicted"] == latent["labels"], "#2ca02c"), ("wrong", latent["predicted"] != latent["labels"], "#d62728")]
else:
    values = latent["labels"] if colour_by == "true class" else latent["predicted"]
    groups = [(c.name, values == c.index, c.colour) for c in CLASSES]
for name, mask, colour in groups:
    positions = np.flatnonzero(mask)
    common = {"name": name, "customdata": positions, "mode": "markers", "hovertemplate": f"{name}<br>#%{{text}}<extra></extra>",
              "text": [str(latent["indices"][p]) for p in positions]}
    if dimensions == "2-D":
        figure.add_trace(go.Scatter(x=coords[positions, 0], y=coords[positions, 1], marker={"color": colour, "size": 6}, **common))
    else:
        figure.add_trace(go.Scatter3d(x=coords[positions, 0], y=coords[positions, 1], z=coords[positions, 2],
                                      marker={"color": colour, "size": 3}, **common))
# No dragmode here: st.plotly_chart sets the selection tools itself, and a figure's own dragmode
# or clickmode stops clicks and lassos from reaching Streamlit.
figure.update_layout(height=600, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="PC1", yaxis_title="PC2")
if dimensions == "2-D":
    event = st.plotly_chart(figure, width="stretch", on_select="rerun", selection_mode=("box", "lasso", "points"), key="latent_plot")
    points = event.selection.points if event and event.selection else []
    chosen = sorted({int(p["customdata"]) for p in points if "customdata" in p})
    if chosen:
        st.markdown(f"**{len(chosen)} galaxies selected** (showing up to 30)")
        shown = chosen[:30]
        st.image(list(data.images(latent["indices"][shown])), width=110,
                 caption=[f"#{latent['indices'][p]} · {CLASSES[latent['labels'][p]].short}" for p in shown])
    else:
        st.caption("Draw a box or lasso around points to see those galaxies.")
else:
    st.plotly_chart(figure, width="stretch", key="latent_plot_3d")
    st.caption("Rotate with the mouse; switch to 2-D to select galaxies.")
