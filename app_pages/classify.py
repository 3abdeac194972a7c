"""Classify: uploads, the real check set's galaxies or dataset images through any model or an ensemble, with Grad-CAM."""
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from galaxy_core.classes import CLASS_NAMES, CLASSES
from galaxy_core.dashboard.data_source import require_dataset
from galaxy_core.dashboard.loaded_models import loaded_model, predictor, require_checkpoints
from galaxy_core.dashboard.scores import real_sample_images
from galaxy_core.dashboard.sky import VIEWER, catalogue_panel, cutout, parse_positions, show_similar
from galaxy_core.data.cutouts import training_pixscale
from galaxy_core.data.images import MAX_IMAGE_MB, load_image
from galaxy_core.errors import UserError
from galaxy_core.evaluation.explain import explain, on_cutout, overlay
from galaxy_core.evaluation.metrics import accuracy_summary, trained_on_check_set
from galaxy_core.inference.ensemble import RULES

st.title("Classify galaxies")
model_labels = require_checkpoints()

left, right = st.columns([2, 1])
chosen = left.multiselect("Models", list(model_labels), default=list(model_labels)[:1], format_func=model_labels.get, key="classify_models",
                          help="One model, or several combined by an ensemble rule.")
rule = right.selectbox("Ensemble rule", RULES, key="classify_rule", disabled=len(chosen) < 2,
                       help="agreement: the second study's rule; soft: mean probabilities; f1_weighted: per-class validation F1 weights.")
if not chosen:
    st.warning("Choose at least one model.")
    st.stop()
tta = st.toggle("Average over the 8 rotations and flips", value=True, key="classify_tta",
                help="A galaxy has no up or down: each model sees the image turned by 0, 90, 180 and 270 degrees, and mirrored, "
                     "and its probabilities are averaged (8 times the compute; docs/benchmarks.md measures what it changes).")

MAX_UPLOAD_FILES = 20
UPLOAD, REAL_EXAMPLES, DATASET, SKY = "Upload", "Real galaxies (the check set)", "From the dataset", "Sky position"
source = st.radio("Images", [UPLOAD, REAL_EXAMPLES, DATASET, SKY], horizontal=True, key="classify_source")
images, names, truths = [], [], []
if source == UPLOAD:
    # Uploads are decoded to 256x256 cutouts once, then the uploader is replaced by a fresh one, so
    # Streamlit lets go of the uploaded bytes (up to MAX_UPLOAD_FILES x MAX_IMAGE_MB per visitor).
    generation = st.session_state.setdefault("upload_generation", 0)
    uploads = st.file_uploader(f"JPEG or PNG images (up to {MAX_UPLOAD_FILES}, {MAX_IMAGE_MB} MB each)", type=["jpg", "jpeg", "png"],
                               accept_multiple_files=True, key=f"classify_upload_{generation}", max_upload_size=MAX_IMAGE_MB)
    if uploads:
        kept = []
        for upload in uploads[:MAX_UPLOAD_FILES]:
            try:
                decoded = load_image(upload, name=upload.name)
                kept.append({"name": upload.name, "pixels": decoded.pixels, "notes": decoded.notes})
            except UserError as exc:
                kept.append({"name": upload.name, "error": str(exc)})
        if len(uploads) > MAX_UPLOAD_FILES:
            kept.append({"name": "", "error": f"Only the first {MAX_UPLOAD_FILES} of {len(uploads)} files were used: classify the rest next."})
        del uploads
        st.session_state["classify_uploaded"] = kept
        st.session_state["upload_generation"] = generation + 1
        st.rerun()
    for item in st.session_state.get("classify_uploaded", []):
        if "error" in item:
            st.error(item["error"])
            continue
        for note in item["notes"]:
            st.caption(f"{item['name']}: {note}")
        images.append(item["pixels"])
        names.append(item["name"])
        truths.append(None)
elif source == REAL_EXAMPLES:
    folder, pixels = real_sample_images()
    files = [path.name for path in folder.files]
    picked = st.pills("Real Galaxy10 DECaLS galaxies (click to classify; labels by Galaxy Zoo volunteers)", range(len(files)),
                      selection_mode="multi", default=[files.index(f) for f in files if f.endswith("_curated.jpg")][:1],
                      format_func=lambda i: f"{CLASSES[folder.labels[i]].short} · {files[i].removeprefix('g10_').removesuffix('.jpg')}",
                      key="classify_real")
    tuned = [Path(c).name for c in chosen if trained_on_check_set(loaded_model(c)[1])]
    if tuned:
        st.warning(f"{', '.join(tuned)} learned from these very galaxies, so right answers here prove nothing: upload other galaxies to try it.")
    for i in picked or []:
        images.append(pixels[i])
        names.append(files[i])
        truths.append(int(folder.labels[i]))
elif source == SKY:
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
    for ra, dec in positions:
        try:
            pixels, url = cutout(ra, dec, pixscale)
        except UserError as exc:  # no network, outside the footprint, a failing service: one sentence, the page goes on
            st.error(str(exc))
            continue
        images.append(pixels)
        names.append(f"RA {ra:.4f}, Dec {dec:.4f}")
        truths.append(None)
        st.caption(f"[RA {ra:.4f}, Dec {dec:.4f} in the Legacy Surveys viewer]({VIEWER.format(ra=ra, dec=dec)}) · [cutout]({url})")
else:
    data = require_dataset()
    index = int(st.number_input(f"Image index (0 to {len(data) - 1:,})", 0, len(data) - 1, 0, key="classify_index"))
    images.append(data.image(index))
    names.append(f"#{index}")
    truths.append(int(data.labels[index]))

synthetic_trained = [meta for meta in (loaded_model(c)[1] for c in chosen) if (meta.get("data") or {}).get("synthetic")]
if synthetic_trained and source != DATASET:
    st.warning("Trained on synthetic galaxies only: on real images these models are often wrong. What they score: "
               + "; ".join(f"**{m.get('model')}**: {accuracy_summary(m)}" for m in synthetic_trained) + ".")

if not images:
    st.stop()

try:
    model_set = predictor(tuple(chosen), rule if len(chosen) > 1 else None, tta)
    with st.spinner("Classifying..."):
        results = model_set.predict(np.stack(images))
except UserError as exc:
    st.error(str(exc))
    st.stop()

for position, (image, name, truth, result) in enumerate(zip(images, names, truths, results)):
    st.subheader(name)
    picture, facts = st.columns([1, 1])
    facts.metric("Predicted class", result["class"], f"{result['confidence']:.1%} confidence", delta_color="off")
    if result["ood"]:
        facts.error(f"Out of distribution (score {result['ood_score']:.1f}; above 1 means unlike anything in training): "
                    "this does not look like the galaxies these models learned from, so the class above means little.")
    elif result["ood_score"] is not None:
        facts.caption(f"Out-of-distribution score {result['ood_score']:.2f} (above 1 would be flagged).")
    if truth is not None:
        verdict = "right" if truth == result["label"] else "wrong"
        facts.markdown(f"**True class:** {CLASS_NAMES[truth]} ({verdict})")
    if len(chosen) > 1:
        facts.caption(f"Ensemble ({rule}); decided by: **{result['source']}**")
        facts.dataframe([{"model": m, "vote": v["class"], "confidence": f"{v['confidence']:.1%}"} for m, v in result["members"].items()],
                        hide_index=True)
    probabilities = result["probabilities"]
    figure = go.Figure(go.Bar(x=list(probabilities.values()), y=list(probabilities), orientation="h",
                              marker_color=[c.colour for c in CLASSES], hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"tickformat": ".0%", "range": [0, 1]},
                         yaxis={"autorange": "reversed"})
    facts.plotly_chart(figure, width="stretch", key=f"probabilities_{position}")
    with picture:
        explain = st.selectbox("Grad-CAM model", chosen, format_func=model_labels.get, key=f"cam_model_{position}")
        target = st.selectbox("Grad-CAM class", ["predicted", *CLASS_NAMES], key=f"cam_class_{position}")
        opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.45, key=f"cam_opacity_{position}")
        member = predictor((explain,), None).members[0]
        found = explain(member.model, image, member.preprocessing, targets=None if target == "predicted" else CLASS_NAMES.index(target))[0]
        st.image([image, overlay(image, on_cutout(found, image.shape[:2], member.preprocessing), opacity)], caption=["image", f"{found.method} ({member.name})"],
                 width=260)
    if st.toggle(f"Galaxies like this one in the dataset ({model_labels[chosen[0]].split(' ')[0]}'s latent space)", key=f"similar_{position}"):
        show_similar(chosen[0], require_dataset(), image, exclude=int(name[1:]) if source == DATASET else None)
