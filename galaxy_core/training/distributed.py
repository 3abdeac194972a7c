"""torchrun's environment, if any: DDP set-up, and sums of per-process figures."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


BACKEND_ENV = "GALAXY_DDP_BACKEND"  # nccl or gloo, to override the choice below


def backend(device: torch.device) -> str:
    """NCCL between GPUs, one process each; gloo on the CPU, and where processes share a GPU (NCCL refuses two ranks
    on one device), as a one-GPU machine's two-process check does."""
    chosen = os.environ.get(BACKEND_ENV, "").strip().lower()
    if chosen:
        return chosen
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    return "nccl" if device.type == "cuda" and local_world <= torch.cuda.device_count() else "gloo"


@dataclass
class Distributed:
    """torchrun's environment, if any: rank 0 alone writes files and prints."""

    rank: int = 0
    world: int = 1
    active: bool = False

    @classmethod
    def start(cls, device: torch.device) -> "Distributed":
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls()
        if device.type == "cuda":  # before NCCL starts: otherwise every process's collectives use GPU 0
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend=backend(device))
        return cls(dist.get_rank(), dist.get_world_size(), True)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        if not self.active:
            return values
        tensor = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(tensor)
        return tensor.tolist()
