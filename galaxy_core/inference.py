"""Logits and probabilities for dataset images or decoded uploads, through the one preprocessing path."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.prepared import input_batches
from galaxy_core.data.transforms import Preprocessing, preprocess
from galaxy_core.errors import UserError

# Held while a model that may be shared between threads (the dashboard's) runs: Grad-CAM hooks a
# model's layers, and another thread's forward pass through them would mix into its activations.
MODEL_LOCK = threading.RLock()


def dihedral_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 rotations by 90° and their mirror images: exact, loss-free test-time augmentation."""
    views = []
    for flipped in (x, torch.flip(x, dims=(-1,))):
        views += [torch.rot90(flipped, k, dims=(-2, -1)) for k in range(4)]
    return views


@torch.no_grad()
def batch_logits(model: nn.Module, images, spec: Preprocessing, device: torch.device, tta: bool = False) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> logits (N, 10) on the CPU; with `tta`, the mean of the 8 views' logits."""
    x = preprocess(images, spec, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        if tta:
            logits = torch.stack([model(view) for view in dihedral_views(x)]).float().mean(dim=0)
        else:
            logits = model(x).float()
    return logits.cpu()


def dataset_logits(model: nn.Module, data: Galaxy10, indices: np.ndarray, spec: Preprocessing, device: torch.device,
                   batch_size: int = 64, tta: bool = False, workers: int = 0, cache: bool = True,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Logits for the given images, in the given order (decoded once, then from the prepared-image cache)."""
    model.eval()
    out, done = [], 0
    for images in input_batches(data, indices, spec, batch_size, workers, cache):
        out.append(batch_logits(model, images, spec, device, tta))
        done += len(images)
        if progress:
            progress(done, len(indices))
    return torch.cat(out).numpy() if out else np.empty((0, 10), np.float32)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature scaling: the single T minimising validation NLL (Guo et al. 2017)."""
    z = torch.tensor(logits, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure():
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(log_t.exp().item())


class Predictor:
    """Checkpoint(s) in, probabilities out: one model, or several combined by an ensemble rule."""

    def __init__(self, checkpoints: list, rule: str | None = None, device: str = "cpu",
                 load: Callable[[str], tuple[nn.Module, dict]] | None = None):
        """`load(directory) -> (model, meta)` lets a caller share models it already holds (the dashboard does)."""
        from galaxy_core.training.checkpoint import load_checkpoint

        if not checkpoints:
            raise UserError("No checkpoint given: pass --checkpoint DIR, or --ensemble RULE --checkpoints DIR DIR.")
        if len(checkpoints) > 1 and rule is None:
            raise UserError("Several checkpoints need an ensemble rule: add --ensemble agreement|soft|f1_weighted.")
        self.device = torch.device(device)
        self.rule = rule
        self.members = []
        for directory in checkpoints:
            model, meta = load(str(directory)) if load else load_checkpoint(directory, self.device)
            self.members.append((Path(directory).name, model, meta, Preprocessing.from_dict(meta["preprocessing"])))
        from galaxy_core.evaluation.ensemble import preferences

        self.preferred, self.val_f1 = preferences([m[2].get("metrics", {}).get("val") for m in self.members])

    def predict(self, images: np.ndarray) -> list[dict]:
        """uint8 (N, 256, 256, 3) -> per image: label, class, confidence, probabilities, source, members."""
        from galaxy_core.classes import CLASS_NAMES
        from galaxy_core.evaluation.ensemble import combine

        with MODEL_LOCK:  # the members may be shared with Grad-CAM, whose hooks must see only its own pass
            probabilities = [softmax(batch_logits(model, images, spec, self.device).numpy()) for _, model, _, spec in self.members]
        names = [m[0] for m in self.members]
        if len(self.members) == 1:
            final, labels, confidence, source = probabilities[0], probabilities[0].argmax(1), probabilities[0].max(1), [names[0]] * len(images)
        else:
            if self.rule == "f1_weighted" and any(f is None for f in self.val_f1):
                raise UserError("f1_weighted needs validation metrics in every checkpoint's meta.json: retrain with this version.")
            out = combine(self.rule, probabilities, names, self.preferred, self.val_f1)
            final, labels, confidence, source = out.probabilities, out.labels, out.confidence, out.source
        results = []
        for i in range(len(images)):
            results.append({
                "label": int(labels[i]), "class": CLASS_NAMES[int(labels[i])], "confidence": float(confidence[i]),
                "source": source[i], "probabilities": {c: float(p) for c, p in zip(CLASS_NAMES, final[i])},
                "members": {name: {"label": int(p[i].argmax()), "class": CLASS_NAMES[int(p[i].argmax())], "confidence": float(p[i].max())}
                            for name, p in zip(names, probabilities)},
            })
        return results


@torch.no_grad()
def reconstructions(model: nn.Module, images, spec: Preprocessing, device: torch.device | str = "cpu") -> np.ndarray:
    """The autoencoder's reconstructions of uint8 images, as uint8 (N, S, S, 3) images to look at."""
    if not getattr(model, "multitask", False):
        raise UserError("Only the autoencoder reconstructs images: choose an autoencoder checkpoint.")
    model.eval()
    _, rebuilt = model(preprocess(images, spec, device=device), with_reconstruction=True)
    return (rebuilt.clamp(0, 1) * 255 + 0.5).byte().permute(0, 2, 3, 1).cpu().numpy()
