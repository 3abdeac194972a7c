"""Label: teach the models your own galaxies. One cutout at a time, most informative first; every answer is written at
once; after every N labels the default answer is adapted to them in the background and its cross-validated accuracy
shown beside the unadapted default's, and the adapted model can be made the default (and the old one restored)."""
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from galaxy_core.classes import CLASSES
from galaxy_core.dashboard import labelling, latent_view
from galaxy_core.dashboard.explanations import explanation_maps
from galaxy_core.dashboard.latent_view import from_uploads
from galaxy_core.dashboard.loaded_models import default_choice, predictor, require_checkpoints
from galaxy_core.data.images import STRETCHES, display_stretch, load_image
from galaxy_core.data.label_store import NOT_GALAXY, SKIP
from galaxy_core.errors import UserError
from galaxy_core.evaluation.explain import overlay
from galaxy_core.evaluation.labelling_queue import STRATEGIES
from galaxy_core.inference.default_answer import make_default, restore_previous_default
from galaxy_core.settings import checkpoints_root, public_mode

st.title("Label galaxies")
public = public_mode()
model_labels = require_checkpoints()
choice = default_choice()
recorded = choice.recorded if choice else None
checkpoints = tuple(str(c) for c in choice.checkpoints) if choice else tuple(list(model_labels)[:1])
rule = choice.rule if choice else None
st.caption(f"The queue is ranked by {'the recorded default answer' if recorded else 'the first checkpoint'} "
           f"({len(checkpoints)} model{'s' if len(checkpoints) > 1 else ''}{f', {rule}' if rule else ''}). Answers are written at once: "
           + ("a visitor's answers stay in this browser session only." if public else "a reload, a second tab or a crash loses nothing."))

PUBLIC_NOTE = ("Adapting to your labels trains a model on this server, which a public deployment does not do: run the workbench "
               "on your own machine to adapt it (your answers here stay in this browser session).")
if public:
    st.info(PUBLIC_NOTE)
sources = ["uploaded cutouts or a zip"] + ([] if public else ["a folder on this machine"])
left, middle, right = st.columns([2, 1, 1])
source = left.radio("Galaxies", sources, horizontal=True, key="label_source")
orders = [s for s in STRATEGIES if s != "disagreement" or len(checkpoints) > 1]
# Random first: in the simulation on real galaxies no uncertainty order beat it (docs/benchmarks.md, "Teaching it your galaxies").
strategy = middle.selectbox("Order", orders, index=orders.index("random"), key="label_strategy",
                            help="random: a seeded shuffle (as good as any on real galaxies so far); margin: the answers closest "
                                 "to a tie first; entropy: the most spread-out answers first; disagreement: where the ensemble's "
                                 "members disagree most")
every = right.number_input("Adapt after every N labels", 5, 500, 10, key="label_every", disabled=public)

notes: list[str] = []
folder = images = None  # the session's folder (local mode) and the images it labels
pixels_by_name: dict = {}
try:
    if source == "a folder on this machine":
        typed = st.text_input("Folder of cutouts", key="label_folder")
        if not typed.strip():
            st.info("Type the folder that holds your JPEG, PNG or FITS cutouts.")
            st.stop()
        images = Path(typed.strip()).expanduser()
        if not images.is_dir():
            raise UserError(f"{images} is not a folder: give the folder that holds the cutouts.")
        name = st.text_input("Name of this labelling session", images.name.replace(" ", "_")[:64], key="label_name")
        folder = labelling.session_folder(name)
    else:
        uploads = st.file_uploader("JPEG, PNG or FITS cutouts, or zips of them", accept_multiple_files=True, key="label_upload",
                                   type=["jpg", "jpeg", "png", "fits", "fit", "fz", "zip"])
        if not uploads:
            st.info("Upload the cutouts you want to label (a zip of a folder works).")
            st.stop()
        if public:
            pixels, names, _ = from_uploads(uploads, notes)
            pixels_by_name = dict(zip(names, pixels))
        else:
            name = st.text_input("Name of this labelling session", "uploads", key="label_name")
            folder = labelling.session_folder(name)
            images = labelling.unpack_uploads(uploads, folder, notes)
    if images is not None:
        queue, skipped = labelling.folder_queue(images, strategy, checkpoints, rule)
        notes += skipped[:5]
    else:
        key = latent_view.digest(list(pixels_by_name.values()))  # the uploads' content, not just their names
        queue = labelling.ranked_pixels(key, tuple(pixels_by_name.values()), tuple(pixels_by_name), strategy, checkpoints, rule, 0)
    answers = labelling.answers_of(folder, images)
except UserError as exc:
    st.error(str(exc))
    st.stop()
for note in notes + answers.notes:
    st.warning(note)

pending = [row for row in queue if row["file"] not in answers.answered]
st.progress(1 - len(pending) / max(len(queue), 1),
            text=f"{len(answers.labels)} labelled, {len(answers.other)} skipped or not galaxies, {len(pending)} to go")


def on_answer(file: str, value) -> None:
    try:
        labelling.answer(folder, file, value)
        count = len(labelling.answers_of(folder, images).labels)
        if folder is not None and isinstance(value, int) and count >= 5 and count % st.session_state.get("label_every", 10) == 0 \
                and not labelling.adaptation_running(name):
            labelling.start_adaptation(name, images, checkpoints, rule)
    except UserError as exc:
        st.session_state["label_error"] = str(exc)


if st.session_state.get("label_error"):
    st.error(st.session_state.pop("label_error"))
if pending:
    row = pending[0]
    cutout = load_image(images / row["file"]).pixels if images is not None else pixels_by_name[row["file"]]
    picture, about = st.columns([1, 1])
    stretch = picture.selectbox("Display stretch", STRETCHES, key="label_stretch")
    strength = picture.slider("Strength", 0.0, 1.0, 0.5, key="label_strength", disabled=stretch == "as stored")
    shown = display_stretch(cutout, stretch, strength)
    if about.toggle("Show the answer's map", key="label_map", help="Grad-CAM of every model: a few seconds per galaxy"):
        result = predictor(checkpoints, rule).predict(cutout[None])[0]
        maps = explanation_maps(checkpoints, rule, cutout, result, None, None)
        if not maps["empty"]:
            shown = overlay(shown, maps["combined"], 0.45)
    picture.image(shown, caption=row["file"], width=320)
    about.markdown("**The current answer**")
    for class_name, p in row["top"]:  # from the ranking pass: no model runs between an answer and the next galaxy
        about.progress(p, text=f"{class_name}: {p:.0%}")
    about.caption(f"Queued by {strategy}: score {row['score']:.3f}" + (" · flagged out of distribution" if row["ood"] else ""))
    st.markdown("**What is it?** (keys 0-9, S to skip, N for not a galaxy)")
    columns = st.columns(5)
    for c in CLASSES:
        columns[c.index % 5].button(f"{c.index} · {c.name}", key=f"label_class_{c.index}", width="stretch", shortcut=str(c.index),
                                    on_click=on_answer, args=(row["file"], c.index))
    skip, not_galaxy, _ = st.columns([1, 1, 3])
    skip.button("Skip", key="label_skip", shortcut="S", on_click=on_answer, args=(row["file"], SKIP), width="stretch")
    not_galaxy.button("Not a galaxy", key="label_not_galaxy", shortcut="N", on_click=on_answer, args=(row["file"], NOT_GALAXY), width="stretch")
else:
    st.success("Every galaxy in the queue has an answer.")

st.divider()
st.subheader("Learning from your labels")
if public:
    st.stop()  # PUBLIC_NOTE, at the top, says why
state = labelling.adaptation_state(name)
if st.button("Adapt now", key="label_adapt", disabled=state["running"] or len(answers.labels) < 5,
             help="at least 5 labels; it also runs by itself after every N labels"):
    try:
        labelling.start_adaptation(name, images, checkpoints, rule)
        state = labelling.adaptation_state(name)
    except UserError as exc:
        st.error(str(exc))
if state["running"]:
    st.info("Adapting to your labels in the background... (this page shows the result when you next answer or reload)")
elif state["error"]:
    st.error(state["error"])
summary = state["summary"]
if summary:
    cards = st.columns(3)
    low, high = summary["cv_interval"]
    cards[0].metric("Adapted, cross-validated", f"{summary['cv_accuracy']:.0%}", help=f"95% interval {low:.0%}–{high:.0%}; "
                    f"{summary['cv_folds']}-fold: every galaxy scored by a model that never saw its label")
    b_low, b_high = summary["baseline_interval"]
    cards[1].metric("Unadapted default, same galaxies", f"{summary['baseline_accuracy']:.0%}", help=f"95% interval {b_low:.0%}–{b_high:.0%}")
    cards[2].metric("Labels used", summary["labels"], delta=len(answers.labels) - summary["labels"] or None,
                    help="the delta: labels given since this adaptation")
    st.caption(f"95% intervals: adapted {low:.0%}–{high:.0%}, default {b_low:.0%}–{b_high:.0%}. Method {summary['method']}, "
               f"adapted from {summary['adapted_from']}.")
    if summary["cv_accuracy"] <= summary["baseline_accuracy"]:
        st.warning("On your labels the adapted model is not yet better than the default: keep the default and label more "
                   "(on the real check set adapting drew level with the default only at about 40 labels: docs/benchmarks.md).")
    curve = summary.get("curve") or []
    if curve:
        figure = go.Figure([go.Scatter(x=[p["labels"] for p in curve], y=[p["cv_accuracy"] for p in curve], name="adapted (cross-validated)", mode="lines+markers"),
                            go.Scatter(x=[p["labels"] for p in curve], y=[p["baseline_accuracy"] for p in curve], name="unadapted default", mode="lines+markers")])
        figure.update_layout(height=280, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis_title="labels", yaxis_title="accuracy", yaxis_range=[0, 1])
        st.plotly_chart(figure, width="stretch", key="label_curve")
    adapted = labelling.adapted_folder(name)
    is_default = recorded is not None and list(recorded.names) == [adapted.name]
    make, restore, _ = st.columns([1, 1, 2])
    if make.button("Make it the default answer", key="label_make_default", disabled=is_default):
        make_default(checkpoints_root(), adapted.name, {"on": "your labels", "accuracy": summary["cv_accuracy"], "cross_validated": True,
                                                        "right": round(summary["cv_accuracy"] * summary["labels"]), "of": summary["labels"],
                                                        "low": low, "high": high}, by="the Label page")
        st.rerun()
    if restore.button("Restore the previous default", key="label_restore_default", disabled=not is_default):
        restore_previous_default(checkpoints_root())
        st.rerun()
