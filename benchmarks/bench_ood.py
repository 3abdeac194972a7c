"""Out-of-distribution flags of the demo checkpoints: non-galaxy images, the real check set, and the
synthetic test split (the share recorded by calibration in each meta.json).

    python benchmarks/bench_ood.py [--checkpoints checkpoints/cnn ...]

Targets (issue 11): every non-galaxy image flagged; at most 5% of the synthetic test split flagged.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from galaxy_core.data.labelled_images import real_sample  # noqa: E402
from galaxy_core.inference.predictor import Predictor  # noqa: E402
from galaxy_core.models.checkpoint import find_checkpoints  # noqa: E402
from non_galaxy import non_galaxy_images  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", nargs="+", default=[str(p) for p in find_checkpoints(REPO / "checkpoints")])
    args = parser.parse_args()
    others = non_galaxy_images()
    folder = real_sample()
    pixels = folder.pixels()
    print(f"| checkpoint | synthetic test flagged | real check set flagged | {' | '.join(others)} |")
    print("|---|---|---|" + "---|" * len(others))
    sets = [[c] for c in args.checkpoints] + [args.checkpoints]
    for members in sets:
        predictor = Predictor(members, None if len(members) == 1 else "soft")
        real = predictor.predict(pixels)
        odd = predictor.predict(np.stack(list(others.values())))
        tests = [m.meta["ood"]["test_flagged"] for m in predictor.members]
        name = Path(members[0]).name if len(members) == 1 else "soft ensemble of all"
        test_text = f"{tests[0]:.1%}" if len(tests) == 1 else "-"
        real_flagged = np.mean([r["ood"] for r in real])
        print(f"| {name} | {test_text} | {real_flagged:.0%} ({sum(r['ood'] for r in real)}/{len(real)}) | "
              + " | ".join(f"{'**flagged**' if r['ood'] else 'missed'} ({r['ood_score']:.1f})" for r in odd) + " |")


if __name__ == "__main__":
    main()
