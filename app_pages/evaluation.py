"""Evaluation: metric cards, a clickable confusion matrix, per-class scores, curves, calibration, mistakes."""
import io
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from galaxy_core.classes import CLASS_NAMES, CLASSES
from galaxy_core.dashboard import state
from galaxy_core.dashboard.charts import confusion_figure, curves_figure, reliability_figure
from galaxy_core.errors import UserError
from galaxy_core.evaluation.ensemble import RULES
from galaxy_core.evaluation.metrics import cell_members, confident_mistakes

st.title("Evaluation")
data = state.require_dataset()
labels = state.require_checkpoints()

ENSEMBLE = "ensemble"
left, right = st.columns([3, 1])
checkpoint = left.selectbox("Model", [*labels, ENSEMBLE], format_func=lambda c: labels.get(c, "An ensemble of several models..."),
                            key="eval_model")
try:
    if checkpoint == ENSEMBLE:
        members = st.multiselect("Members", list(labels), default=list(labels)[:2], format_func=labels.get, key="eval_members")
        rule = right.selectbox("Rule", RULES, key="eval_rule")
        if len(members) < 2:
            st.warning("Choose at least two models.")
            st.stop()
        result = state.ensemble_test_predictions(tuple(members), rule, str(data.path), data.fingerprint())
        st.caption(f"{rule} ensemble of {', '.join(result['members'])}; preferred (best on validation): {result['preferred']}. "
                   "Curves below are the preferred model's.")
    else:
        result = state.test_predictions(checkpoint, str(data.path), data.fingerprint())
except UserError as exc:
    st.error(str(exc))
    st.stop()
metrics, meta = result["metrics"], result["meta"]
if result["cross_dataset"]:
    st.warning("This model was trained on another dataset: these are its scores on this file's test split, a cross-dataset test.")
if data.is_synthetic:
    st.caption("Scores on synthetic galaxies; they say nothing about real ones.")

cards = st.columns(6)
for column, (name, key, fmt) in zip(cards, [("Accuracy", "accuracy", "{:.1%}"), ("Balanced accuracy", "balanced_accuracy", "{:.1%}"),
                                            ("Macro-F1", "macro_f1", "{:.3f}"), ("Cross-entropy", "cross_entropy", "{:.3f}"),
                                            ("KL divergence", "kl_divergence", "{:.3f}"), ("ECE", "ece", "{:.3f}")]):
    column.metric(name, fmt.format(metrics[key]))
st.caption(f"{metrics['count']:,} test images · split {meta['recipe']['split']} (seed {meta['recipe']['seed']}) · "
           f"KL against targets smoothed by {metrics['kl_smoothing']}")

st.subheader("Confusion matrix")
normalise = st.toggle("Row-normalised", key="eval_normalise")
event = st.plotly_chart(confusion_figure(np.array(metrics["confusion_matrix"]), normalise), width="stretch",
                        on_select="rerun", selection_mode=("points", "box"), key="eval_confusion")
points = event.selection.points if event and event.selection else []
if points:
    true_class, predicted_class = points[0]["customdata"][:2]
    members = cell_members(result["labels"], result["probabilities"], true_class, predicted_class)
    st.markdown(f"**True {CLASS_NAMES[true_class]}, predicted {CLASS_NAMES[predicted_class]}:** {len(members)} images, most confident first")
    shown = members[:18]
    if len(shown):
        thumbnails = data.images(result["indices"][shown])
        st.image(list(thumbnails), width=120,
                 caption=[f"#{result['indices'][m]} · {result['probabilities'][m].max():.0%}" for m in shown])
else:
    st.caption("Click a cell (or box-select several) to see the galaxies behind it.")

st.subheader("Per class")
per_class = pd.DataFrame(metrics["per_class"])
left, right = st.columns([1, 1])
left.dataframe(per_class.style.format({"precision": "{:.3f}", "recall": "{:.3f}", "f1": "{:.3f}"}), hide_index=True)
figure = go.Figure(go.Bar(x=per_class["f1"], y=per_class["class"], orientation="h", marker_color=[c.colour for c in CLASSES]))
figure.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, title="F1 per class", yaxis={"autorange": "reversed"})
right.plotly_chart(figure, width="stretch")

st.subheader("Training curves")
left, right = st.columns(2)
left.plotly_chart(curves_figure(meta["history"], "loss"), width="stretch")
right.plotly_chart(curves_figure(meta["history"], "accuracy"), width="stretch")
st.caption(f"Best epoch (lowest validation loss): {meta['best_epoch']} of {meta['epochs_run']}; "
           f"{meta['training_seconds'] / 60:.1f} min on {meta['device']}.")

st.subheader("Calibration")
st.plotly_chart(reliability_figure(metrics["reliability"]), width="stretch")

st.subheader("Most confident mistakes")
mistakes = confident_mistakes(result["labels"], result["probabilities"], 12)
if len(mistakes):
    predicted = result["probabilities"].argmax(axis=1)
    st.image(list(data.images(result["indices"][mistakes])), width=120,
             caption=[f"#{result['indices'][m]}: {CLASSES[result['labels'][m]].short} → {CLASSES[predicted[m]].short} "
                      f"({result['probabilities'][m].max():.0%})" for m in mistakes])
else:
    st.write("No mistakes on this split.")

st.subheader("Model comparison")
rows = []
for folder in labels:
    try:
        other = state.test_predictions(folder, str(data.path), data.fingerprint())["metrics"]
    except UserError:
        continue
    rows.append({"checkpoint": Path(folder).name, **{k: round(other[k], 4) for k in
                 ("accuracy", "balanced_accuracy", "macro_f1", "cross_entropy", "kl_divergence", "ece")}})
st.dataframe(rows, hide_index=True)

frame = pd.DataFrame({"index": result["indices"], "true_label": result["labels"],
                      "true_class": [CLASS_NAMES[c] for c in result["labels"]],
                      "predicted_class": [CLASS_NAMES[c] for c in result["probabilities"].argmax(axis=1)],
                      "confidence": result["probabilities"].max(axis=1),
                      **{f"p_{name}": result["probabilities"][:, c] for c, name in enumerate(CLASS_NAMES)}})
buffer = io.StringIO()
frame.to_csv(buffer, index=False)
st.download_button("Download per-image predictions (CSV)", buffer.getvalue(),
                   file_name=f"{Path(checkpoint).name if checkpoint != ENSEMBLE else 'ensemble'}_test_predictions.csv",
                   mime="text/csv", key="eval_download")
