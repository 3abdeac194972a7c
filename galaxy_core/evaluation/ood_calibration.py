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
from galaxy_core.models.checkpoint import load_checkpoint, update_meta

TRAIN_SAMPLE = 2000


def calibrate_ood(directory: str | Path, data: Galaxy10, device: str = "cpu", train_sample: int = TRAIN_SAMPLE) -> dict:
    """Fit and save `ood.safetensors` beside the checkpoint (its weights as shipped); return meta.json's new `ood` entry."""
    model, meta = load_checkpoint(directory, device)
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    split, cross = checkpoint_split(meta, data)
    if cross:
        raise UserError(f"{data.path} is not the file {Path(directory).name} was trained on ({meta['data']['path']}): "
                        "OOD scores are fitted on the model's own training data; pass that file with --data.")
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
             "train_images": int(len(train)), "val_images": int(len(split.val)), "test_flagged": test_flagged,
             "method": f"max of (min class Mahalanobis distance of {COMPONENTS}-component PCA-whitened features, "
                       f"pixel-statistics distance), each over its validation {QUANTILE:g}th percentile"}
    update_meta(directory, ood=entry)
    return entry
