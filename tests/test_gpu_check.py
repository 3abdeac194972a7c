"""benchmarks/gpu_check.sh keeps working: `--device cpu --quick` runs the GPU check's own code on the CPU, with the
packages the GPU machine lacks made unimportable (it has torch, torchvision, timm, numpy and a few more, not ours)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import REPO

# Installed here, absent on the GPU machine (its package list: /work/.library/device/KINDS.md): the check must not need them.
ABSENT_THERE = ("jsonschema", "isal", "galsim", "sep", "astropy", "pytorch_grad_cam", "plotly", "streamlit", "fastapi", "uvicorn")

BLOCKER = f"""
import importlib.abc, sys
class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT_THERE!r}:
            raise ImportError(f"{{name}} is not installed on the GPU machine")
        return None
sys.meta_path.insert(0, _Absent())
"""


def test_gpu_check_runs_quick_on_the_cpu_without_the_packages_the_gpu_machine_lacks(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    summary = tmp_path / "summary.json"
    # The script runs the interpreter running these tests ($PYTHON), never whatever `python3` PATH finds first: a
    # `python3` that fails stands first on PATH here, as an unactivated virtual environment's system python3 would.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3").write_text("#!/bin/sh\necho 'the wrong python3' >&2\nexit 3\n")
    (tmp_path / "bin" / "python3").chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHON": sys.executable, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    # Two of the five study models (every model trains in tests/test_training.py): the plain CNN, and B2 with its
    # resize-then-crop input; the whole quick run takes 31 s, this one about 20.
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--device", "cpu", "--quick", "--models",
                           "cnn,efficientnet_b2", "--out", str(summary)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(summary.read_text())
    speed = [row for row in result["results"] if row["check"] == "speed"]
    assert [(row["model"], row["image_size"], row["resize"]) for row in speed] == [("cnn", 256, None), ("efficientnet_b2", 224, 260)], \
        "each model at its study resolution"
    assert all(row["train_images_per_s"] > 0 and row["agrees"] for row in speed)
    ddp = [row for row in result["results"] if row["check"] == "ddp"][0]
    assert ddp == {**ddp, "world": 2, "backend": "gloo", "agrees": True}
    assert result["passed"] and result["quick"]


def test_the_blocker_blocks(tmp_path):
    """The test above proves something only if the blocked packages really cannot be imported under it."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    done = subprocess.run([sys.executable, "-c", "import jsonschema"], env={**os.environ, "PYTHONPATH": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "not installed on the GPU machine" in done.stderr


def test_every_shell_script_runs_the_interpreter_it_is_given():
    """scripts/*.sh and benchmarks/*.sh call "$PYTHON" (python3 unless set), so `.venv/bin/python -m pytest` and
    `PYTHON=.venv/bin/python scripts/...` work without activating the environment."""
    scripts = sorted((REPO / "scripts").glob("*.sh")) + sorted((REPO / "benchmarks").glob("*.sh"))
    assert scripts
    for script in scripts:
        code = [line for line in script.read_text().splitlines() if not line.lstrip().startswith("#")]
        bare = [line for line in code if re.search(r'(^|[\s;|&(`])python3?\s', line)]
        assert not bare, f"{script.name} calls python3 from PATH: {bare[0].strip()}"
        if any("$PYTHON" in line for line in code):
            assert any(line.startswith('PYTHON="${PYTHON:-python3}"') for line in code), f"{script.name} never sets PYTHON"
