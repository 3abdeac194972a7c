"""Latent space: a model's features of synthetic test images and of real galaxies on one map (PCA or UMAP fitted on the
synthetic points), the gap between them measured, and a selected real galaxy beside its nearest neighbours."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from galaxy_core.classes import CLASSES
from galaxy_core.dashboard import latent_view
from galaxy_core.dashboard.data_source import require_dataset
from galaxy_core.dashboard.loaded_models import require_checkpoints
from galaxy_core.errors import UserError
from galaxy_core.evaluation.latent_gap import neighbours_of
from galaxy_core.settings import public_mode

st.title("Latent space")
data = require_dataset()
model_labels = require_checkpoints()

left, middle, right = st.columns([2, 1, 1])
checkpoint = left.selectbox("Model", list(model_labels), format_func=model_labels.get, key="latent_model")
method = middle.radio("Map", ["PCA", "UMAP"], horizontal=True, key="latent_projection")
dimensions = middle.radio("Dimensions", ["2-D", "3-D"], horizontal=True, key="latent_dims")
colour_by = right.selectbox("Colour by", ["true class", "prediction", "correct or not"], key="latent_colour")
REAL_SOURCES = ["the real check set (60)", "uploaded cutouts", "none"] + ([] if public_mode() else ["a folder on this machine"])
real_source = st.radio("Real galaxies", REAL_SOURCES, horizontal=True, key="latent_real_source")

notes: list[str] = []
try:
    synthetic = latent_view.synthetic(checkpoint, str(data.path), data.fingerprint())
    pixels, names, labels = [], [], []
    if real_source == REAL_SOURCES[0]:
        pixels, names, labels = latent_view.check_set()
    elif real_source == "uploaded cutouts":
        uploads = st.file_uploader("JPEG, PNG or FITS cutouts, or zips of them", accept_multiple_files=True, key="latent_upload",
                                   type=["jpg", "jpeg", "png", "fits", "fit", "fz", "zip"])
        if uploads:
            pixels, names, labels = latent_view.from_uploads(uploads, notes)
    elif real_source == "a folder on this machine":  # never in public mode: visitors name no server path
        typed = st.text_input("Folder of cutouts", key="latent_folder", help="labels.csv or class-named sub-folders give labels")
        if typed.strip():
            pixels, names, labels = latent_view.from_folder(typed.strip(), notes)
    real, real_key = None, None
    if pixels:
        real_key = latent_view.digest(pixels)
        real = latent_view.real(checkpoint, real_key, tuple(pixels), tuple(names), tuple(labels))
    projection = latent_view.projection(checkpoint, str(data.path), data.fingerprint(), method.lower(), 3 if dimensions == "3-D" else 2)
except UserError as exc:
    st.error(str(exc))
    st.stop()
for note in notes:
    st.warning(note)

synthetic_xyz = projection.place(synthetic.features)
real_xyz = projection.place(real.features) if real is not None else np.zeros((0, 3))
axes = projection.axis_names
explained = f" · variance explained: {', '.join(f'{r:.1%}' for r in projection.explained)}" if projection.explained else ""
st.caption(f"{len(synthetic):,} synthetic test images (circles) · {0 if real is None else len(real)} real galaxies (diamonds) · "
           f"{synthetic.features.shape[1]}-d features · {method} fitted on the synthetic points, real ones placed on it{explained}")


def groups(points):
    known = points.labels >= 0
    if colour_by == "correct or not":
        return [("correct", known & (points.predicted == points.labels), "#2ca02c"), ("wrong", known & (points.predicted != points.labels), "#d62728"),
                ("label unknown", ~known, "#7f7f7f")]
    values = points.labels if colour_by == "true class" else points.predicted
    out = [(c.short, values == c.index, c.colour) for c in CLASSES]
    return out + ([("label unknown", values < 0, "#7f7f7f")] if (values < 0).any() else [])


figure = go.Figure()
for points, xyz, source in ((synthetic, synthetic_xyz, "synthetic"), (real, real_xyz, "real")):
    if points is None:
        continue
    for name, mask, colour in groups(points):
        positions = np.flatnonzero(mask)
        if not len(positions):
            continue
        text = [f"{points.names[p]}<br>true: {CLASSES[points.labels[p]].short if points.labels[p] >= 0 else 'unknown'}<br>"
                f"predicted: {CLASSES[points.predicted[p]].short} ({points.confidence[p]:.0%})"
                + ("<br>out of distribution" if source == "real" and points.ood[p] else "") for p in positions]
        symbol = "circle" if source == "synthetic" else ["x" if points.ood[p] else "diamond" for p in positions]
        marker = {"color": colour, "symbol": symbol, "size": 6 if source == "synthetic" else 11,
                  "line": {"width": 0 if source == "synthetic" else 1, "color": "black"}, "opacity": 0.55 if source == "synthetic" else 1}
        common = {"name": f"{source}: {name}", "customdata": [[source, int(p)] for p in positions], "mode": "markers",
                  "hovertemplate": "%{text}<extra></extra>", "text": text, "legendgroup": source}
        if dimensions == "2-D":
            figure.add_trace(go.Scatter(x=xyz[positions, 0], y=xyz[positions, 1], marker=marker, **common))
        else:
            figure.add_trace(go.Scatter3d(x=xyz[positions, 0], y=xyz[positions, 1], z=xyz[positions, 2],
                                          marker={**marker, "size": marker["size"] // 2 + 1, "symbol": "diamond" if source == "real" else "circle"},
                                          **common))
# No dragmode here: st.plotly_chart sets the selection tools itself, and a figure's own dragmode
# or clickmode stops clicks and lassos from reaching Streamlit.
figure.update_layout(height=600, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title=axes[0], yaxis_title=axes[1])

if real is not None:
    scores = latent_view.gap(checkpoint, str(data.path), data.fingerprint(), real_key, 10, real)
    cards = st.columns(4)
    auc, interval = scores["two_sample_auc"], scores["two_sample_auc_ci"]
    cards[0].metric("Two-sample AUC", "n/a" if auc is None else f"{auc:.2f}",
                    help="cross-validated logistic regression telling real from synthetic features: 0.5 = indistinguishable, 1 = apart")
    cards[1].metric("Neighbour agreement", "n/a" if scores["neighbour_agreement"] is None else f"{scores['neighbour_agreement']:.0%}",
                    help="how often the majority label of a real galaxy's 10 nearest synthetic neighbours is its true label")
    cards[2].metric("Model's accuracy here", "n/a" if scores["model_accuracy"] is None else f"{scores['model_accuracy']:.0%}")
    cards[3].metric("Flagged out of distribution", f"{sum(bool(f) for f in real.ood)} of {len(real)}")
    if interval:
        st.caption(f"AUC 95% interval {interval[0]:.2f}–{interval[1]:.2f} · {scores['n_real_labelled']} of {scores['n_real']} real galaxies labelled.")
    rows = [{"class": name, "real": c["n_real"], "synthetic": c["n_synthetic"], "shift (synthetic spreads)": c["shift"],
             "AUC": c["two_sample_auc"], "neighbour agreement": c["neighbour_agreement"], "model accuracy": c["model_accuracy"]}
            for name, c in scores["per_class"].items() if c["n_real"]]
    if rows:
        with st.expander("Per class", expanded=False):
            st.dataframe(rows, hide_index=True)

if dimensions == "3-D":
    st.plotly_chart(figure, width="stretch", key="latent_plot_3d")
    st.caption("Rotate with the mouse; switch to 2-D to select galaxies.")
    st.stop()
event = st.plotly_chart(figure, width="stretch", on_select="rerun", selection_mode=("box", "lasso", "points"), key="latent_plot")
points = event.selection.points if event and event.selection else []
chosen = [tuple(p["customdata"]) for p in points if "customdata" in p]
chosen_real = sorted({i for source, i in chosen if source == "real"})
chosen_synthetic = sorted({i for source, i in chosen if source == "synthetic"})
if not chosen:
    st.caption("Click a real galaxy (a diamond) to see its nearest neighbours, or draw a box or lasso around points.")
if chosen_real and real is not None:
    p = chosen_real[0]
    st.markdown(f"**{real.names[p]}** · true: {CLASSES[real.labels[p]].name if real.labels[p] >= 0 else 'unknown'} · "
                f"predicted: {CLASSES[real.predicted[p]].name} ({real.confidence[p]:.0%})")
    st.image(pixels[p], width=160)
    near, distance = neighbours_of(real.features[p], synthetic.features, 8)
    st.markdown("Nearest synthetic galaxies (cosine distance)")
    st.image(list(data.images(synthetic.indices[near])), width=110,
             caption=[f"#{synthetic.indices[i]} · {CLASSES[synthetic.labels[i]].short} · {d:.3f}" for i, d in zip(near, distance)])
    if len(real) > 1:
        near, distance = neighbours_of(real.features[p], real.features, 8, exclude=p)
        st.markdown("Nearest real galaxies")
        st.image([pixels[i] for i in near], width=110,
                 caption=[f"{real.names[i]} · {CLASSES[real.labels[i]].short if real.labels[i] >= 0 else '?'} · {d:.3f}"
                          for i, d in zip(near, distance)])
if chosen_synthetic:
    st.markdown(f"**{len(chosen_synthetic)} synthetic galaxies selected** (showing up to 30)")
    shown = chosen_synthetic[:30]
    st.image(list(data.images(synthetic.indices[shown])), width=110,
             caption=[f"#{synthetic.indices[p]} · {CLASSES[synthetic.labels[p]].short}" for p in shown])
