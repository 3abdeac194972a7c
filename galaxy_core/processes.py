"""Long work as a detached `python -m galaxy_core ...` process (the default dataset, training runs).

Processes embedded in servers (Streamlit runs app.py as a stand-in __main__) must not start
multiprocessing pools themselves: the workers would re-import that __main__. A CLI process has a
plain __main__, survives page reruns and closed tabs, and reports progress through its files.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from galaxy_core.settings import REPO_ROOT


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
