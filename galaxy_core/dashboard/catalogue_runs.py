"""Catalogue uploads from the Classify page: a background `predict --catalog` run per uploaded CSV, its
progress, and its predictions to download. Runs live in the cache folder, keyed by the CSV's content and
the model, so a page rerun or another visitor with the same file joins the same run instead of starting one."""
from __future__ import annotations

import hashlib
from pathlib import Path

from galaxy_core.catalogue import read_catalogue
from galaxy_core.errors import UserError
from galaxy_core.fileio import write_bytes_atomic
from galaxy_core.processes import job_alive, start_job, stop_job
from galaxy_core.processes import last_error as log_error
from galaxy_core.settings import cache_dir, public_mode

MAX_CSV_BYTES = 5 * 2**20
LOCAL_MAX_ROWS, PUBLIC_MAX_ROWS = 100_000, 500  # a public deployment fetches cutouts on its visitors' behalf
CHECKPOINT_FILE = "checkpoint"  # the run's model, so a stopped run can be resumed as it was started


def runs_root() -> Path:
    return cache_dir() / "catalogue_runs"


def start_run(csv_bytes: bytes, checkpoint: str) -> Path:
    """Check the CSV, then start (or join) its background run; returns the run's folder."""
    if len(csv_bytes) > MAX_CSV_BYTES:
        raise UserError(f"The catalogue is larger than {MAX_CSV_BYTES // 2**20} MB: split it, or run it with `predict --catalog`.")
    key = hashlib.sha256(csv_bytes + checkpoint.encode()).hexdigest()[:16]
    folder = runs_root() / key
    targets = folder / "targets.csv"
    if not targets.exists():
        write_bytes_atomic(targets, csv_bytes)
    rows = len(read_catalogue(targets))  # one sentence for a CSV without ra/dec, empty, or not text
    limit = PUBLIC_MAX_ROWS if public_mode() else LOCAL_MAX_ROWS
    if rows > limit:
        raise UserError(f"The catalogue has {rows:,} rows; this deployment classifies at most {limit:,}: "
                        "run larger ones with `python -m galaxy_core predict --catalog`.")
    if not (folder / CHECKPOINT_FILE).exists():
        write_bytes_atomic(folder / CHECKPOINT_FILE, checkpoint.encode())
    resume(folder)
    return folder


def resume(folder: Path) -> None:
    """Start a stopped or interrupted run again: finished rows are kept and neither fetched nor predicted again."""
    if running(folder) or done_rows(folder) >= total_rows(folder):
        return
    checkpoint = (folder / CHECKPOINT_FILE).read_text()
    start_job(folder, ["predict", "--checkpoint", checkpoint, "--catalog", str(folder / "targets.csv"), "--out", str(folder / "predictions.csv")],
              "run.log", stdout_to_log=False)


def stop(folder: Path, grace_s: float = 5.0) -> None:
    """Stop a run as Ctrl-C would (it can be resumed); a process still busy with a slow fetch after `grace_s` is killed,
    which loses nothing either: every finished batch is already on disk."""
    stop_job(folder, grace_s)


def running(folder: Path) -> bool:
    return job_alive(folder)


def done_rows(folder: Path) -> int:
    predictions = folder / "predictions.csv"
    if not predictions.exists():
        return 0
    with open(predictions, "rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def total_rows(folder: Path) -> int:
    return len(read_catalogue(folder / "targets.csv"))


def last_error(folder: Path) -> str:
    return log_error(folder / "run.log")
