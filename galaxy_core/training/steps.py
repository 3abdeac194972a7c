"""One pass over batches, training or validating: the step every training run, the benchmarks and the GPU check share.

It imports only torch and the preprocessing, so `benchmarks/gpu_check.py` runs it on a machine with nothing but torch,
torchvision and timm."""
from __future__ import annotations

import time
from typing import Callable

import torch
from torch import nn

from galaxy_core.data.transforms import preprocess


def run_epoch(model, loader, preprocessing, device, recipe, optimizer=None, scaler=None, generator=None, max_batches=None,
               on_batch: Callable[[int, int], None] | None = None, timing: dict | None = None) -> tuple[float, float, int]:
    """One pass; trains when an optimizer is given. Returns (summed loss, correct, count); `timing`, when given, gets the
    pass's seconds, the seconds spent waiting for the loader's batches and the images run."""
    training = optimizer is not None
    model.train(training)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing, reduction="sum")
    amp_dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    core = model.module if hasattr(model, "module") else model
    if training and recipe.trainable == "head":  # a frozen backbone keeps its batch-norm statistics too
        core.eval()
        core.get_submodule(core.head_name).train()
    multitask = recipe.reconstruction_weight > 0 and getattr(core, "multitask", False)
    total_loss, correct, count = 0.0, 0.0, 0
    batches = len(loader) if max_batches is None else min(len(loader), max_batches)
    started = waited = time.perf_counter()
    waiting = 0.0
    for step, (images, labels) in enumerate(loader):
        waiting += time.perf_counter() - waited
        if step >= batches:
            break
        labels = labels.to(device, non_blocking=True)
        x = preprocess(images, preprocessing, augment=training and recipe.augment, generator=generator, device=device,
                       look=recipe.look_augment)
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
        waited = time.perf_counter()
    if timing is not None:
        timing.update(seconds=time.perf_counter() - started, loader_seconds=waiting, images=count)
    return total_loss, correct, count
