"""How much a checkpoint load raises the process's peak memory, for each demo checkpoint.

    python benchmarks/bench_checkpoint_load.py [--with-float32-copy]

Each checkpoint loads in a fresh process (after the model libraries are imported) and the rise of
VmHWM is reported. `--with-float32-copy` loads as the previous version did, converting the whole
float16 state dict to float32 before `load_state_dict`, to show what that copy cost.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys
import torch, torchvision, timm  # noqa: F401  (the libraries' own memory is not the load's)
from galaxy_core.models.checkpoint import load_checkpoint

def peak_mb():
    return [int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmHWM")][0]

if sys.argv[2] == "copy":
    plain = torch.nn.Module.load_state_dict
    def load_with_copy(self, state, *args, **kwargs):
        own = self.state_dict()
        return plain(self, {key: value.to(own[key].dtype) for key, value in state.items()}, *args, **kwargs)
    torch.nn.Module.load_state_dict = load_with_copy
before = peak_mb()
model, _ = load_checkpoint(sys.argv[1])
print(json.dumps({"parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
                  "peak_rise_mb": round(peak_mb() - before, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--with-float32-copy", action="store_true")
    args = parser.parse_args()
    for folder in sorted(p.parent for p in (REPO / "checkpoints").glob("*/meta.json")):
        result = subprocess.run([sys.executable, "-c", CHILD, str(folder), "copy" if args.with_float32_copy else "direct"],
                                cwd=REPO, check=True, capture_output=True, text=True)
        print(json.dumps({"benchmark": "checkpoint_load", "checkpoint": folder.name,
                          "float32_copy": args.with_float32_copy, **json.loads(result.stdout)}))


if __name__ == "__main__":
    main()
