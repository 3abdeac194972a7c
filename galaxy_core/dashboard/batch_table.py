"""The Classify page's table for a batch: one row per image (thumbnail, answer, confidence, how often check-set answers
that confident were right, OOD flag, each model's vote), sortable by any column, filterable, downloadable as CSV;
a clicked row is the image the page shows in detail."""
from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from galaxy_core.classes import CLASS_NAMES
from galaxy_core.evaluation.answer_table import answer_csv, answer_rows

THUMBNAIL = 64
ALL, FLAGGED, NOT_FLAGGED = "all", "only flagged", "only not flagged"


def thumbnail_url(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((THUMBNAIL, THUMBNAIL)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _filtered(frame: pd.DataFrame) -> pd.DataFrame:
    classes, confidence, flags = st.columns([2, 1, 1])
    wanted = classes.multiselect("Show the classes", CLASS_NAMES, key="batch_classes", placeholder="every class")
    least = confidence.slider("Confidence at least", 0.0, 1.0, 0.0, 0.05, key="batch_min_confidence")
    ood = flags.selectbox("Out of distribution", (ALL, FLAGGED, NOT_FLAGGED), key="batch_ood")
    keep = frame["confidence"] >= least
    if wanted:
        keep &= frame["class"].isin(wanted)
    if ood != ALL:
        keep &= frame["ood"].fillna(False).astype(bool) == (ood == FLAGGED)
    return frame[keep]


def batch_table(names: list[str], pixels: list[np.ndarray], results: list[dict], record: tuple | None) -> int | None:
    """Draw the table; return the position (in `names`) of the row clicked, else of the first row shown."""
    rows = answer_rows(names, results, record)
    frame = pd.DataFrame(rows)
    frame.insert(0, "thumbnail", [thumbnail_url(p) for p in pixels])
    shown = _filtered(frame)
    votes = [c for c in frame.columns if c.startswith("vote_")]
    event = st.dataframe(shown.drop(columns=["label", "right_interval_low", "right_interval_high"]), key="batch_table",
                         on_select="rerun", selection_mode="single-row", hide_index=True, width="stretch",
                         column_config={"thumbnail": st.column_config.ImageColumn("image", width="small"),
                                        "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0, format="%.2f"),
                                        "right_when_this_confident": st.column_config.NumberColumn(
                                            "right when this confident", format="%.2f",
                                            help="On the 60 real check-set galaxies: the share of answers at least this confident "
                                                 "that were right (right_of gives the counts)"),
                                        **{v: st.column_config.TextColumn(v.removeprefix("vote_")) for v in votes}})
    st.caption(f"{len(shown)} of {len(frame)} images shown; click a column's header to sort, a row to see it in detail below.")
    st.download_button("Download the table as CSV", answer_csv(rows), file_name="classifications.csv", mime="text/csv", key="batch_csv")
    selected = event.selection.rows if event is not None and hasattr(event, "selection") else []
    if selected:
        return int(shown.index[selected[0]])
    return int(shown.index[0]) if len(shown) else None
