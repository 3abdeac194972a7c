"""What one image costs before the model sees it: reading and inflating its chunk, then resizing.

    python benchmarks/bench_decode.py [--data FILE] [--n 256]

Reading: h5py's `images[i]` against the reader's path (the raw chunk, inflated by ISA-L or zlib).
Resizing a batch to each study's side: floats (the old path) against uint8 (the one `preprocess`
uses now). Single-threaded, so the figures are CPU cost per image. The best of three runs.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision.transforms.v2 import functional as TF  # noqa: E402

from galaxy_core.data.default import resolve_dataset  # noqa: E402
from galaxy_core.data.galaxy10 import Galaxy10  # noqa: E402


def ms_per_image(fn, n: int) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(min(times) / n * 1e3, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data")
    parser.add_argument("--n", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = Galaxy10(resolve_dataset(args.data))
    indices = np.sort(np.random.default_rng(0).choice(len(data), min(args.n, len(data)), replace=False))
    n = len(indices)
    images = data._images()
    raw = [images.id.read_direct_chunk((int(i), 0, 0, 0))[1] for i in indices] if data._direct_chunks else []
    result = {"benchmark": "decode", "cpu": platform.processor() or platform.machine(), "images": n,
              "layout_chunks": list(data.layout.chunks or []), "compression": data.layout.compression,
              "h5py_read_ms": ms_per_image(lambda: [images[int(i)] for i in indices], n),
              "reader_ms": ms_per_image(lambda: [data.image(int(i)) for i in indices], n)}
    if raw:
        result["inflate_zlib_ms"] = ms_per_image(lambda: [zlib.decompress(r) for r in raw], n)
        try:
            from isal.isal_zlib import decompress

            result["inflate_isal_ms"] = ms_per_image(lambda: [decompress(r) for r in raw], n)
        except ImportError:
            pass
    batch = torch.from_numpy(data.images(indices)).permute(0, 3, 1, 2)
    for side in (64, 128, 224):
        result[f"resize_{side}_float_ms"] = ms_per_image(lambda: TF.resize(batch.float().div(255), [side, side], antialias=True), n)
        result[f"resize_{side}_uint8_ms"] = ms_per_image(lambda: TF.resize(batch, [side, side], antialias=True), n)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
