"""A training run's files beside its checkpoint: the resumable state and the live progress file.

The state holds tensors in safetensors and the rest in JSON (nothing is ever unpickled); it is
rewritten after every epoch and removed when the run finishes. `progress.json` is what the
dashboard follows.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from galaxy_core.fileio import atomic_path, write_json_atomic

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"
PROGRESS_JSON = "progress.json"


@dataclass
class RunState:
    epoch: int = 0  # epochs completed
    history: list[dict] = field(default_factory=list)
    best_val_loss: float = float("inf")
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    seconds: float = 0.0
    steps: int = 0  # training steps (optimizer updates) taken


def save_state(out: Path, model, optimizer, scheduler, state: RunState, best: dict, identity: dict) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"best.{k}": v for k, v in best.items()})
    optim = optimizer.state_dict()
    optim_json = {"param_groups": optim["param_groups"], "state": {}}
    for pid, slots in optim["state"].items():
        optim_json["state"][str(pid)] = {}
        for key, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                optim_json["state"][str(pid)][key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    with atomic_path(out / STATE_TENSORS) as tmp:
        save_file(tensors, str(tmp))
    write_json_atomic(out / STATE_JSON, {
        "identity": identity,
        "run": state.__dict__,
        "optimizer": optim_json,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
    })


def load_state(out: Path, model, optimizer, scheduler, identity: dict) -> tuple[RunState, dict] | None:
    """The saved state if it belongs to this very run (same recipe, data and split), else None."""
    if not (out / STATE_JSON).exists() or not (out / STATE_TENSORS).exists():
        return None
    try:
        saved = json.loads((out / STATE_JSON).read_text())
        tensors = load_file(str(out / STATE_TENSORS))
    except Exception:  # a state cut short by a crash: start again rather than fail
        return None
    if saved.get("identity") != identity:
        return None
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    optim = saved["optimizer"]
    state_dict = {"param_groups": optim["param_groups"], "state": {}}
    for pid, slots in optim["state"].items():
        state_dict["state"][int(pid)] = dict(slots)
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, pid, slot = key.split(".", 2)
            state_dict["state"].setdefault(int(pid), {})[slot] = value
    optimizer.load_state_dict(state_dict)
    if scheduler is not None and saved.get("scheduler"):
        scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    best = {k[len("best."):]: v for k, v in tensors.items() if k.startswith("best.")}
    return RunState(**saved["run"]), best


def write_progress(out: Path, **fields) -> None:
    write_json_atomic(out / PROGRESS_JSON, {"updated": time.time(), **fields})


def mark_stopped(out: Path, state: str, reason: str) -> None:
    """Record that a run stopped ("interrupted" or "failed"), keeping its epochs and history."""
    try:
        progress = json.loads((out / PROGRESS_JSON).read_text())
    except (OSError, ValueError):
        return  # the run never started writing: nothing claims it is running
    if progress.get("state") == "running":
        progress.pop("updated", None)
        write_progress(out, **{**progress, "state": state, "reason": reason})
