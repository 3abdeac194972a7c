"""How fast the default answer is, as the Classify page and `predict` use it (issue 30, item 6): one upload decoded,
classified and explained (every member's map and the ensemble's), and a batch of 100 without maps, after the
models are loaded. Targets on the 2-core reference machine: one upload with its map <= 1.5 s; >= 10 images/s.

    python3 benchmarks/bench_classify_speed.py [--repeats 5] [--batch 100]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.data.images import load_image  # noqa: E402
from galaxy_core.data.labelled_images import real_sample  # noqa: E402
from galaxy_core.evaluation.explain import explain_prediction  # noqa: E402
from galaxy_core.inference.default_answer import read_default  # noqa: E402
from galaxy_core.inference.predictor import Predictor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    recorded = read_default(REPO / "checkpoints")
    predictor = Predictor(recorded.checkpoints, recorded.rule, tta=recorded.tta)
    files = real_sample().files
    upload = files[0].read_bytes()

    def one_upload() -> float:
        started = time.perf_counter()
        pixels = load_image(upload, name="upload.jpg").pixels[None]
        explain_prediction(predictor, pixels, predictor.predict(pixels))
        return time.perf_counter() - started

    one_upload()  # warm-up: first passes allocate
    singles = [one_upload() for _ in range(args.repeats)]
    images = np.stack([load_image(files[i % len(files)]).pixels for i in range(args.batch)])
    predictor.predict(images[:8])
    rates = []
    for _ in range(max(1, args.repeats // 2)):
        started = time.perf_counter()
        for start in range(0, len(images), 32):  # as predict and the page batch them
            predictor.predict(images[start : start + 32])
        rates.append(len(images) / (time.perf_counter() - started))
    name = recorded.names[0] if recorded.rule is None else f"{recorded.rule} over {len(recorded.names)}"
    print(json.dumps({"default": name, "threads": torch.get_num_threads(), "one_upload_with_maps_s_median": statistics.median(singles),
                      "one_upload_with_maps_s": [round(s, 3) for s in singles], "batch": args.batch,
                      "batch_images_per_s_median": statistics.median(rates), "batch_images_per_s": [round(r, 1) for r in rates]}, indent=1))


if __name__ == "__main__":
    main()
