"""Catalogue uploads from the Classify page: a background `predict --catalog` run per uploaded CSV, its
progress, and its predictions to download. Runs live in the cache folder, keyed by the CSV's content and
the model, so a page rerun or another visitor with the same file joins the same run instead of starting one."""
from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

from galaxy_core.catalogue import read_catalogue
from galaxy_core.errors import UserError
from galaxy_core.fileio import write_bytes_atomic
from galaxy_core.processes import launch_cli, process_alive
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
    process = launch_cli(["predict", "--checkpoint", checkpoint, "--catalog", str(folder / "targets.csv"), "--out", str(folder / "predictions.csv")],
                         folder / "run.log", stdout_to_log=False)
    write_bytes_atomic(folder / "pid", str(process.pid).encode())


def stop(folder: Path, grace_s: float = 5.0) -> None:
    """Stop a run as Ctrl-C would (it can be resumed); a process still busy with a slow fetch after `grace_s` is killed,
    which loses nothing either: every finished batch is already on disk."""
    if not running(folder):
        return
    pid = int((folder / "pid").read_text())
    try:
        group = os.getpgid(pid)
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if process_alive(pid):
            os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:  # it ended by itself meanwhile
        pass


def running(folder: Path) -> bool:
    try:
        return process_alive(int((folder / "pid").read_text()))
    except (OSError, ValueError):
        return False


def done_rows(folder: Path) -> int:
    predictions = folder / "predictions.csv"
    if not predictions.exists():
        return 0
    with open(predictions, "rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def total_rows(folder: Path) -> int:
    return len(read_catalogue(folder / "targets.csv"))


def last_error(folder: Path) -> str:
    log = folder / "run.log"
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    errors = [line for line in lines if line.startswith("error: ")]
    return errors[-1][len("error: "):] if errors else ""
