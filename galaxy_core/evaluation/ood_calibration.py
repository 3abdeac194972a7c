"""Fit a checkpoint's out-of-distribution scores (`inference/ood.py`) on the data it was trained on:
features and pixel statistics of up to 2,000 training images, thresholds at the 99th percentile of
the validation split, and the share of test images flagged, recorded in meta.json. One pass per image
set through the prepared-image cache gives both (after training, validation and test come from it)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.data.labelled_images import LabelledImages
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.evaluation.embeddings import feature_batches
from galaxy_core.evaluation.evaluate import checkpoint_split
from galaxy_core.evaluation.non_galaxy import non_galaxy_images
from galaxy_core.inference.logits import batch_features_and_logits
from galaxy_core.inference.ood import COMPONENTS, QUANTILE, OodModel, fit_ood, image_statistics, input_statistics, load_ood
from galaxy_core.models.checkpoint import load_checkpoint, read_meta, update_meta
from galaxy_core.settings import REPO_ROOT, checkpoints_root

TRAIN_SAMPLE = 2000
REAL_MARGIN = 1.25  # real thresholds sit this far beyond the farthest real galaxy seen
FOLDS = 5


def calibrate_ood(directory: str | Path, data: Galaxy10, device: str = "cpu", train_sample: int = TRAIN_SAMPLE) -> dict:
    """Fit and save `ood.safetensors` beside the checkpoint (its weights as shipped); record and return meta.json's new `ood` entry."""
    model, meta = load_checkpoint(directory, device)
    entry = fit_checkpoint_ood(model, meta, directory, data, device, train_sample)
    update_meta(directory, ood=entry)
    return entry


def fit_checkpoint_ood(model, meta: dict, directory: str | Path, data: Galaxy10, device: str = "cpu",
                       train_sample: int = TRAIN_SAMPLE) -> dict:
    """Fit a model's OOD scores on its training data and save `ood.safetensors` in `directory`; return the `ood` entry
    for meta.json (the caller records it: training writes meta.json once, at the end)."""
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    split, fitted_on = _training_split(directory, meta, data)
    train = np.sort(np.random.default_rng(0).choice(split.train, min(train_sample, len(split.train)), replace=False))
    torch_device = torch.device(device)  # the one forward pass places the model and sets eval mode

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
    return {"file": "ood.safetensors", "sha256": ood.save(directory), "quantile": QUANTILE, "components": int(len(ood.scale)),
            "train_images": int(len(train)), "val_images": int(len(split.val)), "test_flagged": test_flagged, "fitted_on": fitted_on,
            "method": f"max of (min class Mahalanobis distance of {COMPONENTS}-component PCA-whitened features, "
                      f"pixel-statistics distance), each over its validation {QUANTILE:g}th percentile"}


def _training_split(directory: str | Path, meta: dict, data: Galaxy10):
    """`data`'s split as the checkpoint saw it, and what the file was to the model: its own training file, or,
    for a checkpoint fine-tuned from another (recipe.init), that one's training file, where its features were
    learned (a few dozen fine-tuning images cannot set a 99th percentile)."""
    split, cross = checkpoint_split(meta, data)
    if not cross:
        return split, "its own training file"
    init = meta["recipe"].get("init")
    # recorded relative to the fine-tuned checkpoint's folder, the checkpoints root or the project (or, before, absolute)
    places = (init, Path(directory).parent / str(init), checkpoints_root() / str(init), REPO_ROOT / str(init))
    base = next((Path(p) for p in places if init and (Path(p) / "meta.json").is_file()), None)
    if base is not None:
        split, cross = checkpoint_split(read_meta(base), data)
        if not cross:
            return split, f"the training file of {base.name}, which it was fine-tuned from"
    raise UserError(f"{data.path} is not the file {Path(directory).name} (or the checkpoint it was fine-tuned from) was trained on "
                    f"({meta['data']['path']}): OOD scores are fitted on the model's own training data; pass that file with --data.")


def _distances(model, preprocessing: Preprocessing, ood: OodModel, images: np.ndarray, device: torch.device) -> np.ndarray:
    """(N, 2): each image's feature and pixel distances, before any threshold."""
    features, _ = batch_features_and_logits(model, images, preprocessing, device)
    return np.stack([ood.feature_distance(features), ood.pixel_distance(input_statistics(images, preprocessing))], axis=1)


def _thresholds(real: np.ndarray, synthetic: np.ndarray, margin: float) -> np.ndarray:
    """Per distance: the synthetic threshold, or the farthest real galaxy times the margin where that is larger."""
    return np.maximum(synthetic, real.max(axis=0) * margin)


def fit_real_thresholds(directory: str | Path, folder: LabelledImages, device: str = "cpu", margin: float = REAL_MARGIN,
                        folds: int = FOLDS) -> dict:
    """Raise a calibrated checkpoint's OOD thresholds so that real galaxies (`folder`, the real check set) pass, and
    check that every non-galaxy image is still flagged; record both in meta.json's ood.real_galaxies.

    The flagged share of real galaxies is cross-validated: thresholds fitted on all folds but one, counted on that
    one. A non-galaxy the raised thresholds would let through is an error: the thresholds are then not recorded."""
    model, meta = load_checkpoint(directory, device)
    if not meta.get("ood"):
        raise UserError(f"{Path(directory).name} has no OOD scores to adjust: fit them on its training data first.")
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    ood = load_ood(directory, {**meta, "ood": {**meta["ood"], "real_galaxies": None}})  # the synthetic thresholds alone
    synthetic = np.array([ood.feature_threshold.item(), ood.pixel_threshold.item()])
    torch_device = torch.device(device)
    real = np.concatenate([_distances(model, preprocessing, ood, images, torch_device) for images in folder.batches()])
    others = non_galaxy_images()
    strangers = _distances(model, preprocessing, ood, np.stack(list(others.values())), torch_device)
    thresholds = _thresholds(real, synthetic, margin)
    scores = (strangers / thresholds).max(axis=1)
    if not np.all(scores > 1):
        missed = ", ".join(name for name, score in zip(others, scores) if score <= 1)
        raise UserError(f"Thresholds that let the real galaxies of {folder.name} through would also pass {missed}: "
                        f"{Path(directory).name}'s OOD scores keep their synthetic thresholds.")
    fold_of = np.arange(len(real)) % folds
    flagged = sum(int(((real[fold_of == k] / _thresholds(real[fold_of != k], synthetic, margin)).max(axis=1) > 1).sum())
                  for k in range(folds))
    before = float(((real / synthetic).max(axis=1) > 1).mean())
    entry = {"feature_threshold": float(thresholds[0]), "pixel_threshold": float(thresholds[1]), "margin": margin,
             "fitted_on": f"{folder.name} ({len(real)} real galaxies)", "flagged_before": before,
             "flagged_cross_validated": flagged / len(real), "folds": folds,
             "non_galaxy_scores": {name: round(float(score), 2) for name, score in zip(others, scores)},
             "method": f"each threshold raised to {margin:g} times the farthest real galaxy's distance where that is above "
                       "the synthetic one; the flagged share counted on held-out folds"}
    update_meta(directory, ood={**meta["ood"], "real_galaxies": entry})
    return entry
