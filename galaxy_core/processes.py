"""Long work as a detached `python -m galaxy_core ...` process (the default dataset, training runs, catalogue runs).

Processes embedded in servers (Streamlit runs app.py as a stand-in __main__) must not start
multiprocessing pools themselves: the workers would re-import that __main__. A CLI process has a
plain __main__, survives page reruns and closed tabs, and reports progress through its files.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from galaxy_core.fileio import write_json_atomic
from galaxy_core.settings import REPO_ROOT

JOB_JSON = "job.json"  # a background run's record: its process id, command and start time


def cli_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "galaxy_core", *arguments]


def launch_cli(arguments: list[str], log: Path, stdout_to_log: bool = True) -> subprocess.Popen:
    """Start `python -m galaxy_core ARGUMENTS` in its own session, its output appended to `log`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        return subprocess.Popen(cli_command(*arguments), cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=handle if stdout_to_log else subprocess.DEVNULL, stderr=handle, start_new_session=True)


def process_alive(pid: int) -> bool:
    """Whether a process we started (or any) still runs; reaps it if it was our child and has ended."""
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


# A background run: a folder, the CLI process working in it, and `job.json` saying which process that is. Training
# runs (training/jobs.py) and catalogue runs (dashboard/catalogue_runs.py) both start, follow and stop theirs here.

def start_job(folder: Path, arguments: list[str], log_name: str, stdout_to_log: bool = True, launch=None) -> subprocess.Popen:
    """Start `python -m galaxy_core ARGUMENTS` for the run in `folder`, its output in `folder/log_name`, and record it.
    `launch` replaces `launch_cli` (tests start a stand-in process)."""
    process = (launch or launch_cli)(arguments, Path(folder) / log_name, stdout_to_log)
    write_json_atomic(Path(folder) / JOB_JSON, {"pid": process.pid, "command": process.args, "started": time.time(),
                                                "process_started": process_start_time(process.pid)})
    return process


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch, as the OS records it), or None when there is no such process.
    With the pid it names one process for good: an id the system has handed to a new process has another start time."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def read_job(folder: Path) -> dict | None:
    try:
        found = json.loads((Path(folder) / JOB_JSON).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def job_alive(folder: Path) -> bool:
    """Whether the process a job.json names still runs: the same process id *and* the same start time, so a pid the
    system has recycled for another program (after a reboot, or a long while) is not taken for the job."""
    job = read_job(folder)
    if not job or not isinstance(job.get("pid"), int) or not process_alive(job["pid"]):
        return False
    recorded = job.get("process_started")
    if recorded is None:  # a job.json from before start times were recorded
        return True
    now = process_start_time(job["pid"])
    return isinstance(recorded, (int, float)) and now is not None and abs(now - recorded) < 0.05  # clock ticks: 10 ms


def stop_job(folder: Path, grace_s: float | None = None) -> bool:
    """Stop the run as Ctrl-C would (it can resume); with `grace_s`, kill it if it is still there after that long.
    Returns whether it was running."""
    if not job_alive(folder):
        return False
    pid = int(read_job(folder)["pid"])
    try:
        group = os.getpgid(pid)
        os.killpg(group, signal.SIGTERM)
        if grace_s is not None:
            deadline = time.monotonic() + grace_s
            while process_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if process_alive(pid):
                os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:  # it ended by itself meanwhile
        pass
    return True


def last_error(log: Path) -> str:
    """The last `error: ...` sentence a CLI run wrote to its log, without the prefix ("" when there is none)."""
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    errors = [line for line in lines if line.startswith("error: ")]
    return errors[-1][len("error: "):] if errors else ""
