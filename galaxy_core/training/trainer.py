"""Training: one loop for every model and recipe, on CUDA, Apple MPS or the CPU, alone or under torchrun.

Selection uses validation only (best validation loss); the test split is touched once, after
training, to report metrics. Every epoch leaves a resumable state in the output folder, so an
interrupted run continues where it stopped when started again with the same arguments.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from galaxy_core.classes import CLASS_NAMES
from galaxy_core.data.check_set import check_set_matches
from galaxy_core.data.dataset import Galaxy10Dataset
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.prepared import input_batches
from galaxy_core.data.splits import stratified_split
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.data.labelled_images import real_sample
from galaxy_core.evaluation.folders import folder_predictions
from galaxy_core.evaluation.metrics import compute_metrics, kl_smoothing
from galaxy_core.evaluation.ood_calibration import fit_checkpoint_ood
from galaxy_core.fileio import write_json_atomic
from galaxy_core.inference.predictor import Predictor
from galaxy_core.inference.logits import dataset_logits, softmax
from galaxy_core.models.checkpoint import META_FILE, as_shipped, save_weights, start_from_checkpoint
from galaxy_core.models.meta_schema import check_meta
from galaxy_core.models.recipe import Recipe
from galaxy_core.models.registry import create_model, preprocessing_for
from galaxy_core.settings import device_name, portable_record, select_device
from galaxy_core.training.distributed import Distributed
from galaxy_core.training.optim import build_optimizer, build_scheduler
from galaxy_core.training.steps import run_epoch
from galaxy_core.training.run_state import STATE_JSON, STATE_TENSORS, RunState, load_state, mark_stopped, save_state, write_progress


def _batch_reporter(out: Path, epoch: int, epochs: int, history: list[dict], progress):
    """Per batch: the caller's callback, and progress.json at most every 2 s (the dashboard reads it)."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        if progress:
            progress(f"epoch {epoch}/{epochs}", done, total)
        if time.monotonic() - last[0] > 2.0 or done == total:
            last[0] = time.monotonic()
            write_progress(out, state="running", epoch=epoch - 1, epochs=epochs, batch=done, batches=total, history=history)

    return report


class _ValidationBatches:
    """(images, labels) batches of this process's share of the validation images, through the prepared-image cache.

    Validation sees the same images every epoch, so they are decoded once, in the first epoch, and read
    back from the cache afterwards (the final validation score reads it too). Under torchrun each
    process takes every `world`-th image: no image is counted twice, unlike DistributedSampler's padding.
    """

    def __init__(self, data: Galaxy10, indices: np.ndarray, preprocessing: Preprocessing, batch_size: int):
        self.data, self.indices, self.preprocessing, self.batch_size = data, indices, preprocessing, batch_size

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self):
        labels = torch.from_numpy(self.data.labels[self.indices].astype(np.int64))
        start = 0
        for images in input_batches(self.data, self.indices, self.preprocessing, self.batch_size):
            yield images, labels[start : start + len(images)]
            start += len(images)


@dataclass(frozen=True)
class Limits:
    """What caps a run: `max_batches` per epoch, training and validation (a debug setting that makes a full run take
    seconds); `max_steps` training steps in all (validation and test stay whole: a smoke test of a study at full
    scale). `keep_check_set`: train on real check-set galaxies found in the file (deliberate few-shot tuning, scored by
    cross-validation) instead of leaving them out of the training and validation parts."""

    max_batches: int | None = None
    max_steps: int | None = None
    keep_check_set: bool = False

    def identity(self) -> dict:
        return {"max_batches": self.max_batches, **({"max_steps": self.max_steps} if self.max_steps else {})}


def train(recipe: Recipe, data_path: str | Path, out: str | Path, device: str = "auto", workers: int | None = None,
          max_batches: int | None = None, progress: Callable[[str, int, int], None] | None = None,
          max_steps: int | None = None, keep_check_set: bool = False) -> dict:
    """Train `recipe.model` on a Galaxy10 file; write the checkpoint folder `out`; return its metadata (`Limits` says
    what `max_batches`, `max_steps` and `keep_check_set` do).

    A run that stops early (an error, Ctrl-C, a cancel) leaves `progress.json` saying so, never "running".
    """
    try:
        return _train(recipe, data_path, Path(out), device, workers, Limits(max_batches, max_steps, keep_check_set), progress)
    except BaseException as exc:
        mark_stopped(Path(out), "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                     str(exc).splitlines()[0][:300] if isinstance(exc, UserError) else type(exc).__name__)
        raise


@dataclass
class _Run:
    """What one training run holds between its steps."""

    model: nn.Module  # wrapped in DDP where several processes train
    core: nn.Module  # the bare model
    optimizer: torch.optim.Optimizer
    scheduler: object
    scaler: object
    state: RunState
    best: dict
    identity: dict
    preprocessing: Preprocessing


def _prepare(recipe: Recipe, data: Galaxy10, split, out: Path, torch_device: torch.device, ddp: Distributed, limits: Limits) -> _Run:
    """The model, optimizer and schedule, resumed from `out` where an interrupted run of the same recipe left them."""
    torch.manual_seed(recipe.seed + ddp.rank)
    np.random.seed(recipe.seed + ddp.rank)
    model = create_model(recipe.model, recipe)
    if recipe.init:
        start_from_checkpoint(model, recipe.init, recipe.trainable)
    model = model.to(torch_device)
    if torch_device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, recipe)
    scheduler = build_scheduler(optimizer, recipe)
    identity = {"recipe": recipe.to_dict(), "data": data.fingerprint(), "split": split.digest(), **limits.identity(), "world": ddp.world}
    resumed = load_state(out, model, optimizer, scheduler, identity) if out.exists() else None
    state, best = resumed if resumed else (RunState(), {})
    core = model
    if ddp.active:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[torch_device.index] if torch_device.type == "cuda" else None)
    scaler = torch.amp.GradScaler("cuda") if torch_device.type == "cuda" and not torch.cuda.is_bf16_supported() else None
    return _Run(model, core, optimizer, scheduler, scaler, state, best, identity, preprocessing_for(recipe))


def _loaders(recipe: Recipe, data: Galaxy10, split, preprocessing: Preprocessing, torch_device: torch.device, ddp: Distributed,
             workers: int | None):
    """The shuffled training loader (its sampler and generator, re-seeded per epoch) and this process's validation batches."""
    if workers is None:  # on the CPU the model already uses every core: loader processes only compete (and take seconds to spawn)
        workers = 0 if torch_device.type == "cpu" else min(4, os.cpu_count() or 1)
    options = {"batch_size": recipe.batch_size, "num_workers": workers, "pin_memory": torch_device.type == "cuda",
               "persistent_workers": workers > 0, "multiprocessing_context": "spawn" if workers > 0 else None}
    train_set = Galaxy10Dataset(data, split.train)
    shuffle = torch.Generator().manual_seed(recipe.seed)
    sampler = DistributedSampler(train_set, shuffle=True, seed=recipe.seed) if ddp.active else RandomSampler(train_set, generator=shuffle)
    loader = DataLoader(train_set, sampler=sampler, drop_last=False, **options)
    val_batches = _ValidationBatches(data, split.val[ddp.rank :: ddp.world], preprocessing, recipe.batch_size)
    return loader, sampler, shuffle, val_batches


def _epoch(run: _Run, recipe: Recipe, epoch: int, loaders, torch_device, ddp: Distributed, augment, limits: Limits, report) -> dict:
    """One epoch of training and validation; returns its history row (the learning rate schedule steps after it), with
    the training pass's images, seconds and the seconds it waited for the data loader."""
    loader, _, _, val_batches = loaders
    caps = [cap for cap in (limits.max_batches, limits.max_steps and limits.max_steps - run.state.steps) if cap is not None]
    timing = {}
    train_sums = ddp.sum(list(run_epoch(run.model, loader, run.preprocessing, torch_device, recipe, run.optimizer, run.scaler, augment,
                                        min(caps) if caps else None, report, timing)))
    run.state.steps += -(-timing["images"] // recipe.batch_size)
    # The bare model: shares can differ by a batch, and a no-grad pass needs no DDP synchronisation.
    val_sums = ddp.sum(list(run_epoch(run.core, val_batches, run.preprocessing, torch_device, recipe, max_batches=limits.max_batches)))
    val_loss = val_sums[0] / max(val_sums[2], 1)
    if run.scheduler is not None:
        run.scheduler.step(val_loss) if recipe.scheduler == "plateau" else run.scheduler.step()
    return {"epoch": epoch, "train_loss": train_sums[0] / max(train_sums[2], 1), "train_accuracy": train_sums[1] / max(train_sums[2], 1),
            "val_loss": val_loss, "val_accuracy": val_sums[1] / max(val_sums[2], 1), "learning_rate": run.optimizer.param_groups[0]["lr"],
            "train_images": int(train_sums[2]), "train_seconds": timing["seconds"], "loader_seconds": timing["loader_seconds"]}


def _run_epochs(run: _Run, recipe: Recipe, out: Path, loaders, torch_device, ddp: Distributed, limits: Limits, progress) -> None:
    """Epochs until the recipe's count or early stopping, keeping the best weights (validation loss) and saving the
    resumable state after each."""
    _, sampler, shuffle, _ = loaders
    state = run.state
    augment = torch.Generator().manual_seed(recipe.seed + 1000 * ddp.rank)
    if ddp.main:
        out.mkdir(parents=True, exist_ok=True)
        write_progress(out, state="running", epoch=state.epoch, epochs=recipe.epochs, history=state.history)
    started = time.perf_counter() - state.seconds
    while state.epoch < recipe.epochs and not (limits.max_steps and state.steps >= limits.max_steps):
        epoch = state.epoch + 1
        if ddp.active:
            sampler.set_epoch(epoch)
        shuffle.manual_seed(recipe.seed + epoch)  # the same order after a resume
        augment.manual_seed(recipe.seed + 1000 * ddp.rank + epoch)
        epoch_start = time.perf_counter()
        report = _batch_reporter(out, epoch, recipe.epochs, state.history, progress) if ddp.main else None
        row = _epoch(run, recipe, epoch, loaders, torch_device, ddp, augment, limits, report)
        state.history.append({**row, "seconds": time.perf_counter() - epoch_start})
        if row["val_loss"] < state.best_val_loss - 1e-7:
            state.best_val_loss, state.best_epoch, state.epochs_without_improvement = row["val_loss"], epoch, 0
            run.best = {k: v.detach().cpu().clone() for k, v in run.core.state_dict().items()}
        else:
            state.epochs_without_improvement += 1
        state.epoch = epoch
        state.seconds = time.perf_counter() - started
        if ddp.main:
            save_state(out, run.core, run.optimizer, run.scheduler, state, run.best, run.identity)
            write_progress(out, state="running", epoch=epoch, epochs=recipe.epochs, history=state.history)
        if recipe.early_stopping_patience is not None and state.epochs_without_improvement >= recipe.early_stopping_patience:
            break


def _finish(run: _Run, recipe: Recipe, data: Galaxy10, split, out: Path, torch_device, ddp: Distributed, limits: Limits,
            check_set: dict) -> dict:
    """Score the best weights once on validation and test, write the weights, fit the OOD scores and score the real check
    set on the weights as shipped, then write meta.json once, with all of it."""
    core = run.core
    smoothing = kl_smoothing(recipe.to_dict())
    stages = _Stages(check_set.pop("seconds"))
    scored = {part: compute_metrics(data.labels[indices], softmax(dataset_logits(core, data, indices, run.preprocessing, torch_device,
                                                                                 batch_size=recipe.batch_size, workers=0)),
                                    smoothing=smoothing)
              for part, indices in (("val", split.val), ("test", split.test))}
    stages.done("final_scores")
    state = run.state
    meta = {
        "model": recipe.model, "recipe": recipe.to_dict(), "classes": list(CLASS_NAMES), "preprocessing": run.preprocessing.to_dict(),
        # fine-tuning builds the model without weights, then copies the checkpoint's in
        "weights_source": f"checkpoint {recipe.init}" if recipe.init else getattr(core, "weights_source", "random"),
        "data": {"path": str(data.path), "fingerprint": data.fingerprint(), "synthetic": data.is_synthetic, "count": len(data),
                 "pxscale": data.typical_pxscale(), **check_set},
        "split": {**split.describe(), "test_indices": split.test.tolist()},
        "metrics": scored, "history": state.history, "best_epoch": state.best_epoch, "epochs_run": state.epoch,
        "stopped_early": state.epoch < recipe.epochs, "max_batches_per_epoch": limits.max_batches, "max_steps": limits.max_steps,
        "steps": state.steps, "training_seconds": round(state.seconds, 1), "device": device_name(torch_device), "processes": ddp.world,
        "torch": torch.__version__,
    }
    meta.update(save_weights(out, core))
    shipped = as_shipped(core).to(torch_device)  # measured on the weights as they ship (float16), without reading the file back
    stages.done("weights")
    meta["ood"] = fit_checkpoint_ood(shipped, meta, out, data, device=str(torch_device))
    stages.done("ood_fit")
    if not check_set["real_check_set_images"]:  # else its figure comes from cross-validation (benchmarks/real_finetune_cv.py)
        folder = real_sample()
        member = folder_predictions(Predictor([out], device=str(torch_device), load=lambda _: (shipped, meta)), folder)[0]
        meta["metrics"]["real_sample"] = {**compute_metrics(folder.labels, member.probabilities, smoothing), "note": folder.note}
        stages.done("real_check_set")
    meta["throughput"] = throughput(state, stages.seconds, torch_device)
    # As read back (tuples are lists in JSON), with no path of this machine in it: relative to the checkpoints root or
    # the project, else a name (datasets are known by their fingerprint).
    meta = check_meta(json.loads(json.dumps(portable_record(meta, out.parent))), str(out / META_FILE))
    write_json_atomic(out / META_FILE, meta)
    for name in (STATE_TENSORS, STATE_JSON):
        (out / name).unlink(missing_ok=True)
    write_progress(out, state="done", epoch=state.epoch, epochs=recipe.epochs, history=state.history)
    return meta


class _Stages:
    """Wall seconds of each stage after the epochs, in order."""

    def __init__(self, check_set_scan: float):
        self.seconds = {"check_set_scan": round(check_set_scan, 2)}
        self.last = time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self.last, 2)
        self.last = now


def throughput(state: RunState, stages: dict, device: torch.device) -> dict:
    """What the run cost: training images per second (training passes only), the share of that time spent waiting
    for the data loader, the wall seconds of each stage, and the memory peaks (this process's resident set since it
    started, and the GPU's allocations)."""
    import resource

    images = sum(row.get("train_images", 0) for row in state.history)
    seconds = sum(row.get("train_seconds", 0.0) for row in state.history)
    loader = sum(row.get("loader_seconds", 0.0) for row in state.history)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {"train_images": int(images), "train_seconds": round(seconds, 2),
            "train_images_per_s": round(images / seconds, 2) if seconds else None,
            "loader_share": round(loader / seconds, 4) if seconds else None,
            "stage_seconds": {"epochs": round(state.seconds, 2), **stages},
            "peak_memory_mb": round(peak_kb / 1024, 1),
            "peak_gpu_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda" else None}


def _check_set_split(data: Galaxy10, split, keep: bool) -> tuple[object, dict]:
    """The split without the real check-set galaxies found in `data` (unless `keep`), and what meta.json records: the
    indices left out, and how many check-set galaxies the model learned from (its check-set figure is then not
    measured on them)."""
    started = time.perf_counter()
    found = sorted(check_set_matches(data))
    excluded = [] if keep else found
    learned = max(data.real_check_set_images, int(np.isin(found, np.union1d(split.train, split.val)).sum())) if keep else 0
    if excluded and not (len(np.setdiff1d(split.train, excluded)) and len(np.setdiff1d(split.val, excluded))):
        raise UserError(f"{data.path} holds {len(found)} real check-set galaxies, which training leaves out, and too few other images for "
                        "training and validation: add images, or train on them deliberately with --keep-check-set (the check-set "
                        "figure then has to come from cross-validation).")
    record = {"check_set_found": len(found), "check_set_excluded": excluded, "real_check_set_images": learned,
              "seconds": time.perf_counter() - started}
    return split.without(excluded), record


def _train(recipe: Recipe, data_path: str | Path, out: Path, device: str, workers: int | None, limits: Limits,
           progress: Callable[[str, int, int], None] | None) -> dict:
    data = Galaxy10(data_path)
    split = stratified_split(data.labels, recipe.split, recipe.seed)
    if min(split.sizes().values()) == 0:
        raise UserError(f"{data.path} has too few images for a {recipe.split} split with every part non-empty: use a bigger file.")
    split, check_set = _check_set_split(data, split, limits.keep_check_set)
    torch_device = select_device(device)
    ddp = Distributed.start(torch_device)
    run = _prepare(recipe, data, split, out, torch_device, ddp, limits)
    loaders = _loaders(recipe, data, split, run.preprocessing, torch_device, ddp, workers)
    _run_epochs(run, recipe, out, loaders, torch_device, ddp, limits, progress)
    run.core.load_state_dict(run.best)  # restore the best weights (validation loss), never chosen on test
    meta = _finish(run, recipe, data, split, out, torch_device, ddp, limits, check_set) if ddp.main else None
    if ddp.active:
        dist.barrier()
        dist.destroy_process_group()
    return meta
