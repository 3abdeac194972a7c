"""Does a synthetic file make models that do better on real galaxies? Trains the same model with the same recipe
from scratch on two (or more) Galaxy10 files, once per seed, and prints each run's accuracy on the real check set
(a development set, 60 galaxies) and on its own synthetic test split, the mean and spread over seeds, and the
paired difference to the first file (same seed: same initial weights, same split).

    python benchmarks/compare_generators.py --data A.h5 B.h5 [--seeds 1 2 3] [--model cnn] [--epochs 15]
        [--lr 1e-3] [--out-root DIR] [--parallel 2]

A model's score on 60 real images moves by several galaxies between seeds, so only the spread over seeds says
whether a difference between files is one. Runs go to OUT_ROOT/<file stem>_s<seed>; a finished run (its meta.json
exists) is read, not retrained, and an interrupted one resumes (the CLI keeps its training state). The recipe is
the demo CNN's first stage (scripts/train_demo_checkpoints.sh): --resize 128 at 64 px, --look-augment, no weights.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.classes import CLASS_NAMES  # noqa: E402
from galaxy_core.evaluation.metrics import accuracy_interval  # noqa: E402
from galaxy_core.models.checkpoint import read_meta  # noqa: E402


def train(data: Path, seed: int, args) -> Path:
    """One run (skipped when finished), on one thread so that `--parallel` runs share the cores evenly."""
    out = args.out_root / f"{data.stem}_s{seed}"
    if (out / "meta.json").exists():
        return out
    command = [sys.executable, "-m", "galaxy_core", "train", "--model", args.model, "--epochs", str(args.epochs),
               "--lr", str(args.lr), "--resize", "128", "--image-size", "64", "--device", "cpu", "--weights", "none",
               "--workers", "1", "--look-augment", "--seed", str(seed), "--data", str(data), "--out", str(out)]
    log = out.parent / f"{out.name}.log"
    with log.open("w") as handle:
        done = subprocess.run(command, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"Training on {data} with seed {seed} failed (exit {done.returncode}); its log is {log}.")
    return out


def paired_difference(differences: list[int]) -> str:
    """Mean ± sd of the per-seed differences, and the 95% interval of their mean (Student's t over the seeds)."""
    from scipy.stats import t

    mean = statistics.mean(differences)
    if len(differences) < 2:
        return f"{mean:+.1f}"
    spread = statistics.stdev(differences)
    half = t.ppf(0.975, len(differences) - 1) * spread / len(differences) ** 0.5
    return f"{mean:+.1f} ± {spread:.1f} (mean's 95% interval {mean - half:+.1f} to {mean + half:+.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="Galaxy10 files; the first is the reference")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out-root", type=Path, default=Path("runs/compare_generators"))
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time (each on one thread)")
    args = parser.parse_args()
    for path in args.data:
        if not path.is_file():
            raise SystemExit(f"{path} is not a file: pass Galaxy10 .h5 files to --data.")
    args.out_root.mkdir(parents=True, exist_ok=True)
    jobs = [(data, seed) for seed in args.seeds for data in args.data]
    with ThreadPoolExecutor(args.parallel) as pool:
        runs = dict(zip(jobs, pool.map(lambda job: train(*job, args), jobs)))

    real = {job: read_meta(run)["metrics"]["real_sample"] for job, run in runs.items()}
    synthetic = {job: read_meta(run)["metrics"]["test"]["accuracy"] for job, run in runs.items()}
    right = {job: round(score["accuracy"] * score["count"]) for job, score in real.items()}  # galaxies, of 60
    print(f"{args.model} from scratch, {args.epochs} epochs at lr {args.lr:g}; real check set: 60 galaxies, a development set.\n")
    print("| file | " + " | ".join(f"seed {s}: real (synthetic test)" for s in args.seeds)
          + " | real, mean ± sd over seeds | paired difference to the first file, mean ± sd (galaxies of 60) |")
    print("|---|" + "---|" * (len(args.seeds) + 2))
    reference = args.data[0]
    for data in args.data:
        counts = [right[data, seed] for seed in args.seeds]
        cells = []
        for seed in args.seeds:
            low, high = accuracy_interval(real[data, seed])
            cells.append(f"{right[data, seed]}/60 [{low:.0%}–{high:.0%}] ({synthetic[data, seed]:.3f})")
        spread = statistics.stdev(counts) if len(counts) > 1 else 0.0
        paired = "" if data == reference else paired_difference([right[data, s] - right[reference, s] for s in args.seeds])
        print(f"| {data.name} | " + " | ".join(cells) + f" | {statistics.mean(counts):.1f} ± {spread:.1f} | {paired} |")

    # per class: which galaxies a file's models get right (6 per class in the check set), summed over seeds
    print(f"\nPer class on the real check set: galaxies right, summed over the {len(args.seeds)} seeds "
          f"(of {6 * len(args.seeds)}).\n")
    print("| class | " + " | ".join(data.name for data in args.data) + " |")
    print("|---|" + "---|" * len(args.data))
    for position, name in enumerate(CLASS_NAMES):
        counts = [sum(round(real[data, s]["per_class"][position]["recall"] * real[data, s]["per_class"][position]["support"])
                      for s in args.seeds) for data in args.data]
        print(f"| {name} | " + " | ".join(str(c) for c in counts) + " |")


if __name__ == "__main__":
    main()
