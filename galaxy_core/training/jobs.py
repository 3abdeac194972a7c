"""Training runs in the background: a detached `python -m galaxy_core train` process per run.

The dashboard starts one, follows its `progress.json`, and can cancel or delete it; page reruns,
closed tabs and other sessions do not touch it. A cancelled run resumes if started again the same
way. Runs are named, never given paths: a name resolves under the runs root and cannot leave it,
a new run never replaces a folder it did not start, and the whole server runs at most
`max_runs` at once (a lock makes two clicks in two sessions count as two).
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path

from galaxy_core.errors import UserError
from galaxy_core.fileio import exclusive_lock
from galaxy_core.models.checkpoint import META_FILE
from galaxy_core.processes import JOB_JSON, job_alive, read_job, start_job, stop_job
from galaxy_core.settings import cache_dir
from galaxy_core.training.run_state import PROGRESS_JSON, mark_stopped

RUN_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def run_folder(root: Path, name: str) -> Path:
    """The folder for run `name` under `root`, or one sentence: names are plain (letters, digits, - and _)."""
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
        raise UserError("A checkpoint name may only hold letters, digits, '-' and '_' (at most 64): choose a plain name.")
    root = Path(root).resolve()
    folder = (root / name).resolve()
    if folder.parent != root:  # a symlink planted under the root must not lead out of it
        raise UserError("A checkpoint name may only hold letters, digits, '-' and '_' (at most 64): choose a plain name.")
    return folder


def _runs_lock(root: Path) -> Path:
    """One lock per runs root, kept in the cache (not among the checkpoints it guards)."""
    return cache_dir() / "locks" / f"runs-{hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]}.lock"


def start_named(root: Path, name: str, model: str, max_runs: int = 1, **options) -> Path:
    """Start run `name` under `root` as `start` does, with the UI's rules: a plain name, no replacing a
    folder this page did not start or a finished checkpoint, and at most `max_runs` running at once."""
    root = Path(root)
    with exclusive_lock(_runs_lock(root)):
        out = run_folder(root, name)
        if out.exists():
            if not (out / JOB_JSON).exists():
                raise UserError(f"'{name}' is already used by a checkpoint this page did not train: choose another name.")
            if (out / META_FILE).exists():
                raise UserError(f"'{name}' is a finished run: choose another name, or delete that run first.")
        running = [folder.name for folder in runs(root) if status(folder)["running"]]
        if name in running:
            raise UserError(f"'{name}' is already running: wait for it or cancel it first.")
        if len(running) >= max_runs:
            raise UserError(f"{len(running)} training run{'s are' if len(running) > 1 else ' is'} already going on this server "
                            f"(the limit is {max_runs}): wait for it to finish or cancel it.")
        return start(model, out, **options)


def start(model: str, out: Path, data: str | None = None, epochs: int | None = None, image_size: int | None = None,
          device: str = "auto", weights: str | None = "none", extra: list[str] | None = None) -> Path:
    out = Path(out)
    if status(out)["running"]:
        raise UserError(f"A training run is already writing to {out.name}: wait for it or cancel it first.")
    out.mkdir(parents=True, exist_ok=True)
    arguments = ["train", "--model", model, "--out", str(out), "--device", device]
    for flag, value in (("--data", data), ("--epochs", epochs), ("--image-size", image_size), ("--weights", weights)):
        if value is not None:
            arguments += [flag, str(value)]
    arguments += extra or []
    start_job(out, arguments, "train.log")
    return out


def delete(out: Path) -> None:
    """Remove a finished or stopped run that this page started (never a running one, never other folders)."""
    out = Path(out)
    if not (out / JOB_JSON).exists():
        raise UserError(f"'{out.name}' was not started from this page: it is not deleted here.")
    if status(out)["running"]:
        raise UserError(f"'{out.name}' is still running: cancel it first.")
    shutil.rmtree(out, ignore_errors=True)


def remove_stale(root: Path, older_than_s: float) -> list[str]:
    """Delete runs that stopped more than `older_than_s` ago (a public deployment's scratch folder)."""
    removed = []
    for folder in runs(root):
        state = status(folder)
        stopped_at = max((p.stat().st_mtime for p in folder.iterdir()), default=0.0)
        if not state["running"] and time.time() - stopped_at > older_than_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def status(out: Path) -> dict:
    """What a run folder says: running or not, its progress file, and the tail of its log."""
    out = Path(out)
    job = read_job(out)
    progress = _read(out / PROGRESS_JSON)
    running = job_alive(out) and (progress or {}).get("state") != "done"
    if not running and (progress or {}).get("state") == "running":  # killed outright (out of memory, SIGKILL)
        mark_stopped(out, "failed", "the training process ended without finishing")
        progress = _read(out / PROGRESS_JSON)
    log = out / "train.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    return {"running": running, "job": job, "progress": progress, "finished": (out / META_FILE).exists(),
            "last_log_line": tail[0] if tail else ""}


def cancel(out: Path) -> bool:
    """Stop the run as Ctrl-C would: it saves its state and resumes if started again. Whether it was running."""
    return stop_job(Path(out))


def runs(folder: Path) -> list[Path]:
    return sorted(p.parent for p in Path(folder).glob(f"*/{JOB_JSON}"))


def _read(path: Path) -> dict | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
