"""Synthetic-generator throughput at 256x256: images per second on this machine, all cores.

    python benchmarks/bench_synth.py [--n 1200] [--workers W]

Prints one JSON object. Target (issue 2): at least 60 images/s on the 2-core reference machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from galaxy_core.data.synthetic import generate, worker_count  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1200)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "bench.h5"
        start = time.perf_counter()
        generate(out, args.n, seed=123, workers=args.workers)
        seconds = time.perf_counter() - start
        size = out.stat().st_size
    print(json.dumps({
        "benchmark": "synth",
        "images": args.n,
        "workers": worker_count(args.workers),
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "seconds": round(seconds, 2),
        "images_per_second": round(args.n / seconds, 1),
        "bytes_per_image": round(size / args.n),
        "target_images_per_second": 60,
    }))


if __name__ == "__main__":
    main()
