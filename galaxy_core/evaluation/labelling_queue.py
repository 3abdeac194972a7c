"""Which galaxy to label next: the unlabelled cutouts of a folder ranked by how much a label would teach the current
answer (uncertainty sampling, as in AstronomicAL's loop and Zoobot's active-learning experiments).

- margin: the smallest gap between the answer's top two probabilities first (score 1 - gap);
- entropy: the most spread-out probabilities first (in nats);
- disagreement: where an ensemble's members disagree most first (the mean Kullback-Leibler divergence of each member
  from their mean: 0 when all agree);
- random: a seeded shuffle, the baseline any other strategy must beat.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from galaxy_core.classes import CLASS_NAMES
from galaxy_core.errors import UserError
from galaxy_core.evaluation.latent_gap import readable_batches

STRATEGIES = ("margin", "entropy", "disagreement", "random")
EPS = 1e-12


def scores(strategy: str, probabilities: np.ndarray, members: Sequence[np.ndarray] = (), seed: int = 0) -> np.ndarray:
    """(N,) how informative each image's label would be, higher first: `probabilities` (N, 10) is the answer's, `members`
    each ensemble member's (disagreement needs two or more)."""
    if strategy not in STRATEGIES:
        raise UserError(f"--strategy {strategy}: choose one of {', '.join(STRATEGIES)}.")
    p = np.asarray(probabilities, dtype=np.float64)
    if strategy == "margin":
        top = np.sort(p, axis=1)[:, -2:]
        return 1.0 - (top[:, 1] - top[:, 0])
    if strategy == "entropy":
        return -(p * np.log(p + EPS)).sum(axis=1)
    if strategy == "random":
        return np.random.default_rng(seed).random(len(p))
    if len(members) < 2:
        raise UserError("--strategy disagreement needs an ensemble (two or more models): name them with --ensemble RULE "
                        "--checkpoints DIR DIR, or choose margin, entropy or random.")
    stack = np.stack([np.asarray(m, dtype=np.float64) for m in members])  # (M, N, C)
    mean = stack.mean(axis=0)
    return (stack * (np.log(stack + EPS) - np.log(mean + EPS))).sum(axis=2).mean(axis=0)


def order(values: np.ndarray, names: Sequence[str]) -> list[int]:
    """Positions by score, highest first; equal scores by name, so the queue is the same on every run."""
    return sorted(range(len(values)), key=lambda i: (-float(values[i]), names[i]))


def rank_files(predictor, root: Path, files: Sequence[Path], strategy: str, seed: int = 0, skipped: list[str] | None = None,
               progress=None) -> list[dict]:
    """The queue over `files` (inside `root`): one row per readable file, most informative first, with the current
    answer (label, class, confidence). Unreadable files go to `skipped`, one sentence each, and are not queued."""
    skipped = [] if skipped is None else skipped
    batches = ((batch, [str(Path(files[i]).relative_to(root)) for i in positions])
               for batch, positions in readable_batches(list(files), skipped, progress=progress))
    return rank_batches(predictor, batches, strategy, seed)


def rank_batches(predictor, batches: Iterable[tuple[np.ndarray, list[str]]], strategy: str, seed: int = 0) -> list[dict]:
    """The queue over (uint8 images, their names) batches: decoded files, or uploads held in memory."""
    if strategy == "disagreement" and len(predictor.members) < 2:
        scores(strategy, np.zeros((0, len(CLASS_NAMES))))  # its sentence, before any image goes through a model
    answers, member_probabilities, names = [], [], []
    for batch, batch_names in batches:
        found, _, members = predictor.answer(batch)
        answers += found
        member_probabilities.append(np.stack(members))
        names += batch_names
    if not names:
        return []
    probabilities = np.array([[a["probabilities"][c] for c in CLASS_NAMES] for a in answers])
    values = scores(strategy, probabilities, list(np.concatenate(member_probabilities, axis=1)), seed)
    top = np.argsort(-probabilities, axis=1)[:, :3]
    return [{"file": names[i], "score": round(float(values[i]), 6), "label": answers[i]["label"], "class": answers[i]["class"],
             "confidence": round(answers[i]["confidence"], 6), "ood": answers[i]["ood"],
             "top": [[CLASS_NAMES[c], round(float(probabilities[i, c]), 6)] for c in top[i]]} for i in order(values, names)]
