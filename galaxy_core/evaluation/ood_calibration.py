"""Fit a checkpoint's out-of-distribution scores (`inference/ood.py`) on the data it was trained on:
features and pixel statistics of up to 2,000 training images, thresholds at the 99th percentile of
the validation split, and the share of test images flagged, recorded in meta.json. One pass per image
set through the prepared-image cache gives both (after training, validation and test come from it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.evaluation.embeddings import feature_batches
from galaxy_core.evaluation.evaluate import checkpoint_split
from galaxy_core.inference.ood import COMPONENTS, QUANTILE, fit_ood, image_statistics
from galaxy_core.models.checkpoint import load_checkpoint, read_meta, update_meta
from galaxy_core.settings import REPO_ROOT

TRAIN_SAMPLE = 2000


def calibrate_ood(directory: str | Path, data: Galaxy10, device: str = "cpu", train_sample: int = TRAIN_SAMPLE) -> dict:
    """Fit and save `ood.safetensors` beside the checkpoint (its weights as shipped); return meta.json's new `ood` entry."""
    model, meta = load_checkpoint(directory, device)
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    split, fitted_on = _training_split(directory, meta, data)
    train = np.sort(np.random.default_rng(0).choice(split.train, min(train_sample, len(split.train)), replace=False))
    torch_device = torch.device(device)

    def features_and_statistics(indices) -> tuple[np.ndarray, np.ndarray]:
        features, statistics = [], []
        for images, batch_features in feature_batches(model, data, indices, preprocessing, torch_device):
            features.append(batch_features)
            statistics.append(image_statistics(images))  # per batch: the images themselves are not kept
        return np.concatenate(features), np.concatenate(statistics)

    train_features, train_statistics = features_and_statistics(train)
    val_features, val_statistics = features_and_statistics(split.val)
    ood = fit_ood(train_features, data.labels[train], val_features, train_statistics, val_statistics)
    test_flagged = float(np.mean(ood.scores(*features_and_statistics(split.test)) > 1.0)) if len(split.test) else None
    entry = {"file": "ood.safetensors", "sha256": ood.save(directory), "quantile": QUANTILE, "components": int(len(ood.scale)),
             "train_images": int(len(train)), "val_images": int(len(split.val)), "test_flagged": test_flagged, "fitted_on": fitted_on,
             "method": f"max of (min class Mahalanobis distance of {COMPONENTS}-component PCA-whitened features, "
                       f"pixel-statistics distance), each over its validation {QUANTILE:g}th percentile"}
    update_meta(directory, ood=entry)
    return entry


def _training_split(directory: str | Path, meta: dict, data: Galaxy10):
    """`data`'s split as the checkpoint saw it, and what the file was to the model: its own training file, or,
    for a checkpoint fine-tuned from another (recipe.init), that one's training file, where its features were
    learned (a few dozen fine-tuning images cannot set a 99th percentile)."""
    split, cross = checkpoint_split(meta, data)
    if not cross:
        return split, "its own training file"
    init = meta["recipe"].get("init")
    base = next((Path(p) for p in (init, REPO_ROOT / str(init)) if init and (Path(p) / "meta.json").is_file()), None)
    if base is not None:
        split, cross = checkpoint_split(read_meta(base), data)
        if not cross:
            return split, f"the training file of {base.name}, which it was fine-tuned from"
    raise UserError(f"{data.path} is not the file {Path(directory).name} (or the checkpoint it was fine-tuned from) was trained on "
                    f"({meta['data']['path']}): OOD scores are fitted on the model's own training data; pass that file with --data.")
