"""Training: one loop for every model and recipe, on CUDA, Apple MPS or the CPU, alone or under torchrun.

Selection uses validation only (best validation loss); the test split is touched once, after
training, to report metrics. Every epoch leaves a resumable state in the output folder, so an
interrupted run continues where it stopped when started again with the same arguments.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from galaxy_core.classes import CLASS_NAMES
from galaxy_core.data.dataset import Galaxy10Dataset
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.prepared import input_batches
from galaxy_core.data.splits import stratified_split
from galaxy_core.data.transforms import Preprocessing, preprocess
from galaxy_core.errors import UserError
from galaxy_core.evaluation.metrics import compute_metrics
from galaxy_core.fileio import atomic_path, write_json_atomic
from galaxy_core.inference import dataset_logits, softmax
from galaxy_core.models.registry import create_model, preprocessing_for
from galaxy_core.training.checkpoint import save_checkpoint
from galaxy_core.training.recipes import Recipe

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"
PROGRESS_JSON = "progress.json"


def select_device(requested: str = "auto") -> torch.device:
    if requested not in ("auto", "cpu", "cuda", "mps"):
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


@dataclass
class RunState:
    epoch: int = 0  # epochs completed
    history: list[dict] = field(default_factory=list)
    best_val_loss: float = float("inf")
    best_epoch: int = 0
    epochs_without_improvement: int = 0
    seconds: float = 0.0


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    trainable = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(trainable, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    raise UserError(f"Unknown optimizer '{recipe.optimizer}': use adam or adamw.")


def _scheduler(optimizer, recipe: Recipe):
    if recipe.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.cosine_t_max)
    if recipe.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=recipe.plateau_factor, patience=recipe.plateau_patience)
    if recipe.scheduler == "none":
        return None
    raise UserError(f"Unknown scheduler '{recipe.scheduler}': use none, cosine or plateau.")


# ----- resumable state: tensors in safetensors, the rest in JSON (nothing is ever unpickled) ----
def _save_state(out: Path, model, optimizer, scheduler, state: RunState, best: dict, identity: dict) -> None:
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


def _load_state(out: Path, model, optimizer, scheduler, identity: dict) -> tuple[RunState, dict] | None:
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


def _write_progress(out: Path, **fields) -> None:
    write_json_atomic(out / PROGRESS_JSON, {"updated": time.time(), **fields})


def _batch_reporter(out: Path, epoch: int, epochs: int, history: list[dict], progress):
    """Per batch: the caller's callback, and progress.json at most every 2 s (the dashboard reads it)."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        if progress:
            progress(f"epoch {epoch}/{epochs}", done, total)
        if time.monotonic() - last[0] > 2.0 or done == total:
            last[0] = time.monotonic()
            _write_progress(out, state="running", epoch=epoch - 1, epochs=epochs, batch=done, batches=total, history=history)

    return report


class _ValidationBatches:
    """(images, labels) batches of this process's share of the validation images, through the prepared-image cache.

    Validation sees the same images every epoch, so they are decoded once, in the first epoch, and read
    back from the cache afterwards (the final validation score reads it too). Under torchrun each
    process takes every `world`-th image: no image is counted twice, unlike DistributedSampler's padding.
    """

    def __init__(self, data: Galaxy10, indices: np.ndarray, spec: Preprocessing, batch_size: int):
        self.data, self.indices, self.spec, self.batch_size = data, indices, spec, batch_size

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self):
        labels = torch.from_numpy(self.data.labels[self.indices].astype(np.int64))
        start = 0
        for images in input_batches(self.data, self.indices, self.spec, self.batch_size):
            yield images, labels[start : start + len(images)]
            start += len(images)


# ----- the loop --------------------------------------------------------------------------------
def _run_epoch(model, loader, spec, device, recipe, optimizer=None, scaler=None, generator=None, max_batches=None,
               on_batch: Callable[[int, int], None] | None = None) -> tuple[float, float, int]:
    """One pass; trains when an optimizer is given. Returns (summed loss, correct, count)."""
    training = optimizer is not None
    model.train(training)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing, reduction="sum")
    amp_dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    core = model.module if hasattr(model, "module") else model
    multitask = recipe.reconstruction_weight > 0 and getattr(core, "multitask", False)
    total_loss, correct, count = 0.0, 0.0, 0
    batches = len(loader) if max_batches is None else min(len(loader), max_batches)
    for step, (images, labels) in enumerate(loader):
        if step >= batches:
            break
        labels = labels.to(device, non_blocking=True)
        x = preprocess(images, spec, augment=training and recipe.augment, generator=generator, device=device)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.set_grad_enabled(training), torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=device.type == "cuda"):
            if multitask:  # through the (DDP) wrapper's forward, so gradients are synchronised
                logits, reconstruction = model(x, with_reconstruction=True)
                mse = nn.functional.mse_loss(reconstruction.float(), x.float())
                loss_sum = criterion(logits.float(), labels) + recipe.reconstruction_weight * len(labels) * mse
            else:
                logits = model(x)
                loss_sum = criterion(logits.float(), labels)
        if training:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_sum / len(labels)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if recipe.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
        total_loss += float(loss_sum.detach())
        correct += float((logits.argmax(dim=1) == labels).sum())
        count += len(labels)
        if on_batch:
            on_batch(step + 1, batches)
    return total_loss, correct, count


def train(recipe: Recipe, data_path: str | Path, out: str | Path, device: str = "auto", workers: int | None = None,
          max_batches: int | None = None, progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Train `recipe.model` on a Galaxy10 file; write the checkpoint folder `out`; return its metadata.

    `max_batches` caps batches per epoch (a debug setting that makes a full run take seconds).
    """
    out = Path(out)
    data = Galaxy10(data_path)
    split = stratified_split(data.labels, recipe.split, recipe.seed)
    if min(split.sizes().values()) == 0:
        raise UserError(f"{data.path} has too few images for a {recipe.split} split with every part non-empty: use a bigger file.")
    torch_device = select_device(device)
    ddp = Distributed.start(torch_device)
    torch.manual_seed(recipe.seed + ddp.rank)
    np.random.seed(recipe.seed + ddp.rank)
    spec = preprocessing_for(recipe)
    model = create_model(recipe.model, recipe).to(torch_device)
    if torch_device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = _optimizer(model, recipe)
    scheduler = _scheduler(optimizer, recipe)
    identity = {"recipe": recipe.to_dict(), "data": data.fingerprint(), "split": split.digest(), "max_batches": max_batches,
                "world": ddp.world}
    resumed = _load_state(out, model, optimizer, scheduler, identity) if out.exists() else None
    state, best = resumed if resumed else (RunState(), {})
    if ddp.active:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[torch_device.index] if torch_device.type == "cuda" else None)
    scaler = torch.amp.GradScaler("cuda") if torch_device.type == "cuda" and not torch.cuda.is_bf16_supported() else None

    if workers is None:  # on the CPU the model already uses every core: loader processes only compete (and take seconds to spawn)
        workers = 0 if torch_device.type == "cpu" else min(4, os.cpu_count() or 1)
    loader_options = {"batch_size": recipe.batch_size, "num_workers": workers, "pin_memory": torch_device.type == "cuda",
                      "persistent_workers": workers > 0, "multiprocessing_context": "spawn" if workers > 0 else None}
    train_set = Galaxy10Dataset(data, split.train)
    shuffle_generator = torch.Generator().manual_seed(recipe.seed)
    train_sampler = DistributedSampler(train_set, shuffle=True, seed=recipe.seed) if ddp.active else RandomSampler(train_set, generator=shuffle_generator)
    train_loader = DataLoader(train_set, sampler=train_sampler, drop_last=False, **loader_options)
    val_batches = _ValidationBatches(data, split.val[ddp.rank :: ddp.world], spec, recipe.batch_size)
    augment_generator = torch.Generator().manual_seed(recipe.seed + 1000 * ddp.rank)

    if ddp.main:
        out.mkdir(parents=True, exist_ok=True)
        _write_progress(out, state="running", epoch=state.epoch, epochs=recipe.epochs, history=state.history)
    started = time.perf_counter() - state.seconds
    while state.epoch < recipe.epochs:
        epoch = state.epoch + 1
        if ddp.active:
            train_sampler.set_epoch(epoch)
        shuffle_generator.manual_seed(recipe.seed + epoch)  # the same order after a resume
        augment_generator.manual_seed(recipe.seed + 1000 * ddp.rank + epoch)
        epoch_start = time.perf_counter()
        report = _batch_reporter(out, epoch, recipe.epochs, state.history, progress) if ddp.main else None
        train_sums = ddp.sum(list(_run_epoch(model, train_loader, spec, torch_device, recipe, optimizer, scaler, augment_generator, max_batches, report)))
        # The bare model: shares can differ by a batch, and a no-grad pass needs no DDP synchronisation.
        core = model.module if ddp.active else model
        val_sums = ddp.sum(list(_run_epoch(core, val_batches, spec, torch_device, recipe, max_batches=max_batches)))
        val_loss = val_sums[0] / max(val_sums[2], 1)
        row = {"epoch": epoch, "train_loss": train_sums[0] / max(train_sums[2], 1), "train_accuracy": train_sums[1] / max(train_sums[2], 1),
               "val_loss": val_loss, "val_accuracy": val_sums[1] / max(val_sums[2], 1),
               "learning_rate": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - epoch_start}
        state.history.append(row)
        if scheduler is not None:
            scheduler.step(val_loss) if recipe.scheduler == "plateau" else scheduler.step()
        if val_loss < state.best_val_loss - 1e-7:
            state.best_val_loss, state.best_epoch, state.epochs_without_improvement = val_loss, epoch, 0
            best = {k: v.detach().cpu().clone() for k, v in core.state_dict().items()}
        else:
            state.epochs_without_improvement += 1
        state.epoch = epoch
        state.seconds = time.perf_counter() - started
        stop = recipe.early_stopping_patience is not None and state.epochs_without_improvement >= recipe.early_stopping_patience
        if ddp.main:
            _save_state(out, core, optimizer, scheduler, state, best, identity)
            _write_progress(out, state="running", epoch=epoch, epochs=recipe.epochs, history=state.history)
        if stop:
            break

    core = model.module if ddp.active else model
    core.load_state_dict(best)  # restore the best weights (validation loss), never chosen on test
    meta = None
    if ddp.main:
        smoothing = recipe.label_smoothing or 0.1
        val_logits = dataset_logits(core, data, split.val, spec, torch_device, batch_size=recipe.batch_size, workers=0)
        val_metrics = compute_metrics(data.labels[split.val], softmax(val_logits), smoothing=smoothing)
        test_logits = dataset_logits(core, data, split.test, spec, torch_device, batch_size=recipe.batch_size, workers=0)
        test_metrics = compute_metrics(data.labels[split.test], softmax(test_logits), smoothing=smoothing)
        meta = {
            "model": recipe.model,
            "recipe": recipe.to_dict(),
            "classes": list(CLASS_NAMES),
            "preprocessing": spec.to_dict(),
            "weights_source": getattr(core, "weights_source", "random"),
            "data": {"path": str(data.path), "fingerprint": data.fingerprint(), "synthetic": data.is_synthetic, "count": len(data)},
            "split": {**split.describe(), "test_indices": split.test.tolist()},
            "metrics": {"val": val_metrics, "test": test_metrics},
            "history": state.history,
            "best_epoch": state.best_epoch,
            "epochs_run": state.epoch,
            "stopped_early": state.epoch < recipe.epochs,
            "max_batches_per_epoch": max_batches,
            "training_seconds": round(state.seconds, 1),
            "device": _device_name(torch_device),
            "processes": ddp.world,
            "torch": torch.__version__,
        }
        save_checkpoint(out, core, meta)
        for name in (STATE_TENSORS, STATE_JSON):
            (out / name).unlink(missing_ok=True)
        _write_progress(out, state="done", epoch=state.epoch, epochs=recipe.epochs, history=state.history)
    if ddp.active:
        dist.barrier()
        dist.destroy_process_group()
    return meta


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
