"""The Predictor: checkpoint(s) in, per-image predictions out, for one model or an ensemble.

The CLI's `predict`, the dashboard and the HTTP service all classify through it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from galaxy_core.classes import CLASS_NAMES
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.inference.ensemble import combine, preferences
from galaxy_core.inference.logits import batch_features_and_logits, batch_logits, softmax
from galaxy_core.inference.ood import OodModel, input_statistics, load_ood
from galaxy_core.models.checkpoint import load_checkpoint


@dataclass(frozen=True)
class Member:
    """One model of a Predictor: its checkpoint folder's name, the model, its metadata and input preprocessing."""

    name: str
    model: nn.Module
    meta: dict
    preprocessing: Preprocessing
    ood: OodModel | None = None  # its out-of-distribution scores, where the checkpoint was calibrated


class Predictor:
    """Checkpoint(s) in, probabilities out: one model, or several combined by an ensemble rule."""

    def __init__(self, checkpoints: list, rule: str | None = None, device: str = "cpu",
                 load: Callable[[str], tuple[nn.Module, dict]] | None = None, prefer: str | None = None, tta: bool = False):
        """`load(directory) -> (model, meta)` lets a caller share models it already holds (the dashboard does).
        `prefer` names the member whose label the agreement rule takes when the members disagree (default:
        the best on validation); the second study's ensemble prefers its "Model Old", EfficientNet-B0.
        `tta`: each member's probabilities are averaged over the 8 rotations/flips of the image (a galaxy has no
        preferred orientation; 8 times the compute; docs/benchmarks.md measures what it changes)."""
        if not checkpoints:
            raise UserError("No checkpoint given: pass --checkpoint DIR, or --ensemble RULE --checkpoints DIR DIR.")
        if len(checkpoints) > 1 and rule is None:
            raise UserError("Several checkpoints and no ensemble rule to combine them.")
        self.device = torch.device(device)
        self.rule = rule
        self.tta = tta
        self.members = []
        for directory in checkpoints:
            model, meta = load(str(directory)) if load else load_checkpoint(directory, self.device)
            self.members.append(Member(Path(directory).name, model, meta, Preprocessing.from_dict(meta["preprocessing"]),
                                       load_ood(directory, meta)))
        self.preferred, self.val_f1 = preferences([m.meta.get("metrics", {}).get("val") for m in self.members])
        if prefer is not None:
            names = [m.name for m in self.members]
            if prefer not in names:
                raise UserError(f"The preferred model {prefer} is not one of the ensemble's ({', '.join(names)}).")
            self.preferred = names.index(prefer)

    def member_probabilities(self, images: np.ndarray, tta: bool | None = None) -> list[np.ndarray]:
        """uint8 (N, H, W, 3) -> each member's (N, 10) probabilities (with `tta`, over the 8 rotations/flips;
        by default as the Predictor was built, like `predict`)."""
        tta = self.tta if tta is None else tta
        # each pass holds its model's own lock (inference.forward): a member shared with Grad-CAM waits for its hooks
        return [softmax(batch_logits(m.model, images, m.preprocessing, self.device, tta).numpy()) for m in self.members]

    def predict(self, images: np.ndarray) -> list[dict]:
        """uint8 (N, 256, 256, 3) -> per image: label, class, confidence, probabilities, source, members,
        `ood_score`/`ood` (the members' mean score; ood when above 1; None when no member was calibrated) and
        `tta` (whether the probabilities average the 8 rotations/flips)."""
        return self.predict_with_features(images)[0]

    def predict_with_features(self, images: np.ndarray) -> tuple[list[dict], list[np.ndarray]]:
        """`predict`'s answers and each member's latent features (N, D) of the images as given, from the same pass."""
        results, features, _ = self.answer(images)
        return results, features

    def answer(self, images: np.ndarray) -> tuple[list[dict], list[np.ndarray], list[np.ndarray]]:
        """`predict`'s answers, each member's latent features (N, D) and each member's probabilities (N, 10), from one pass."""
        passes = [batch_features_and_logits(m.model, images, m.preprocessing, self.device, self.tta) for m in self.members]
        probabilities = [softmax(logits) for _, logits in passes]
        member_ood = [m.ood.scores(features, input_statistics(images, m.preprocessing))
                      if m.ood is not None else None for m, (features, _) in zip(self.members, passes)]
        calibrated = [s for s in member_ood if s is not None]
        ood_score = np.mean(calibrated, axis=0) if calibrated else None
        names = [m.name for m in self.members]
        if len(self.members) == 1:
            final, labels, confidence, source = probabilities[0], probabilities[0].argmax(1), probabilities[0].max(1), [names[0]] * len(images)
        else:
            out = combine(self.rule, probabilities, names, self.preferred, self.val_f1)
            final, labels, confidence, source = out.probabilities, out.labels, out.confidence, out.source
        results = []
        for i in range(len(images)):
            results.append({
                "label": int(labels[i]), "class": CLASS_NAMES[int(labels[i])], "confidence": float(confidence[i]),
                "source": source[i], "probabilities": {c: float(p) for c, p in zip(CLASS_NAMES, final[i])},
                "members": {name: {"label": int(p[i].argmax()), "class": CLASS_NAMES[int(p[i].argmax())], "confidence": float(p[i].max()),
                                   "ood_score": None if s is None else float(s[i])}
                            for name, p, s in zip(names, probabilities, member_ood)},
                "ood_score": None if ood_score is None else float(ood_score[i]),
                "ood": None if ood_score is None else bool(ood_score[i] > 1.0),
                "tta": self.tta,
            })
        return results, [features for features, _ in passes], probabilities
