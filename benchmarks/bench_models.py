"""CPU (or GPU) throughput of every model: training, evaluation, and the evaluation input pipeline.

    python benchmarks/bench_models.py [--data FILE] [--image-size 64] [--batches 6] [--models cnn,...] [--device auto]

For each model: training images/s (forward, backward, step, on batches from the real loader with
augmentation); forward-only images/s on tensors already in memory (the model's ceiling); and
evaluation images/s through the whole pipeline (HDF5 read, gzip decode, preprocess, forward).
Target (issue 3): the pipeline reaches at least 85% of forward-only throughput.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from galaxy_core.data.default import resolve_dataset  # noqa: E402
from galaxy_core.data.galaxy10 import Galaxy10  # noqa: E402
from galaxy_core.data.transforms import preprocess  # noqa: E402
from galaxy_core.inference import dataset_logits  # noqa: E402
from galaxy_core.models import MODEL_NAMES, create_model, get_spec  # noqa: E402
from galaxy_core.models.registry import preprocessing_for  # noqa: E402
from galaxy_core.training.trainer import select_device  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    device = select_device(args.device)
    data = Galaxy10(resolve_dataset(args.data))
    rng = np.random.default_rng(0)
    n = args.batch_size * args.batches
    indices = np.sort(rng.choice(len(data), n, replace=False))
    images = torch.from_numpy(data.images(indices))
    for name in args.models.split(","):
        recipe = get_spec(name).recipe.override(image_size=args.image_size)
        recipe = recipe.__class__(**{**recipe.to_dict(), "weights": None,
                                     "resize": None if recipe.resize is None else round(args.image_size * recipe.resize / get_spec(name).recipe.image_size)})
        spec = preprocessing_for(recipe)
        model = create_model(name, recipe).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), 1e-4)
        labels = torch.from_numpy(data.labels[indices]).to(device)

        def train_step(batch, target):
            x = preprocess(batch, spec, augment=True, device=device)
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), target).backward()
            optimizer.step()

        model.train()
        train_step(images[: args.batch_size], labels[: args.batch_size])  # warm-up
        start = time.perf_counter()
        for b in range(args.batches):
            sl = slice(b * args.batch_size, (b + 1) * args.batch_size)
            train_step(images[sl], labels[sl])
        train_rate = n / (time.perf_counter() - start)

        model.eval()
        tensors = preprocess(images, spec, device=device)
        with torch.no_grad():
            model(tensors[: args.batch_size])
            start = time.perf_counter()
            for b in range(args.batches):
                model(tensors[b * args.batch_size : (b + 1) * args.batch_size])
        forward_rate = n / (time.perf_counter() - start)
        start = time.perf_counter()
        dataset_logits(model, data, indices, spec, device, batch_size=args.batch_size, workers=args.workers)
        pipeline_rate = n / (time.perf_counter() - start)
        print(json.dumps({"benchmark": "models", "model": name, "image_size": args.image_size, "device": str(device),
                          "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
                          "train_images_per_s": round(train_rate, 1), "forward_images_per_s": round(forward_rate, 1),
                          "evaluation_pipeline_images_per_s": round(pipeline_rate, 1),
                          "pipeline_share_of_forward": round(pipeline_rate / forward_rate, 3), "target_share": 0.85}), flush=True)


if __name__ == "__main__":
    main()
