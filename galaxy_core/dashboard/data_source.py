"""The dataset in use: the sidebar's path, else $GALAXY10_H5, else the synthetic default (made once,
in a background CLI process whose progress the page shows); one reader per file per process."""
from __future__ import annotations

import os
import time

import streamlit as st

from galaxy_core.data.default import default_dataset_path, generation_progress, generation_running, resolve_dataset, start_generation_process
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.errors import UserError
from galaxy_core.settings import DATA_ENV


@st.cache_resource(show_spinner=False, max_entries=4)
def _open_dataset(path: str, stamp: tuple[int, int]) -> Galaxy10:
    """One reader per file version per process; `stamp` (mtime, size) reopens a replaced file."""
    return Galaxy10(path)


def _make_default_with_progress() -> None:
    """Start (or join) the background generation of the default dataset and show its progress.

    The work runs in a separate CLI process, so page reruns and other sessions never start it
    twice, and it carries on if this page is left.
    """
    path = default_dataset_path()
    bar = st.progress(0.0, text="Creating the default synthetic dataset (once; about 80 s on two cores)...")
    process = None if generation_running() else start_generation_process()  # else another session's run
    while not path.exists():
        done_total = generation_progress()
        if done_total:
            done, total = done_total
            bar.progress(done / total, text=f"Creating the default synthetic dataset: {done:,} of {total:,} images")
        alive = (process is not None and process.poll() is None) or generation_running()
        if not alive and not path.exists():
            raise UserError(f"Creating the default dataset stopped before it finished (log: {path.parent / 'default_generation.log'}): "
                            "reload the page to continue it, or run `python -m galaxy_core synth --default` in a terminal.")
        time.sleep(1.0)
    bar.empty()


def dataset() -> tuple[Galaxy10 | None, str | None]:
    """The Galaxy10 file in use (sidebar path, else $GALAXY10_H5, else the synthetic default) or an error."""
    explicit = (st.session_state.get("data_path") or "").strip() or None
    try:
        if not explicit and not os.environ.get(DATA_ENV) and not default_dataset_path().exists():
            _make_default_with_progress()
        path = resolve_dataset(explicit)
        if not path.exists():
            raise UserError(f"{path} does not exist: check the path, or clear it to use the synthetic default.")
        stat = path.stat()
        return _open_dataset(str(path.resolve()), (stat.st_mtime_ns, stat.st_size)), None
    except UserError as exc:
        return None, str(exc)


def require_dataset() -> Galaxy10:
    """The dataset in use, or the page stops with its error."""
    data, error = dataset()
    if data is None:
        st.error(error)
        st.stop()
    return data
