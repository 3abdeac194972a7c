"""benchmarks/gpu_check.sh keeps working: `--device cpu --quick` runs the GPU check's own code on the CPU, with the
packages the GPU machine lacks made unimportable (it has torch, torchvision, timm, numpy and a few more, not ours)."""
from __future__ import annotations

import json
import os
import subprocess

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
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
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
    done = subprocess.run(["python3", "-c", "import jsonschema"], env={**os.environ, "PYTHONPATH": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "not installed on the GPU machine" in done.stderr
