"""How much labelling helps, and whether the queue's order matters (issue "Teach it your galaxies"): a simulated
labelling session on the real check set, repeated over seeds and folds.

    python3 benchmarks/active_learning_sim.py [--seeds 20] [--folds 3] [--counts 5 10 20 40] [--out table.md] [--plot fig.png]

For each seed, the 60 galaxies are split into k stratified folds; each fold in turn is held out and the rest is the
pool a person labels. Labels are given in the order a strategy ranks the pool (margin and entropy re-ranked by the
answer adapted so far, disagreement by the default ensemble's members, random by a seeded shuffle), and after 5, 10,
20 and 40 labels the default is adapted exactly as `adapt` does (training/adapt.py: the member chosen by inner
cross-validation, the head fitted on the labels given) and scored on the held-out fold it never saw. The unadapted
default is scored on the same folds. Intervals: 95% t-intervals over the seeds of each seed's mean over its folds.

The check set is a development set (the generator was tuned looking at it); nothing in the adaptation was tuned on it
(its one setting, the L2 strength, was fixed beforehand). Uses the recorded default answer (checkpoints/default.json).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.classes import CLASS_NAMES  # noqa: E402
from galaxy_core.data.labelled_images import real_sample  # noqa: E402
from galaxy_core.evaluation.labelling_queue import STRATEGIES, order, scores  # noqa: E402
from galaxy_core.inference.default_answer import default_answer  # noqa: E402
from galaxy_core.inference.predictor import Predictor  # noqa: E402
from galaxy_core.settings import checkpoints_root  # noqa: E402
from galaxy_core.training.adapt import METHODS, LabelledFeatures, choose_member, fit_head, labelled_features  # noqa: E402


def session(data: LabelledFeatures, members: list[np.ndarray], answer: np.ndarray, pool: np.ndarray, held_out: np.ndarray,
            strategy: str, method: str, counts: list[int], seed: int) -> list[float]:
    """One simulated person labelling `pool` in the strategy's order: held-out accuracy after each count."""
    labelled: list[int] = []
    current = answer[pool]  # the answer the queue is ranked by: the default until the first adaptation
    accuracies = []
    for count in counts:
        left = [i for i in range(len(pool)) if pool[i] not in labelled]
        values = scores(strategy, current[left], [m[pool][left] for m in members], seed + count)
        labelled += [int(pool[left[i]]) for i in order(values, [str(pool[j]) for j in left])[: count - len(labelled)]]
        rows = np.array(sorted(labelled))
        m, strength = choose_member(data, rows, method, seed)
        head = fit_head(data.features[m][rows], data.logits[m][rows], data.labels[rows], method, strength)
        predicted = head.probabilities(data.features[m][held_out], data.logits[m][held_out]).argmax(axis=1)
        accuracies.append(float((predicted == data.labels[held_out]).mean()))
        current = head.probabilities(data.features[m][pool], data.logits[m][pool])
    return accuracies


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    from scipy.stats import t

    mean = float(np.mean(values))
    half = float(t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    return mean, mean - half, mean + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--counts", type=int, nargs="+", default=[5, 10, 20, 40])
    parser.add_argument("--out")
    parser.add_argument("--plot")
    parser.add_argument("--raw", help="also write every seed's figures as JSON here; --from-raw reports them again without rerunning")
    parser.add_argument("--from-raw")
    args = parser.parse_args()
    if args.from_raw:
        raw = json.loads(Path(args.from_raw).read_text())
        report({tuple(key.split("/")): value for key, value in raw["results"].items()}, np.array(raw["baseline"]), args)
        return
    from sklearn.model_selection import StratifiedKFold

    choice = default_answer(checkpoints_root())
    checkpoints, rule = choice.checkpoints, choice.rule
    predictor = Predictor(checkpoints, rule)
    folder = real_sample()
    started = time.perf_counter()
    data = labelled_features(predictor, checkpoints, folder, [])
    answers, _, member_probabilities = predictor.answer(folder.pixels())
    answer = np.array([[a["probabilities"][c] for c in CLASS_NAMES] for a in answers])
    print(f"features of {len(folder)} galaxies through {len(checkpoints)} models: {time.perf_counter() - started:.0f} s", flush=True)
    results = {(s, m): [] for s in STRATEGIES for m in METHODS}  # per seed: (counts,) mean over folds
    baseline = []
    for seed in range(args.seeds):
        per_fold = {key: [] for key in results}
        base_fold = []
        for pool, held_out in StratifiedKFold(args.folds, shuffle=True, random_state=seed).split(np.zeros(len(data.labels)), data.labels):
            base_fold.append(float((data.answer[held_out] == data.labels[held_out]).mean()))
            for strategy, method in results:
                per_fold[(strategy, method)].append(session(data, member_probabilities, answer, pool, held_out, strategy, method,
                                                            [c for c in args.counts if c <= len(pool)], seed))
        for key in results:
            results[key].append(np.mean(per_fold[key], axis=0))
        baseline.append(np.mean(base_fold))
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    if args.raw:
        Path(args.raw).write_text(json.dumps({"results": {f"{s}/{m}": np.array(v).tolist() for (s, m), v in results.items()},
                                              "baseline": [float(b) for b in baseline]}))
    report(results, np.array(baseline), args)


def report(results: dict, baseline: np.ndarray, args) -> None:
    counts = [c for c in args.counts if c <= len(real_sample()) * (args.folds - 1) // args.folds]
    base, low, high = t_interval(baseline)
    accuracy = ["| strategy | method | " + " | ".join(f"{c} labels" for c in counts) + " |", "|---|---|" + "---|" * len(counts)]
    differences = list(accuracy)
    for (strategy, method), per_seed in results.items():
        values = np.array(per_seed)
        cells, gains = [], []
        for j in range(len(counts)):
            mean, lo, hi = t_interval(values[:, j])
            cells.append(f"{mean:.1%} ({lo:.1%}–{hi:.1%})")
            vs_base = t_interval(values[:, j] - baseline)
            gain = f"{vs_base[0]:+.1%} ({vs_base[1]:+.1%} to {vs_base[2]:+.1%})"
            if strategy != "random" and counts[j] < len(real_sample()) * (args.folds - 1) // args.folds:
                vs_random = t_interval(values[:, j] - np.array(results[("random", method)])[:, j])
                gain += f"; {vs_random[0]:+.1%} ({vs_random[1]:+.1%} to {vs_random[2]:+.1%})"
            gains.append(gain)
        accuracy.append(f"| {strategy} | {method} | " + " | ".join(cells) + " |")
        differences.append(f"| {strategy} | {method} | " + " | ".join(gains) + " |")
    table = "\n".join([f"Unadapted default on the same held-out folds: {base:.1%} (every seed's folds cover the same 60 galaxies).", "",
                       "Held-out accuracy (95% interval over seeds):", "", *accuracy, "",
                       "Difference to the unadapted default; then, for the queue's strategies, to random order with the same method "
                       "(paired by seed and fold; at the last count the whole pool is labelled, whatever the order):", "", *differences])
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    if args.plot:
        plot(results, baseline, counts, args.plot)


def plot(results: dict, baseline: np.ndarray, counts: list[int], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(METHODS), figsize=(5 * len(METHODS), 3.6), sharey=True)
    for axis, method in zip(np.atleast_1d(axes), METHODS):
        for strategy in STRATEGIES:
            values = np.array(results[(strategy, method)])
            means = values.mean(axis=0)
            spread = [t_interval(values[:, j]) for j in range(len(counts))]
            axis.plot(counts, means, marker="o", label=strategy)
            axis.fill_between(counts, [s[1] for s in spread], [s[2] for s in spread], alpha=0.15)
        axis.axhline(baseline.mean(), color="black", linestyle="--", label="unadapted default")
        axis.set_title(f"adapt --method {method}")
        axis.set_xlabel("labels given")
        axis.set_xscale("log")
        axis.minorticks_off()
        axis.set_xticks(counts, [str(c) for c in counts])
    np.atleast_1d(axes)[0].set_ylabel("held-out accuracy (real check set)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
