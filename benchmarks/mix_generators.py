"""A training file drawn from several generator versions at once (domain randomisation across looks):
image i and its label come from input file i mod K, so each version supplies every K-th galaxy.

    python benchmarks/mix_generators.py --data V2.h5 V6.h5 --out MIXED.h5

The inputs must be synthetic files of the same size (e.g. `synth --out FILE --n 5000 --generator-version V` for
each V). The compressed image chunks are copied as they are, so mixing 5,000 images takes seconds. The result is
marked synthetic, with generator_version naming the versions (e.g. "2+6"), and is written atomically. Compare
models trained on it with benchmarks/compare_generators.py.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import h5py

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.data.galaxy10 import IMAGES_KEY, LABELS_KEY, METADATA_KEYS, Galaxy10  # noqa: E402
from galaxy_core.data.galaxy10_writer import create_galaxy10_datasets  # noqa: E402
from galaxy_core.errors import UserError  # noqa: E402
from galaxy_core.fileio import fsync_path  # noqa: E402


def mix(sources: list[Path], out: Path) -> Path:
    inputs = [Galaxy10(path) for path in sources]
    sizes = {len(data) for data in inputs}
    if len(sizes) != 1 or not all(data.is_synthetic for data in inputs) or len({d.image_shape for d in inputs}) != 1:
        raise UserError("Mix synthetic files of the same size and image shape (one per generator version).")
    n, (height, width, _) = sizes.pop(), inputs[0].image_shape
    versions = "+".join(str(data.attrs.get("generator_version")) for data in inputs)
    partial = out.with_name(out.name + ".partial")
    handles = [h5py.File(path, "r") for path in sources]
    try:
        with h5py.File(partial, "w") as f:
            create_galaxy10_datasets(f, n, height, width)
            for i in range(n):
                source = handles[i % len(handles)]
                _, chunk = source[IMAGES_KEY].id.read_direct_chunk((i, 0, 0, 0))
                f[IMAGES_KEY].id.write_direct_chunk((i, 0, 0, 0), chunk)
            for key in (LABELS_KEY, *METADATA_KEYS):
                column = f[key][()]
                for k, source in enumerate(handles):
                    column[k :: len(handles)] = source[key][k :: len(handles)]
                f[key][...] = column
            f.attrs.update({"synthetic": True, "generator": "galaxy_core.synthetic", "generator_version": versions,
                            "seed": int(inputs[0].attrs.get("seed", 0)), "n": n, "balance": "mixed",
                            "description": f"Synthetic Galaxy10 images mixed from generator versions {versions}."})
    finally:
        for handle in handles:
            handle.close()
    fsync_path(partial)
    os.replace(partial, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, type=Path, help="synthetic files, one per generator version")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    try:
        path = mix(args.data, args.out)
    except UserError as error:
        raise SystemExit(f"error: {error}")
    data = Galaxy10(path)
    print(f"{path}: {len(data)} images, generator versions {data.attrs.get('generator_version')}, "
          f"class counts {data.class_counts().tolist()}")


if __name__ == "__main__":
    main()
