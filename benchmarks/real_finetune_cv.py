"""How much a handful of real labels adds: k-fold cross-validation of fine-tuning on the real check set.

    python benchmarks/real_finetune_cv.py --checkpoint checkpoints/cnn [--folds 5] [--epochs 10] [--trainable head] [--record TUNED]

For each fold (stratified, seed 0): the other folds' images are imported into a Galaxy10 file
(`import`), the checkpoint is fine-tuned on it (`train --init`, its own recipe; the trainer's
validation part picks the epoch), and the held-out fold is scored, beside the synthetic-only
checkpoint on the same images. Prints mean and spread over the folds. The check set is a
development set: these are estimates for a fine-tuned model, not an independent test.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.data.galaxy10_writer import import_images  # noqa: E402
from galaxy_core.data.labelled_images import real_sample  # noqa: E402
from galaxy_core.evaluation.folders import evaluate_folder  # noqa: E402
from galaxy_core.models.checkpoint import read_meta, record_metrics  # noqa: E402
from galaxy_core.models.recipe import Recipe  # noqa: E402
from galaxy_core.training.trainer import train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--trainable", choices=("all", "head"), default="head")
    parser.add_argument("--lr", type=float, help="learning rate (default: the checkpoint's)")
    parser.add_argument("--record", metavar="TUNED_CHECKPOINT",
                        help="a checkpoint fine-tuned the same way on the whole check set: store this estimate as its real check-set figure")
    args = parser.parse_args()
    from sklearn.model_selection import StratifiedKFold

    folder = real_sample()
    recipe = Recipe.from_dict(read_meta(args.checkpoint)["recipe"]).override(
        weights=None, init=str(args.checkpoint), trainable=args.trainable, epochs=args.epochs, split="70/15/15",
        **({"learning_rate": args.lr} if args.lr else {}))
    tuned, before = [], []
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0).split(np.zeros(len(folder)), folder.labels)
    for k, (train_rows, test_rows) in enumerate(folds):
        subset = lambda rows, name: replace(folder, name=name, files=tuple(folder.files[i] for i in rows), labels=folder.labels[rows])  # noqa: E731
        held_out = subset(test_rows, f"fold{k}_held_out")
        with tempfile.TemporaryDirectory() as tmp:
            data = import_images(subset(train_rows, f"fold{k}_train"), Path(tmp) / "train.h5")
            train(recipe, data, Path(tmp) / "tuned", device="cpu", workers=0, keep_check_set=True)
            tuned.append(evaluate_folder([Path(tmp) / "tuned"], held_out)["metrics"]["accuracy"])
            before.append(evaluate_folder([args.checkpoint], held_out)["metrics"]["accuracy"])
        print(f"fold {k}: {len(test_rows)} held out; synthetic-only {before[-1]:.3f}, fine-tuned {tuned[-1]:.3f}", flush=True)
    print(f"\n{Path(args.checkpoint).name}, {args.trainable} fine-tuned for {args.epochs} epochs on {args.folds - 1}/{args.folds} "
          f"of the real check set: held-out accuracy {np.mean(tuned):.3f} ± {np.std(tuned):.3f} "
          f"(synthetic-only on the same folds {np.mean(before):.3f} ± {np.std(before):.3f}).")
    if args.record:
        record_metrics(args.record, "real_sample", {
            "accuracy": float(np.mean(tuned)), "count": len(folder),
            "cross_validated": {"folds": args.folds, "sd": float(np.std(tuned)), "per_fold": [float(a) for a in tuned],
                                "base": str(args.checkpoint), "trainable": args.trainable, "epochs": args.epochs, "learning_rate": recipe.learning_rate,
                                "synthetic_only_same_folds": float(np.mean(before))},
            "note": f"{args.folds}-fold cross-validated estimate (benchmarks/real_finetune_cv.py): this checkpoint was fine-tuned on the "
                    "whole real check set, so its accuracy there says nothing; each fold's model was scored on images it never saw"})
        print(f"recorded in {Path(args.record) / 'meta.json'} as metrics.real_sample")


if __name__ == "__main__":
    main()
