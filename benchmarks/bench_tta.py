"""Test-time augmentation (the mean over the 8 rotations/flips) against the image as given, for the demo
checkpoints trained on synthetic galaxies and every ensemble rule over them: synthetic test split and real
check set.

    python benchmarks/bench_tta.py [--checkpoints checkpoints/cnn ...] [--data FILE.h5]

Synthetic accuracies are on the test images every member held out (as docs/models.md's ensembles); the
real check set is a development set (60 galaxies). The ensembles' F1 weights and preferred member come
from each member's validation split, scored the same way (with or without the 8 views).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.data.default import resolve_dataset  # noqa: E402
from galaxy_core.data.galaxy10 import Galaxy10  # noqa: E402
from galaxy_core.data.labelled_images import real_sample  # noqa: E402
from galaxy_core.evaluation.evaluate import predict_checkpoint, score_ensemble  # noqa: E402
from galaxy_core.evaluation.folders import folder_predictions  # noqa: E402
from galaxy_core.evaluation.metrics import trained_on_check_set  # noqa: E402
from galaxy_core.inference.ensemble import RULES  # noqa: E402
from galaxy_core.inference.predictor import Predictor  # noqa: E402
from galaxy_core.models.checkpoint import find_checkpoints, read_meta  # noqa: E402


def scores(members) -> dict[str, float]:
    """Accuracy of each member and of each ensemble rule on the images all members scored."""
    out = {}
    for rule in RULES:
        result = score_ensemble(rule, members)
        out.update(result.member_accuracy)
        out[f"{rule} ensemble"] = result.metrics["accuracy"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shipped = [str(p) for p in find_checkpoints(REPO / "checkpoints") if not trained_on_check_set(read_meta(p))]
    parser.add_argument("--checkpoints", nargs="+", default=shipped)
    parser.add_argument("--data", help="Galaxy10 file (default: the synthetic default the demo checkpoints were trained on)")
    args = parser.parse_args()
    data = Galaxy10(resolve_dataset(args.data))
    folder = real_sample()
    synthetic, real = {}, {}
    for tta in (False, True):
        synthetic[tta] = scores([predict_checkpoint(c, data, "test", tta, need_validation=True)[0] for c in args.checkpoints])
        real[tta] = scores(folder_predictions(Predictor(args.checkpoints, "soft"), folder, tta))
    count = len(folder)
    print("| model or rule | synthetic test | synthetic test, 8 views | real check set | real check set, 8 views |")
    print("|---|---|---|---|---|")
    for name in synthetic[False]:
        print(f"| {name} | {synthetic[False][name]:.3f} | {synthetic[True][name]:.3f} | "
              f"{round(real[False][name] * count)}/{count} | {round(real[True][name] * count)}/{count} |")


if __name__ == "__main__":
    main()
