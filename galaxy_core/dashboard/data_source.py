"""The dataset in use: the sidebar's path, else $GALAXY10_H5, else the synthetic default (made once,
in a background CLI process whose progress the page shows); one reader per file per process."""
from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from galaxy_core.data.default import default_dataset_path, generation_progress, generation_running, resolve_dataset, start_generation_process
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.errors import UserError
from galaxy_core.settings import DATA_ENV, DATA_ROOTS_ENV, configured_datasets, data_roots, public_mode


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


CANNOT_USE = ("Cannot use this file: give the path of a Galaxy10 .h5 file inside an allowed folder "
              f"(your home, the repository, the cache, the temporary folder, or ${DATA_ROOTS_ENV}).")
MAX_PATH_CHARS = 1024


def vetted_path(typed: str) -> str:
    """A path typed in the sidebar, if it lies inside an allowed root; anything else gets one sentence
    that says nothing about the file (whether it exists, what it is, where home is)."""
    if len(typed) > MAX_PATH_CHARS or "\x00" in typed:
        raise UserError(CANNOT_USE)
    try:
        resolved = Path(typed).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        raise UserError(CANNOT_USE) from None
    if not any(resolved.is_relative_to(root) for root in data_roots()):
        raise UserError(CANNOT_USE)
    return typed


def chosen_path() -> str | None:
    """The file picked in the sidebar: in public mode one of the operator's datasets by name (None: the
    default), locally a typed path checked by `vetted_path`."""
    if public_mode():
        choice = st.session_state.get("data_choice")
        offered = {path.name: path for path in configured_datasets()}
        return str(offered[choice]) if choice in offered else None
    typed = (st.session_state.get("data_path") or "").strip()
    return vetted_path(typed) if typed else None


def dataset() -> tuple[Galaxy10 | None, str | None]:
    """The Galaxy10 file in use (sidebar choice, else $GALAXY10_H5, else the synthetic default) or an error."""
    try:
        explicit = chosen_path()
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
