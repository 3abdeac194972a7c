"""Paths and settings, in one place: the repository root, the cache and checkpoint roots, the
environment variables that move them, and the choice of device."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from galaxy_core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]

DATA_ENV = "GALAXY10_H5"  # the Galaxy10 file to use when none is given
CACHE_ENV = "GALAXY_CORE_CACHE"  # the cache folder (default dataset, prepared images)
CHECKPOINTS_ENV = "GALAXY_CHECKPOINTS"  # the checkpoints root
DEFAULT_N_ENV = "GALAXY10_DEFAULT_N"  # size of the default synthetic dataset (tests, quick demos)
DEVICES = ("auto", "cpu", "cuda", "mps")


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "galaxy_core")


def checkpoints_root() -> Path:
    """Where trained models live: $GALAXY_CHECKPOINTS, else the repository's checkpoints/ (absolute,
    so the CLI, the dashboard and background runs agree whatever their working directory)."""
    return Path(os.environ.get(CHECKPOINTS_ENV) or REPO_ROOT / "checkpoints").expanduser()


def select_device(requested: str = "auto") -> torch.device:
    if requested not in DEVICES:
        raise UserError(f"Unknown device '{requested}': use auto, cpu, cuda or mps.")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but PyTorch sees no CUDA GPU here: use --device auto or cpu.")
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "mps" and not mps:
        raise UserError("--device mps was asked for, but Apple's MPS is not available here: use --device auto or cpu.")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    if requested == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(requested)


def device_name(device: torch.device) -> str:
    """What a checkpoint records as the machine it was trained on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
