"""Classify: uploads, the real check set's galaxies, dataset images or sky positions through any model or an ensemble,
with each model's explanation map and the ensemble's."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from galaxy_core.classes import CLASS_NAMES, CLASSES
from galaxy_core.dashboard.batch_table import batch_table
from galaxy_core.dashboard.data_source import require_dataset
from galaxy_core.dashboard.explanations import show_maps
from galaxy_core.dashboard.image_sources import DATASET, SOURCES, Item, gather
from galaxy_core.dashboard.scores import check_set_record
from galaxy_core.dashboard.loaded_models import default_choice, loaded_model, predictor, require_checkpoints
from galaxy_core.dashboard.sky import show_similar
from galaxy_core.errors import UserError
from galaxy_core.evaluation.metrics import accuracy_summary, confidence_trust
from galaxy_core.inference.ensemble import RULES


def choose_models(model_labels: dict) -> tuple[list[str], str | None, bool]:
    """The models, preselected as the recorded default answer (checkpoints/default.json) where there is one."""
    choice = default_choice()
    recorded = choice.recorded if choice else None
    preselected = [str(c) for c in choice.checkpoints] if choice else list(model_labels)[:1]
    left, right = st.columns([2, 1])
    chosen = left.multiselect("Models", list(model_labels), default=[c for c in preselected if c in model_labels], format_func=model_labels.get,
                              key="classify_models", help="One model, or several combined by an ensemble rule.")
    rule = right.selectbox("Ensemble rule", RULES, key="classify_rule", disabled=len(chosen) < 2,
                           index=RULES.index(choice.rule) if choice and choice.rule else 0,
                           help="agreement: the second study's rule; soft: mean probabilities; f1_weighted: per-class validation F1 weights.")
    if recorded:
        say_default(recorded)
    if not chosen:
        st.warning("Choose at least one model.")
        st.stop()
    tta = st.toggle("Average over the 8 rotations and flips", value=choice.tta if choice else False, key="classify_tta",
                    help="A galaxy has no up or down: each model sees the image turned by 0, 90, 180 and 270 degrees, and mirrored, "
                         "and its probabilities are averaged (8 times the compute; docs/benchmarks.md measures what it changes).")
    return chosen, (rule if len(chosen) > 1 else None), tta


def say_default(recorded) -> None:
    measured = recorded.measured
    what = recorded.names[0] if recorded.rule is None else f"the {recorded.rule} ensemble of {len(recorded.names)} models"
    st.caption(f"Preselected: the recorded default answer, {what}, chosen on the {measured.get('of', '?')} real check-set galaxies "
               f"({measured.get('right', '?')} right, 95% interval {measured.get('low', 0):.0%}–{measured.get('high', 1):.0%}).",
               help=f"Chosen by scripts/choose_default.py: {measured.get('rule_of_choice', '')}. docs/models.md lists the candidates.")


def say_trust(column, confidence: float, record: tuple | None) -> None:
    """Beside an answer: how often answers that confident were right on real galaxies, with the interval 60 allow."""
    trust = confidence_trust(confidence, *record) if record else None
    if trust is None:
        column.caption("How far to trust this confidence on real galaxies is unknown: a chosen model learned from the check set.")
        return
    column.caption(f"On the {len(record[0])} real check-set galaxies, answers at least {trust['at_least']:.0%} confident were right "
                   f"**{trust['right']} of {trust['of']}** times (95% interval {trust['low']:.0%}–{trust['high']:.0%}).")


def warn_if_synthetic(chosen: list[str], source: str) -> None:
    synthetic = [meta for meta in (loaded_model(c)[1] for c in chosen) if (meta.get("data") or {}).get("synthetic")]
    if synthetic and source != DATASET:
        st.warning("Trained on synthetic galaxies only: on real images these models are often wrong. What they score: "
                   + "; ".join(f"**{m.get('model')}**: {accuracy_summary(m)}" for m in synthetic) + ".")


def probabilities_figure(probabilities: dict) -> go.Figure:
    figure = go.Figure(go.Bar(x=list(probabilities.values()), y=list(probabilities), orientation="h",
                              marker_color=[c.colour for c in CLASSES], hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"tickformat": ".0%", "range": [0, 1]},
                         yaxis={"autorange": "reversed"})
    return figure


def show_answer(column, item: Item, result: dict, ensemble_rule: str | None, key: str, record: tuple | None) -> None:
    column.metric("Predicted class", result["class"], f"{result['confidence']:.1%} confidence", delta_color="off")
    say_trust(column, result["confidence"], record)
    if result["ood"]:
        column.error(f"Out of distribution (score {result['ood_score']:.1f}; above 1 means unlike anything in training): "
                     "this does not look like the galaxies these models learned from, so the class above means little.")
    elif result["ood_score"] is not None:
        column.caption(f"Out-of-distribution score {result['ood_score']:.2f} (above 1 would be flagged).")
    if item.truth is not None:
        verdict = "right" if item.truth == result["label"] else "wrong"
        column.markdown(f"**True class:** {CLASS_NAMES[item.truth]} ({verdict})")
    if ensemble_rule:
        column.caption(f"Ensemble ({ensemble_rule}); decided by: **{result['source']}**")
        column.dataframe([{"model": m, "vote": v["class"], "confidence": f"{v['confidence']:.1%}"} for m, v in result["members"].items()],
                         hide_index=True)
    column.plotly_chart(probabilities_figure(result["probabilities"]), width="stretch", key=f"{key}_probabilities")


@st.fragment
def explanation_panel(item: Item, result: dict, chosen: tuple[str, ...], rule: str | None, key: str) -> None:
    """A fragment: changing the method, class or opacity reruns only this panel, and its maps are cached."""
    show_maps(key, item.pixels, result, chosen, rule)


def show_item(position: int, item: Item, result: dict, chosen: list[str], rule: str | None, model_labels: dict,
              record: tuple | None) -> None:
    key = f"item_{position}"
    st.subheader(item.name)
    picture, facts = st.columns([1, 1])
    picture.image(item.pixels, caption=item.name, width=300)
    show_answer(facts, item, result, rule, key, record)
    explanation_panel(item, result, tuple(chosen), rule, key)
    first = model_labels[chosen[0]].split(" ")[0]
    if st.toggle(f"Galaxies like this one in the dataset ({first}'s latent space)", key=f"similar_{position}"):
        show_similar(chosen[0], require_dataset(), item.pixels, exclude=item.dataset_index)


st.title("Classify galaxies")
labels = require_checkpoints()
models, ensemble_rule, averaged = choose_models(labels)
source = st.radio("Images", SOURCES, horizontal=True, key="classify_source")
items = gather(source, models)
warn_if_synthetic(models, source)
if not items:
    st.stop()
try:
    with st.spinner("Classifying..."):
        results = predictor(tuple(models), ensemble_rule, averaged).predict(np.stack([item.pixels for item in items]))
    trust_record = check_set_record(tuple(models), ensemble_rule, averaged)
except UserError as exc:
    st.error(str(exc))
    st.stop()
if len(items) == 1:
    show_item(0, items[0], results[0], models, ensemble_rule, labels, trust_record)
else:  # a batch: the table, then the row clicked in detail
    st.subheader(f"{len(items)} images")
    row = batch_table([item.name for item in items], [item.pixels for item in items], results, trust_record)
    if row is not None:
        show_item(row, items[row], results[row], models, ensemble_rule, labels, trust_record)
