"""Train: start a run in the background, follow its progress and curves, cancel it."""
import time

import streamlit as st

from galaxy_core.dashboard.data_source import require_dataset
from galaxy_core.dashboard.charts import curves_figure
from galaxy_core.errors import UserError
from galaxy_core.models import MODEL_NAMES, get_spec
from galaxy_core.settings import checkpoints_root
from galaxy_core.training import jobs

st.title("Train a model")
data = require_dataset()
st.caption(f"Trains on the dataset in use: `{data.path.name}` ({len(data):,} images). The run is a separate process: "
           "it goes on if you leave this page, and the finished checkpoint appears in every model list.")

with st.form("train_form"):
    columns = st.columns(4)
    model = columns[0].selectbox("Model", MODEL_NAMES, key="train_model", format_func=lambda n: f"{n}: {get_spec(n).description}")
    epochs = columns[1].number_input("Epochs", 1, 500, 5, key="train_epochs")
    image_size = columns[2].number_input("Image size (px)", 16, 512, 64, step=16, key="train_size")
    device = columns[3].selectbox("Device", ["auto", "cpu", "cuda", "mps"], key="train_device")
    name = st.text_input("Checkpoint name", value=f"{model}_{int(image_size)}px", key="train_name",
                         help="A folder under checkpoints/. Starting again with the same name and settings resumes a stopped run.")
    start = st.form_submit_button("Start training", type="primary")
if start:
    try:
        jobs.start(model, checkpoints_root() / name, data=str(data.path), epochs=int(epochs), image_size=int(image_size),
                   device=device, weights="none")
        st.success(f"Started training {model} into checkpoints/{name}.")
    except UserError as exc:
        st.error(str(exc))


@st.fragment(run_every=3)
def show_runs():
    runs = jobs.runs(checkpoints_root())
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
            history = progress.get("history") or []
            if history:
                left, right = st.columns(2)
                left.plotly_chart(curves_figure(history, "loss"), width="stretch", key=f"loss_{folder.name}")
                right.plotly_chart(curves_figure(history, "accuracy"), width="stretch", key=f"acc_{folder.name}")
            if not status["running"] and not status["finished"] and status["last_log_line"]:
                st.caption(status["last_log_line"])


st.subheader("Runs")
show_runs()
