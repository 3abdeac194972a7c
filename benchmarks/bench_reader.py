"""Random single-image reads and peak memory of the lazy Galaxy10 reader on a full-size file.

    python benchmarks/bench_reader.py [--file FILE] [--reads 200] [--layouts ours,contiguous,h5py-auto]

Without --file it generates (once, cached) a 17,736-image synthetic file, the real file's size.
Each layout is measured in a fresh process: open (schema checks), then `reads` random indices
read once to warm the OS cache and timed on a second pass with a new reader; peak RSS is the
process's maximum resident memory (VmHWM). Targets (issue 2): 200 warm reads under 2 s, RSS under 500 MB.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def measure(path: str, reads: int) -> dict:
    import numpy as np

    from galaxy_core.data.galaxy10 import Galaxy10

    start = time.perf_counter()
    data = Galaxy10(path)
    open_seconds = time.perf_counter() - start
    indices = np.random.default_rng(0).integers(0, len(data), reads)
    start = time.perf_counter()
    for i in indices:
        data.image(i)
    cold = time.perf_counter() - start
    data.close()
    data = Galaxy10(path)
    start = time.perf_counter()
    for i in indices:
        data.image(i)
    warm = time.perf_counter() - start
    return {
        "count": len(data),
        "chunks": data.layout.chunks,
        "compression": data.layout.compression,
        "open_seconds": round(open_seconds, 3),
        "first_pass_seconds": round(cold, 3),
        "warm_seconds": round(warm, 3),
        "ms_per_image_warm": round(warm / reads * 1000, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: the latter survives
    execve, so a child would inherit the high-water mark of the parent that started it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def copy_with_layout(source: Path, target: Path, layout: str) -> Path:
    import h5py

    if target.exists():
        return target
    options = {"contiguous": {}, "h5py-auto": {"chunks": True, "compression": "gzip"}}[layout]
    partial = target.with_name(target.name + ".partial")
    with h5py.File(source) as src, h5py.File(partial, "w") as dst:
        for key in src:
            if key != "images":
                dst.create_dataset(key, data=src[key][()])
        images = dst.create_dataset("images", shape=src["images"].shape, dtype="uint8", **options)
        for start in range(0, len(images), 555):
            images[start : start + 555] = src["images"][start : start + 555]
        dst.attrs.update(dict(src.attrs))
    partial.rename(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file")
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--layouts", default="ours")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: run one measurement
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.reads)))
        return
    if args.file:
        base = Path(args.file)
    else:
        from galaxy_core.settings import cache_dir
        from galaxy_core.data.synthetic import generate

        base = cache_dir() / "bench_galaxy10_17736.h5"
        if not base.exists():
            print(f"generating {base} (17,736 images, once)...", file=sys.stderr)
            generate(base, 17736, seed=2024)
    for layout in args.layouts.split(","):
        path = base if layout == "ours" else copy_with_layout(base, base.with_name(f"{base.stem}_{layout}.h5"), layout)
        done = subprocess.run([sys.executable, __file__, "--measure", str(path), "--reads", str(args.reads)],
                              capture_output=True, text=True, check=True)
        result = {"benchmark": "reader", "layout": layout, "reads": args.reads, **json.loads(done.stdout),
                  "target_warm_seconds": 2.0, "target_peak_rss_mb": 500}
        print(json.dumps(result))


if __name__ == "__main__":
    main()
