"""Train: start a run in the background, follow its progress and curves, cancel or delete it."""
import time

import streamlit as st

from galaxy_core.dashboard.charts import curves_figure
from galaxy_core.dashboard.data_source import require_dataset
from galaxy_core.errors import UserError
from galaxy_core.models import MODEL_NAMES, get_spec
from galaxy_core.settings import max_ui_runs, public_mode, ui_runs_root, ui_training_allowed
from galaxy_core.training import jobs

# A public deployment that allows training at all keeps runs small and short-lived.
PUBLIC_MAX_EPOCHS, PUBLIC_MAX_SIZE, PUBLIC_RUN_LIFETIME_S = 3, 64, 3600

st.title("Train a model")
if not ui_training_allowed():
    st.info("Training is switched off on this public deployment: every visitor shares one server. "
            "Clone the repository and run `streamlit run app.py` (or `python -m galaxy_core train`) to train your own models.")
    st.stop()
public = public_mode()
root = ui_runs_root()
if public:
    jobs.remove_stale(root, PUBLIC_RUN_LIFETIME_S)
data = require_dataset()
st.caption(f"Trains on the dataset in use: `{data.path.name}` ({len(data):,} images). The run is a separate process: "
           "it goes on if you leave this page" + (". On this public deployment runs are capped at "
           f"{PUBLIC_MAX_EPOCHS} epochs and {PUBLIC_MAX_SIZE} px, kept in a scratch folder and deleted an hour after they stop."
           if public else ", and the finished checkpoint appears in every model list."))

with st.form("train_form"):
    columns = st.columns(4)
    model = columns[0].selectbox("Model", MODEL_NAMES, key="train_model", format_func=lambda n: f"{n}: {get_spec(n).description}")
    epochs = columns[1].number_input("Epochs", 1, PUBLIC_MAX_EPOCHS if public else 500, min(5, PUBLIC_MAX_EPOCHS) if public else 5,
                                     key="train_epochs")
    image_size = columns[2].number_input("Image size (px)", 16, PUBLIC_MAX_SIZE if public else 512, 64, step=16, key="train_size")
    device = columns[3].selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="train_device")
    name = st.text_input("Checkpoint name", value=f"{model}_{int(image_size)}px", key="train_name", max_chars=64,
                         help="Letters, digits, '-' and '_'. Starting a stopped run again with the same name and settings resumes it; "
                              "an existing checkpoint is never replaced.")
    start = st.form_submit_button("Start training", type="primary")
if start:
    try:
        jobs.start_named(root, name.strip(), model, max_runs=max_ui_runs(), data=str(data.path), epochs=int(epochs),
                         image_size=int(image_size), device=device, weights="none")
        st.success(f"Started training {model} as '{name.strip()}'.")
    except UserError as exc:
        st.error(str(exc))


@st.fragment(run_every=3)
def show_runs():
    runs = jobs.runs(root)
    if not runs:
        st.write("No training runs started from the dashboard yet.")
        return
    for folder in reversed(runs):
        status = jobs.status(folder)
        progress = status["progress"] or {}
        with st.container(border=True):
            head, button = st.columns([4, 1])
            label = "running" if status["running"] else "finished" if status["finished"] else "stopped (start it again to resume)"
            head.markdown(f"**{folder.name}**: {label}")
            epochs_total = progress.get("epochs") or 1
            done = progress.get("epoch", 0) + (progress.get("batch", 0) / max(progress.get("batches", 1), 1) if status["running"] else 0)
            st.progress(min(done / epochs_total, 1.0), text=f"epoch {progress.get('epoch', 0)} of {epochs_total}")
            if status["running"] and button.button("Cancel", key=f"cancel_{folder.name}"):
                jobs.cancel(folder)
                time.sleep(0.5)
                st.rerun()
            if not status["running"] and button.button("Delete", key=f"delete_{folder.name}", help="Remove this run and its files."):
                try:
                    jobs.delete(folder)
                except UserError as exc:
                    st.error(str(exc))
                st.rerun()
            history = progress.get("history") or []
            if history:
                left, right = st.columns(2)
                left.plotly_chart(curves_figure(history, "loss"), width="stretch", key=f"loss_{folder.name}")
                right.plotly_chart(curves_figure(history, "accuracy"), width="stretch", key=f"acc_{folder.name}")
            why = progress.get("reason") or ("" if public else status["last_log_line"])  # a log line may name server paths
            if not status["running"] and not status["finished"] and why:
                st.caption(why)


st.subheader("Runs")
show_runs()
