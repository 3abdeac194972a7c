"""How good an explanation is: where it points (against ground truth or a segmentation) and whether the pixels it
picks matter to the model (ROAD, Rong et al. 2022, through pytorch-grad-cam's noisy linear imputation)."""
from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import PerturbationConfidenceMetric, RemoveMostRelevantFirst
from pytorch_grad_cam.metrics.road import NoisyLinearImputer
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from torch import nn

from galaxy_core.data.transforms import Preprocessing
from galaxy_core.evaluation.explain import Explanation, energy_share, on_cutout, peak
from galaxy_core.inference.forward import inference, model_input

REMOVED_SHARE = 0.2  # the most relevant 20% of the model's input pixels, against a random 20%


def pointing(full: np.ndarray, region: np.ndarray) -> bool:
    """The pointing game: the map's peak falls on `region` (an empty map points nowhere)."""
    at = peak(full)
    return at is not None and bool(region[at[1], at[0]])


def location_scores(fulls: list[np.ndarray], targets: list[np.ndarray], others: list[np.ndarray] | None = None) -> dict:
    """Over a set of maps on cutouts: the share whose peak is on the target region, and the mean share of the maps'
    energy on it (and on `others`, e.g. stars and neighbours). Empty maps count as misses and add no energy."""
    hits = [pointing(full, target) for full, target in zip(fulls, targets)]
    on_target = [energy_share(full, target) for full, target in zip(fulls, targets)]
    scores = {"images": len(fulls), "pointing_game": float(np.mean(hits)) if hits else None,
              "energy_on_target": _mean(on_target)}
    if others is not None:
        scores["energy_on_others"] = _mean([energy_share(full, other) for full, other in zip(fulls, others)])
    return scores


def _mean(values) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def faithfulness(model: nn.Module, images: np.ndarray, preprocessing: Preprocessing, explanations: list[Explanation],
                 device: torch.device | str = "cpu", seed: int = 0) -> np.ndarray:
    """Per image: how much more the explained class's probability falls when the map's most relevant 20% of input
    pixels are imputed away than when a random 20% are (ROAD's imputation for both; positive: the map found
    pixels that matter). Class-agnostic maps are scored against the predicted class."""
    size = preprocessing.input_size
    rng = np.random.default_rng(seed)
    # A tiny random tie-break: a map that is zero on most pixels still removes exactly its top 20%.
    relevant = np.stack([on_cutout(e, (size, size)) for e in explanations]) + 1e-6 * rng.random((len(explanations), size, size), dtype=np.float32)
    random_maps = rng.random(relevant.shape, dtype=np.float32)
    targets = [ClassifierOutputSoftmaxTarget(e.predicted if e.target is None else e.target) for e in explanations]
    metric = PerturbationConfidenceMetric(RemoveMostRelevantFirst(100 * (1 - REMOVED_SHARE), NoisyLinearImputer()))
    torch.manual_seed(seed)  # the imputer adds noise
    with inference(model, device) as device:
        x = model_input(images, preprocessing, device)
        after_relevant = metric(x, relevant, targets, model, return_diff=False)
        after_random = metric(x, random_maps, targets, model, return_diff=False)
    return np.asarray(after_random, dtype=np.float64) - np.asarray(after_relevant, dtype=np.float64)
