"""CPU (or GPU) throughput of every model: training, evaluation, and the evaluation input pipeline.

    python benchmarks/bench_models.py [--data FILE] [--image-size 64] [--batches 6] [--models cnn,...] [--device auto]

For each model: training images/s (forward, backward, step, on batches from the real loader with
augmentation); forward-only images/s on tensors already in memory (the model's ceiling); and
evaluation images/s through the whole pipeline (HDF5 read, gzip decode, preprocess, forward), on
the first pass (decoding, and writing the prepared-image cache) and on a second pass (reading it).
Target (issue 3): the pipeline reaches at least 85% of forward-only throughput.
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

from galaxy_core.data.default import resolve_dataset  # noqa: E402
from galaxy_core.settings import CACHE_ENV  # noqa: E402
from galaxy_core.data.galaxy10 import Galaxy10  # noqa: E402
from galaxy_core.data.transforms import preprocess  # noqa: E402
from galaxy_core.inference import dataset_logits  # noqa: E402
from galaxy_core.models import MODEL_NAMES, create_model, get_spec  # noqa: E402
from galaxy_core.models.registry import preprocessing_for  # noqa: E402
from galaxy_core.settings import select_device  # noqa: E402
from galaxy_core.training.steps import run_epoch  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0, help="loader processes for the first pass (0: decode in-process)")
    args = parser.parse_args()
    device = select_device(args.device)
    data = Galaxy10(resolve_dataset(args.data))
    rng = np.random.default_rng(0)
    n = args.batch_size * args.batches
    indices = np.sort(rng.choice(len(data), n, replace=n > len(data)))
    images = torch.from_numpy(data.images(indices))
    for name in args.models.split(","):
        study = get_spec(name).recipe
        recipe = study.override(image_size=args.image_size, weights=None,
                                resize=None if study.resize is None else round(args.image_size * study.resize / study.image_size))
        preprocessing = preprocessing_for(recipe)
        model = create_model(name, recipe).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), 1e-4)
        labels = torch.from_numpy(data.labels[indices])
        batches = [(images[b * args.batch_size : (b + 1) * args.batch_size], labels[b * args.batch_size : (b + 1) * args.batch_size])
                   for b in range(args.batches)]
        # The trainer's own loop: augmentation, the recipe's loss (joint for the autoencoder), clipping,
        # and on CUDA mixed precision and channels-last, exactly as `train` runs it.
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" and not torch.cuda.is_bf16_supported() else None

        def train_steps(some):
            run_epoch(model, some, preprocessing, device, recipe, optimizer, scaler, torch.Generator().manual_seed(0))
            if device.type == "cuda":
                torch.cuda.synchronize()

        train_steps(batches[:1])  # warm-up
        train_rate = n / timed(lambda: train_steps(batches))

        model.eval()
        tensors = preprocess(images, preprocessing, device=device)
        if device.type == "cuda":  # as `batch_logits` runs it
            tensors = tensors.contiguous(memory_format=torch.channels_last)

        def forward_only():
            with torch.no_grad(), torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                for b in range(args.batches):
                    model(tensors[b * args.batch_size : (b + 1) * args.batch_size])
            if device.type == "cuda":
                torch.cuda.synchronize()

        def evaluate():
            dataset_logits(model, data, indices, preprocessing, device, batch_size=args.batch_size, workers=args.workers)

        forward_only()  # warm-up
        with tempfile.TemporaryDirectory() as cache:  # an empty prepared-image cache for each model
            os.environ[CACHE_ENV] = cache
            pipeline_rate = n / timed(evaluate)  # first pass: decodes, and fills the cache
            # This machine's timings wander by 20% from run to run: the best of three, interleaved.
            forward_times, cached_times = [], []
            for _ in range(3):
                forward_times.append(timed(forward_only))
                cached_times.append(timed(evaluate))
        forward_rate, cached_rate = n / min(forward_times), n / min(cached_times)
        print(json.dumps({"benchmark": "models", "model": name, "image_size": args.image_size, "device": str(device),
                          "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
                          "train_images_per_s": round(train_rate, 1), "forward_images_per_s": round(forward_rate, 1),
                          "evaluation_pipeline_images_per_s": round(pipeline_rate, 1),
                          "pipeline_share_of_forward": round(pipeline_rate / forward_rate, 3),
                          "cached_pipeline_images_per_s": round(cached_rate, 1),
                          "cached_share_of_forward": round(cached_rate / forward_rate, 3), "target_share": 0.85}), flush=True)


if __name__ == "__main__":
    main()
