"""Choose the recorded default answer (`inference/default_answer.py`) by a measurement on real galaxies.

Candidates: every checkpoint alone, and each ensemble rule over all checkpoints trained on synthetic galaxies
only and over the second study's pair (EfficientNet-B0 + B2), each without test-time averaging (it did not
help on real galaxies, and it costs 8 times the compute). A checkpoint fine-tuned on the check set is judged by
its cross-validated figure and enters no ensemble (its check-set answers would be answers it learned).
The winner has the lowest cross-entropy among the candidates whose right answers are not significantly fewer
than the best candidate's (an exact paired McNemar test on the images where the two differ, p >= SIGNIFICANCE):
on 60 galaxies a few answers either way are noise (the 95% interval of an accuracy spans about 25 points), and
cross-entropy, which scores every probability, tells candidates apart with more power and rewards confidence
that means something. A cross-validated figure has no per-image answers, so it wins only with the most right.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from galaxy_core.data.labelled_images import LabelledImages
from galaxy_core.errors import UserError
from galaxy_core.evaluation.evaluate import ModelPredictions, score_ensemble
from galaxy_core.evaluation.folders import folder_predictions
from galaxy_core.evaluation.metrics import compute_metrics, trained_on_check_set, wilson
from galaxy_core.inference.ensemble import RULES
from galaxy_core.inference.predictor import Predictor
from galaxy_core.models.checkpoint import find_checkpoints, read_meta

SIGNIFICANCE = 0.05
STUDY_PAIR = ("efficientnet_b0", "efficientnet_b2")


@dataclass
class Candidate:
    names: tuple[str, ...]
    rule: str | None
    correct: int
    count: int
    cross_entropy: float  # inf where only a cross-validated accuracy is known
    cross_validated: bool = False
    confidence: list = field(default_factory=list, repr=False)
    right: list = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        return self.names[0] if self.rule is None else f"{self.rule} over {' + '.join(self.names)}"

    def summary(self) -> dict:
        return {"checkpoints": list(self.names), "rule": self.rule, "correct": self.correct, "count": self.count,
                "accuracy": self.correct / self.count, "cross_entropy": None if math.isinf(self.cross_entropy) else self.cross_entropy,
                "cross_validated": self.cross_validated}


def _scored(names: tuple[str, ...], rule: str | None, labels, probabilities) -> Candidate:
    metrics = compute_metrics(labels, probabilities)
    right = probabilities.argmax(axis=1) == labels
    return Candidate(names, rule, int(right.sum()), len(labels), metrics["cross_entropy"],
                     confidence=probabilities.max(axis=1).tolist(), right=right.tolist())


def measure_candidates(root: str | Path, folder: LabelledImages, device: str = "cpu") -> list[Candidate]:
    """Every candidate's score on `folder`, each checkpoint run once over it."""
    checkpoints = find_checkpoints(root)
    metas = {c.name: read_meta(c) for c in checkpoints}
    synthetic = [c for c in checkpoints if not trained_on_check_set(metas[c.name])]
    candidates = []
    for tuned in (c for c in checkpoints if trained_on_check_set(metas[c.name])):
        real = (metas[tuned.name].get("metrics") or {}).get("real_sample") or {}
        if real.get("cross_validated"):
            candidates.append(Candidate((tuned.name,), None, round(real["accuracy"] * real["count"]), int(real["count"]),
                                        math.inf, cross_validated=True))
    if not synthetic:
        return candidates
    members: dict[str, ModelPredictions] = {
        m.name: m for m in folder_predictions(Predictor(synthetic, "soft" if len(synthetic) > 1 else None, device=device), folder)}
    for name, member in members.items():
        candidates.append(_scored((name,), None, member.labels, member.probabilities))
    pair = tuple(c.name for model in STUDY_PAIR for c in synthetic if metas[c.name]["model"] == model)[:2]
    groups = [tuple(members)] + ([pair] if len(pair) == 2 and len(members) > 2 else [])
    for group in (g for g in groups if len(g) > 1):
        for rule in RULES:
            scores = score_ensemble(rule, [members[n] for n in group])
            candidates.append(_scored(group, rule, scores.labels, scores.output.probabilities))
    return candidates


def not_worse(candidate: Candidate, best: Candidate) -> bool:
    """Whether `candidate`'s right answers are not significantly fewer than `best`'s (exact McNemar, two-sided)."""
    from scipy.stats import binomtest

    only_best = sum(b and not c for b, c in zip(best.right, candidate.right))
    only_candidate = sum(c and not b for b, c in zip(best.right, candidate.right))
    differing = only_best + only_candidate
    return differing == 0 or binomtest(only_candidate, differing).pvalue >= SIGNIFICANCE


def choose(candidates: list[Candidate]) -> Candidate:
    """See the module's docstring."""
    if not candidates:
        raise UserError("There is no checkpoint to choose a default answer from.")
    best = max(candidates, key=lambda c: (c.correct, -c.cross_entropy))
    if best.cross_validated:
        return best
    tied = [c for c in candidates if not c.cross_validated and not_worse(c, best)]
    return min(tied, key=lambda c: (c.cross_entropy, -c.correct))


def measurement(chosen: Candidate, folder: LabelledImages) -> dict:
    """What default.json says about the chosen answer: its score with the 95% interval, and on what."""
    return {"on": folder.name, "images": chosen.count, **wilson(chosen.correct, chosen.count), "accuracy": chosen.correct / chosen.count,
            "cross_entropy": None if math.isinf(chosen.cross_entropy) else chosen.cross_entropy, "tta": False,
            "rule_of_choice": f"the lowest cross-entropy on the {chosen.count} real galaxies among the candidates not significantly "
                              f"less often right than the best (paired McNemar, p >= {SIGNIFICANCE}); a checkpoint fine-tuned on "
                              "them by its cross-validated figure only"}
