"""The gap between synthetic and real galaxies in each model's latent space (issue "Real galaxies in the latent space"):
`latent` for every checkpoint given, on the real check set, tabulated beside the model's real accuracy.

    python3 benchmarks/latent_gap.py [--checkpoints checkpoints/*] [--data FILE] [--out table.md]

Models trained on other generator versions: train them (benchmarks/compare_generators.py writes runs/) and pass their
folders with --checkpoints and their own file with --data, one version per run.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", nargs="+", default=sorted(str(p.parent) for p in (REPO / "checkpoints").glob("*/meta.json")))
    parser.add_argument("--data")
    parser.add_argument("--out")
    args = parser.parse_args()
    from galaxy_core.cli import main as cli

    lines = ["| checkpoint | two-sample AUC (95% CI) | neighbour agreement | model's real accuracy | mean class shift | seconds |",
             "|---|---|---|---|---|---|"]
    for checkpoint in args.checkpoints:
        started, out = time.perf_counter(), io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli(["latent", "--checkpoint", checkpoint, "--json", "--device", "cpu", *(["--data", args.data] if args.data else [])])
        if code:
            lines.append(f"| {Path(checkpoint).name} | failed (exit {code}) | | | | |")
            continue
        r = json.loads(out.getvalue())
        shifts = [c["shift"] for c in r["per_class"].values() if c["shift"] is not None]
        low, high = r["two_sample_auc_ci"]
        lines.append(f"| {Path(checkpoint).name} | {r['two_sample_auc']:.3f} ({low:.3f}–{high:.3f}) | {r['neighbour_agreement']:.0%} | "
                     f"{r['model_accuracy']:.0%} | {sum(shifts) / len(shifts):.2f} | {time.perf_counter() - started:.0f} |")
        print(lines[-1], flush=True)
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
