"""torchrun's environment, if any: DDP set-up, and sums of per-process figures."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
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
