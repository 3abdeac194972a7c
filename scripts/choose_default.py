"""Measure every candidate default answer on the real check set and record the winner in checkpoints/default.json
(galaxy_core/evaluation/default_choice.py says what the candidates are and how one wins). The command line's
predict, the API's /predict and the Classify page then answer with it when no model is named.

    python3 scripts/choose_default.py [--checkpoints DIR] [--device cpu]

Prints the table of candidates (Markdown) on stdout; train_demo_checkpoints.sh runs it after training.
"""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.data.labelled_images import real_sample
from galaxy_core.evaluation.default_choice import (
    choose,
    measure_candidates,
    measurement,
)
from galaxy_core.inference.default_answer import write_default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    folder = real_sample()
    candidates = measure_candidates(args.checkpoints, folder, args.device)
    chosen = choose(candidates)
    path = write_default(args.checkpoints, chosen.names, chosen.rule, False, measurement(chosen, folder), chosen.confidence, chosen.right,
                         candidates=[c.summary() for c in candidates], chosen_on=date.today().isoformat(),
                         command="python3 scripts/choose_default.py")
    print(f"| candidate | right of {len(folder)} | cross-entropy |\n|---|---|---|")
    for c in sorted(candidates, key=lambda c: (-c.correct, c.cross_entropy)):
        entropy = "cross-validated accuracy only" if c.cross_validated else f"{c.cross_entropy:.3f}"
        print(f"| {'**' + c.label + '**' if c is chosen else c.label} | {c.correct} | {entropy} |")
    print(f"\nRecorded in {path}: {chosen.label}.")


if __name__ == "__main__":
    main()
