"""The fuzz suite's long run: tests/test_fuzz.py with many more examples, and the count of inputs tried.

    python benchmarks/fuzz.py [--scale 50]

CI runs each property with its default number of examples (about a minute in all); --scale multiplies
them. Prints, per target, the inputs tried, how many loaded and how many were refused with a one-sentence
UserError, and the failures (any other exception, or a message that is not one sentence): the figures
docs/benchmarks.md records.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=50.0, help="multiply every property's number of examples (default 50)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "fuzz.json"
        env = {**os.environ, "GALAXY_FUZZ_SCALE": str(args.scale), "GALAXY_FUZZ_REPORT": str(report)}
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py"], cwd=REPO, env=env,
                             capture_output=True, text=True)
        seconds = time.perf_counter() - started
        counts = json.loads(report.read_text()) if report.exists() else {"tried": {}, "loaded": {}}
    failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
    print(f"scale {args.scale:g}: {seconds:.0f} s, pytest exit {run.returncode}")
    print("| target | inputs tried | loaded | refused with one sentence |")
    print("|---|---|---|---|")
    for target, tried in counts["tried"].items():
        loaded = counts["loaded"].get(target, 0)
        print(f"| {target} | {tried:,} | {loaded:,} | {tried - loaded:,} |")
    print(f"failures: {len(failed)}" + "".join(f"\n  {line}" for line in failed))
    if run.returncode not in (0, 1):
        print(run.stdout[-3000:], run.stderr[-3000:])


if __name__ == "__main__":
    main()
