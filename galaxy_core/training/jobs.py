"""Training runs in the background: a detached `python -m galaxy_core train` process per run.

The dashboard starts one, follows its `progress.json`, and can cancel it; page reruns, closed
tabs and other sessions do not touch it. A cancelled run resumes if started again the same way.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from galaxy_core.errors import UserError
from galaxy_core.fileio import write_json_atomic
from galaxy_core.models.checkpoint import META_FILE
from galaxy_core.processes import launch_cli
from galaxy_core.training.run_state import PROGRESS_JSON

JOB_JSON = "job.json"


def start(model: str, out: Path, data: str | None = None, epochs: int | None = None, image_size: int | None = None,
          device: str = "auto", weights: str | None = "none", extra: list[str] | None = None) -> Path:
    out = Path(out)
    if status(out)["running"]:
        raise UserError(f"A training run is already writing to {out}: wait for it or cancel it first.")
    out.mkdir(parents=True, exist_ok=True)
    arguments = ["train", "--model", model, "--out", str(out), "--device", device]
    for flag, value in (("--data", data), ("--epochs", epochs), ("--image-size", image_size), ("--weights", weights)):
        if value is not None:
            arguments += [flag, str(value)]
    arguments += extra or []
    process = launch_cli(arguments, out / "train.log")
    write_json_atomic(out / JOB_JSON, {"pid": process.pid, "command": process.args, "started": time.time()})
    return out


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def status(out: Path) -> dict:
    """What a run folder says: running or not, its progress file, and the tail of its log."""
    out = Path(out)
    job = _read(out / JOB_JSON)
    progress = _read(out / PROGRESS_JSON)
    running = bool(job) and _alive(int(job["pid"])) and (progress or {}).get("state") != "done"
    log = out / "train.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
    return {"running": running, "job": job, "progress": progress, "finished": (out / META_FILE).exists(),
            "last_log_line": tail[0] if tail else ""}


def cancel(out: Path) -> bool:
    job = _read(Path(out) / JOB_JSON)
    if not job or not _alive(int(job["pid"])):
        return False
    os.killpg(os.getpgid(int(job["pid"])), signal.SIGTERM)
    return True


def runs(folder: Path) -> list[Path]:
    return sorted(p.parent for p in Path(folder).glob(f"*/{JOB_JSON}"))


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
