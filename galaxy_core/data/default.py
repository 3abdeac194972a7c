"""Which Galaxy10 file to use, and the embedded synthetic default made on first use.

Order: an explicit path (`--data FILE`, the dashboard's sidebar), then `GALAXY10_H5`, then the
default synthetic dataset, generated once into the cache folder and reused after that.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable

import h5py

from galaxy_core.data.synthetic import GENERATOR_VERSION, generate, partial_path
from galaxy_core.errors import UserError
from galaxy_core.fileio import exclusive_lock
from galaxy_core.processes import launch_cli
from galaxy_core.settings import DATA_ENV, DEFAULT_N_ENV, cache_dir
# Big enough to train and evaluate the demo models (500 test images at 80/10/10), small enough
# to generate in about 80 s on two cores and to fit a Community Cloud disk (~0.8 GB).
DEFAULT_N = 5000
DEFAULT_SEED = 0


def default_size() -> int:
    raw = os.environ.get(DEFAULT_N_ENV)
    if raw is None:
        return DEFAULT_N
    if not raw.isdigit() or int(raw) < 10:
        raise UserError(f"{DEFAULT_N_ENV}={raw!r} is not a whole number of at least 10: unset it or fix it.")
    return int(raw)


def default_dataset_path() -> Path:
    return cache_dir() / f"galaxy10_synthetic_v{GENERATOR_VERSION}_n{default_size()}_seed{DEFAULT_SEED}.h5"


def _lock_path() -> Path:
    path = default_dataset_path()
    return path.with_name(path.name + ".lock")


def ensure_default_dataset(progress: Callable[[int, int], None] | None = None) -> Path:
    """The default synthetic dataset's path, generating it first if it is not cached yet."""
    path = default_dataset_path()
    if path.exists():
        return path
    with exclusive_lock(_lock_path()):  # the dashboard and the CLI may start generating together
        if not path.exists():  # another process may have finished it while we waited
            generate(path, default_size(), seed=DEFAULT_SEED, progress=progress)
    return path


def generation_running() -> bool:
    """Whether some process holds the default dataset's lock (is generating it now)."""
    try:
        import fcntl
    except ImportError:
        return partial_path(default_dataset_path()).exists()
    lock = _lock_path()
    if not lock.exists():
        return False
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def generation_progress() -> tuple[int, int] | None:
    """(images done, total) of a default dataset being generated, read from its partial file."""
    try:
        with h5py.File(partial_path(default_dataset_path()), "r", locking=False) as f:
            return int(f.attrs["completed"]), int(f.attrs["n"])
    except (OSError, KeyError):  # not started yet, or caught mid-write: ask again shortly
        return None


def start_generation_process(log: Path | None = None) -> subprocess.Popen:
    """Generate the default in a separate, detached `python -m galaxy_core synth --default`
    (see `galaxy_core.processes`); it reports progress through the partial file."""
    return launch_cli(["synth", "--default"], log or cache_dir() / "default_generation.log", stdout_to_log=False)


def resolve_dataset(explicit: str | os.PathLike | None = None, progress: Callable[[int, int], None] | None = None) -> Path:
    """The file to use: explicit path, else $GALAXY10_H5, else the embedded default."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return ensure_default_dataset(progress)
