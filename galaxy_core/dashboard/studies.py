"""The Evaluation page's study tables: what `python -m galaxy_core study` wrote (results.csv and results.md), found
under results/studies/ or (not in public mode, where visitors name no server path) at any folder typed in."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from galaxy_core.errors import UserError
from galaxy_core.settings import public_mode, results_root
from galaxy_core.training.study import find_studies, read_study

STUDIES = "studies"


def show_studies() -> None:
    """A study's table: one row per model and per ensemble rule, as the study command wrote it."""
    st.subheader("Study tables")
    found = find_studies(results_root() / STUDIES)
    left, right = st.columns([1, 2])
    chosen = left.selectbox("Study", [str(p) for p in found], format_func=lambda p: Path(p).name, index=None,
                            placeholder="none in results/studies/" if not found else "choose a study", key="eval_study")
    typed = "" if public_mode() else right.text_input("Or a study folder", key="eval_study_path",
                                                      help="the --out folder of `python -m galaxy_core study`, holding results.csv")
    folder = typed.strip() or chosen
    if not folder:
        st.caption("Run `python -m galaxy_core study --preset efficientnet-study --data FILE --out results/studies/NAME` to make one.")
        return
    try:
        rows, markdown = read_study(folder)
    except UserError as exc:
        st.error(str(exc))
        return
    st.caption(markdown.split("\n\n")[1] if markdown.count("\n\n") >= 2 else "")
    st.dataframe(_typed(pd.DataFrame(rows)), hide_index=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as numbers (sortable, right-aligned), where every filled cell of a column is one; blanks stay empty."""
    for column in frame.columns:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        if numbers.notna().sum() == (frame[column] != "").sum():
            frame[column] = numbers
    return frame
