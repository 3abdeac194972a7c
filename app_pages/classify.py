"""Classify: uploads or dataset images through any model or an ensemble, with Grad-CAM."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from galaxy_core.classes import CLASS_NAMES, CLASSES
from galaxy_core.dashboard import state
from galaxy_core.data.images import load_image
from galaxy_core.errors import UserError
from galaxy_core.evaluation.ensemble import RULES
from galaxy_core.evaluation.gradcam import gradcam, overlay

st.title("Classify galaxies")
labels = state.require_checkpoints()

left, right = st.columns([2, 1])
chosen = left.multiselect("Models", list(labels), default=list(labels)[:1], format_func=labels.get, key="classify_models",
                          help="One model, or several combined by an ensemble rule.")
rule = right.selectbox("Ensemble rule", RULES, key="classify_rule", disabled=len(chosen) < 2,
                       help="agreement: the second study's rule; soft: mean probabilities; f1_weighted: per-class validation F1 weights.")
if not chosen:
    st.warning("Choose at least one model.")
    st.stop()

source = st.radio("Images", ["Upload", "From the dataset"], horizontal=True, key="classify_source")
images, names = [], []
if source == "Upload":
    uploads = st.file_uploader("JPEG or PNG images", type=["jpg", "jpeg", "png"], accept_multiple_files=True, key="classify_upload")
    for upload in uploads or []:
        try:
            decoded = load_image(upload, name=upload.name)
        except UserError as exc:
            st.error(str(exc))
            continue
        for note in decoded.notes:
            st.caption(f"{upload.name}: {note}")
        images.append(decoded.pixels)
        names.append(upload.name)
else:
    data = state.require_dataset()
    index = int(st.number_input(f"Image index (0 to {len(data) - 1:,})", 0, len(data) - 1, 0, key="classify_index"))
    images.append(data.image(index))
    names.append(f"#{index} (labelled {CLASS_NAMES[data.labels[index]]})")

if not images:
    st.stop()

try:
    model_set = state.predictor(tuple(chosen), rule if len(chosen) > 1 else None)
    with st.spinner("Classifying..."):
        results = model_set.predict(np.stack(images))
except UserError as exc:
    st.error(str(exc))
    st.stop()

for image, name, result in zip(images, names, results):
    st.subheader(name)
    picture, facts = st.columns([1, 1])
    facts.metric("Predicted class", result["class"], f"{result['confidence']:.1%} confidence", delta_color="off")
    if len(chosen) > 1:
        facts.caption(f"Ensemble ({rule}); decided by: **{result['source']}**")
        facts.dataframe([{"model": m, "vote": v["class"], "confidence": f"{v['confidence']:.1%}"} for m, v in result["members"].items()],
                        hide_index=True)
    probabilities = result["probabilities"]
    figure = go.Figure(go.Bar(x=list(probabilities.values()), y=list(probabilities), orientation="h",
                              marker_color=[c.colour for c in CLASSES], hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"tickformat": ".0%", "range": [0, 1]},
                         yaxis={"autorange": "reversed"})
    facts.plotly_chart(figure, width="stretch", key=f"probabilities_{name}")
    with picture:
        explain = st.selectbox("Grad-CAM model", chosen, format_func=labels.get, key=f"cam_model_{name}")
        target = st.selectbox("Grad-CAM class", ["predicted", *CLASS_NAMES], key=f"cam_class_{name}")
        opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.45, key=f"cam_opacity_{name}")
        member = state.predictor((explain,), None).members[0]
        heatmap, _ = gradcam(member[1], image, member[3], None if target == "predicted" else CLASS_NAMES.index(target))
        st.image([image, overlay(image, heatmap, opacity, member[3])], caption=["image", f"Grad-CAM ({member[0]})"], width=260)
