"""Evaluation on the dataset's test split or the real check set: metric cards, a clickable confusion matrix,
per-class scores, curves, calibration, mistakes."""
import io
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from galaxy_core.classes import CLASS_NAMES, CLASSES
from galaxy_core.dashboard.data_source import require_dataset
from galaxy_core.dashboard.explanations import answer_maps, overlays
from galaxy_core.dashboard.loaded_models import require_checkpoints, weights_stamp
from galaxy_core.dashboard.studies import show_studies
from galaxy_core.dashboard.scores import checkpoint_test_scores, ensemble_test_scores, real_sample_scores
from galaxy_core.data.labelled_images import REAL_SAMPLE_NOTE
from galaxy_core.dashboard.charts import confusion_figure, curves_figure, reliability_figure, risk_coverage_figure
from galaxy_core.errors import UserError
from galaxy_core.evaluation.metrics import SUMMARY_KEYS, SUMMARY_METRICS, accuracy_interval, answers_risk_coverage, cell_members, confident_mistakes
from galaxy_core.inference.ensemble import RULES

st.title("Evaluation")
data = require_dataset()
model_labels = require_checkpoints()

ENSEMBLE = "ensemble"
TEST_SPLIT, REAL_SAMPLE = "Test split of the dataset in use", "Real check set (60 real galaxies)"
scored_on = st.radio("Scored on", [TEST_SPLIT, REAL_SAMPLE], horizontal=True, key="eval_scored_on")
real = scored_on == REAL_SAMPLE
left, right = st.columns([3, 1])
checkpoint = left.selectbox("Model", [*model_labels, ENSEMBLE], format_func=lambda c: model_labels.get(c, "An ensemble of several models..."),
                            key="eval_model")
try:
    if checkpoint == ENSEMBLE:
        ensemble_members = st.multiselect("Members", list(model_labels), default=list(model_labels)[:2], format_func=model_labels.get,
                                          key="eval_members")
        rule = right.selectbox("Rule", RULES, key="eval_rule")
        if len(ensemble_members) < 2:
            st.warning("Choose at least two models.")
            st.stop()
        if real:
            result = real_sample_scores(tuple(ensemble_members), rule, tuple(weights_stamp(c) for c in ensemble_members))
        else:
            result = ensemble_test_scores(tuple(ensemble_members), rule, str(data.path), data.fingerprint())
        st.caption(f"{rule} ensemble of {', '.join(result['members'])}; preferred (best on validation): {result['preferred']}. "
                   "Curves below are the preferred model's.")
    elif real:
        result = real_sample_scores((checkpoint,), None, (weights_stamp(checkpoint),))
    else:
        result = checkpoint_test_scores(checkpoint, str(data.path), data.fingerprint())
except UserError as exc:
    st.error(str(exc))
    st.stop()
metrics, meta = result["metrics"], result["meta"]


def thumbnails(positions) -> list:
    """Images of result positions: from the real check set, or read from the dataset (only those shown)."""
    return list(result["pixels"][positions]) if "pixels" in result else list(data.images(result["indices"][positions]))


def image_name(position: int) -> str:
    return result["files"][position] if "files" in result else f"#{result['indices'][position]}"


if real:
    low, high = accuracy_interval(metrics)
    st.info(f"Scores on the {REAL_SAMPLE_NOTE}. With {metrics['count']} images the accuracy is known only to within "
            f"{low:.0%}–{high:.0%} (95% interval): a few galaxies between two models is no difference.")
elif result["cross_dataset"]:
    st.warning("This model was trained on another dataset: these are its scores on this file's test split, a cross-dataset test.")
if not real and data.is_synthetic:
    st.caption("Scores on synthetic galaxies; they say nothing about real ones (switch to the real check set above).")

cards = st.columns(6)
for column, (key, name, fmt) in zip(cards, SUMMARY_METRICS):
    column.metric(name, fmt.format(metrics[key]))
scored = "real check-set images" if real else f"test images · split {meta['recipe']['split']} (seed {meta['recipe']['seed']})"
st.caption(f"{metrics['count']:,} {scored} · KL against targets smoothed by {metrics['kl_smoothing']}")

st.subheader("Confusion matrix")
normalise = st.toggle("Row-normalised", key="eval_normalise")
event = st.plotly_chart(confusion_figure(np.array(metrics["confusion_matrix"]), normalise), width="stretch",
                        on_select="rerun", selection_mode=("points", "box"), key="eval_confusion")
points = event.selection.points if event and event.selection else []
if points:
    true_class, predicted_class = points[0]["customdata"][:2]
    in_cell = cell_members(result["labels"], result["probabilities"], true_class, predicted_class)
    st.markdown(f"**True {CLASS_NAMES[true_class]}, predicted {CLASS_NAMES[predicted_class]}:** {len(in_cell)} images, most confident first")
    shown = in_cell[:18]
    if len(shown):
        st.image(thumbnails(shown), width=120, caption=[f"{image_name(m)} · {result['probabilities'][m].max():.0%}" for m in shown])
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
left, right = st.columns(2)
left.plotly_chart(reliability_figure(metrics["reliability"]), width="stretch")
right.plotly_chart(risk_coverage_figure(answers_risk_coverage(result["labels"], result["probabilities"])), width="stretch", key="eval_risk_coverage")
st.caption("Left: accuracy per confidence bin against the diagonal of perfect calibration. Right: the accuracy of the most "
           "confident answers, keeping more and more of them, with the 95% interval "
           f"{'these 60 galaxies allow' if real else 'of that many images'}.")

st.subheader("Most confident mistakes")
mistakes = confident_mistakes(result["labels"], result["probabilities"], 12)
if len(mistakes):
    predicted = result["probabilities"].argmax(axis=1)
    shown = np.stack(thumbnails(mistakes))
    if st.toggle("With their explanation maps (the evidence for the wrong answer)", value=True, key="eval_mistake_maps"):
        members = tuple(ensemble_members) if checkpoint == ENSEMBLE else (checkpoint,)
        shown = overlays(shown, answer_maps(members, rule if checkpoint == ENSEMBLE else None, shown))
    st.image(list(shown), width=120,
             caption=[f"{image_name(m)}: {CLASSES[result['labels'][m]].short} → {CLASSES[predicted[m]].short} "
                      f"({result['probabilities'][m].max():.0%})" for m in mistakes])
else:
    st.write("No mistakes on this split.")

st.subheader("Model comparison")
rows = []
for folder in model_labels:
    try:
        if real:
            other = real_sample_scores((folder,), None, (weights_stamp(folder),))["metrics"]
        else:
            other = checkpoint_test_scores(folder, str(data.path), data.fingerprint())["metrics"]
    except UserError:
        continue
    rows.append({"checkpoint": Path(folder).name, **{k: round(other[k], 4) for k in SUMMARY_KEYS}})
st.caption("On the real check set (a development set)." if real else "On the test split of the dataset in use.")
st.dataframe(rows, hide_index=True)

frame = pd.DataFrame({"image" if real else "index": result["files"] if real else result["indices"], "true_label": result["labels"],
                      "true_class": [CLASS_NAMES[c] for c in result["labels"]],
                      "predicted_class": [CLASS_NAMES[c] for c in result["probabilities"].argmax(axis=1)],
                      "confidence": result["probabilities"].max(axis=1),
                      **{f"p_{name}": result["probabilities"][:, c] for c, name in enumerate(CLASS_NAMES)}})
buffer = io.StringIO()
frame.to_csv(buffer, index=False)
st.download_button("Download per-image predictions (CSV)", buffer.getvalue(),
                   file_name=f"{Path(checkpoint).name if checkpoint != ENSEMBLE else 'ensemble'}_{'real_sample' if real else 'test'}_predictions.csv",
                   mime="text/csv", key="eval_download")

show_studies()
