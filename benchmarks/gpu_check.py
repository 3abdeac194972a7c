"""The GPU check: one prepared run, within 5 minutes on a GPU, of what a study on the GPU relies on.

    benchmarks/gpu_check.sh [--device cuda|cpu] [--quick] [--steps N] [--models cnn,...] [--compile auto|on|off] [--out FILE]

1. Speed: each study model at its study resolution (weights 'none': the machine has no network) trains for a fixed
   number of steps through the trainer's own step (`training/steps.py`: augmentation, the recipe's loss, bf16 autocast
   and channels-last on CUDA) on random cutouts; images/s and peak GPU memory, eagerly and, with --compile, compiled
   (torch.compile, while the time budget lasts: its first steps compile, so only the steps after them are timed).
2. Agreement: on the weights those steps left, the device's inference pass (`inference/forward.py`, the one every
   prediction takes) against a float64 copy on the CPU, on fixed images: the largest probability difference must stay
   within the tolerance (0.02 under bf16 on a GPU, 1e-4 in float32 on the CPU).
3. Two processes: `torchrun --nproc_per_node=2` trains the baseline CNN for two DDP steps over gloo (two processes
   cannot share one GPU under NCCL), each rank on its own images, and checks both end with the same weights.

Needs only torch, torchvision, timm and numpy (galaxy_core imported from this tree); no data file, no checkpoint.
Prints a JSON line per result and a summary; exit status 1 when a check fails. `--device cpu --quick` runs the same
code on the CPU in under a minute (tests/test_gpu_check.py keeps it working).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from galaxy_core.data.transforms import preprocess  # noqa: E402
from galaxy_core.inference.forward import forward  # noqa: E402
from galaxy_core.models import create_model, get_spec  # noqa: E402
from galaxy_core.models.registry import preprocessing_for  # noqa: E402
from galaxy_core.settings import device_name, select_device  # noqa: E402
from galaxy_core.training.optim import build_optimizer  # noqa: E402
from galaxy_core.training.steps import run_epoch  # noqa: E402

STUDY_MODELS = ("cnn", "autoencoder", "resnet50", "efficientnet_b0", "efficientnet_b2")
TOLERANCE = {"cuda": 0.02, "cpu": 1e-4, "mps": 0.02}  # largest |probability difference| to the float64 CPU reference
COMPILE_BUDGET_S = 150  # compiling stops being tried once the check has run this long


def cutouts(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random 256x256 uint8 cutouts and labels (speed and agreement need no real galaxies)."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (count, 256, 256, 3), generator=generator, dtype=torch.uint8),
            torch.randint(0, 10, (count,), generator=generator))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_training(model, recipe, device, batches, warmup: int) -> float:
    """Images/s over the batches after the first `warmup` (which absorb compilation and cuDNN's autotuning)."""
    preprocessing = preprocessing_for(recipe)
    optimizer = build_optimizer(model, recipe)
    augment = torch.Generator().manual_seed(0)
    run_epoch(model, batches[:warmup], preprocessing, device, recipe, optimizer, generator=augment)
    synchronize(device)
    started = time.perf_counter()
    run_epoch(model, batches[warmup:], preprocessing, device, recipe, optimizer, generator=augment)
    synchronize(device)
    return sum(len(labels) for _, labels in batches[warmup:]) / (time.perf_counter() - started)


def agreement(model, recipe, device, images) -> float:
    """Largest |probability difference| between the device's inference pass and a float64 copy on the CPU."""
    preprocessing = preprocessing_for(recipe)
    reference = copy.deepcopy(model).cpu().double().eval()
    with torch.no_grad():
        expected = torch.softmax(reference(preprocess(images, preprocessing).double()), dim=1)
    got = torch.softmax(forward(model, images, preprocessing, device).logits.double(), dim=1)
    return float((got - expected).abs().max())


def check_model(name: str, args, device: torch.device, started: float) -> dict:
    recipe = get_spec(name).recipe.override(weights=None, **({"batch_size": 2} if args.quick else {}))
    steps, warmup = (2, 1) if args.quick else (args.steps, 3)
    images, labels = cutouts((warmup + steps) * recipe.batch_size, seed=1)
    batches = [(images[i : i + recipe.batch_size], labels[i : i + recipe.batch_size]) for i in range(0, len(images), recipe.batch_size)]
    torch.manual_seed(0)
    model = create_model(name, recipe).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.cuda.reset_peak_memory_stats(device)
    row = {"check": "speed", "model": name, "image_size": recipe.image_size, "resize": recipe.resize, "batch_size": recipe.batch_size,
           "steps": steps, "autocast": "bfloat16" if device.type == "cuda" else None, "channels_last": device.type == "cuda",
           "train_images_per_s": round(timed_training(model, recipe, device, batches, warmup), 1)}
    if device.type == "cuda":
        row["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    compile_wanted = args.compile == "on" or (args.compile == "auto" and device.type == "cuda")
    if compile_wanted and time.perf_counter() - started < COMPILE_BUDGET_S:
        compiled = torch.compile(copy.deepcopy(model))
        compile_started = time.perf_counter()
        row["compiled_train_images_per_s"] = round(timed_training(compiled, recipe, device, batches, warmup), 1)
        row["compiled_seconds_with_warmup"] = round(time.perf_counter() - compile_started, 1)
    elif compile_wanted:
        row["compiled_train_images_per_s"] = "skipped: the time budget for compiling was spent"
    difference = agreement(model, recipe, device, cutouts(4, seed=2)[0])
    row.update(max_probability_difference=difference, tolerance=TOLERANCE[device.type], agrees=difference <= TOLERANCE[device.type])
    return row


def ddp_worker(args) -> None:
    """One of torchrun's two processes: two DDP steps of the CNN at 64 px on this rank's own images."""
    import torch.distributed as dist

    from galaxy_core.training.distributed import Distributed

    device = select_device(args.device)
    ddp = Distributed.start(device)
    recipe = get_spec("cnn").recipe.override(image_size=64, batch_size=4, weights=None)
    torch.manual_seed(ddp.rank)  # different starting weights on purpose: DDP must broadcast rank 0's
    model = create_model("cnn", recipe).to(device)
    model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    images, labels = cutouts(8, seed=10 + ddp.rank)
    run_epoch(model, [(images[:4], labels[:4]), (images[4:], labels[4:])], preprocessing_for(recipe), device, recipe,
              build_optimizer(model, recipe), generator=torch.Generator().manual_seed(ddp.rank))
    flat = torch.cat([p.detach().float().flatten() for p in model.parameters()]).cpu()  # gloo gathers CPU tensors on any build
    gathered = [torch.zeros_like(flat) for _ in range(ddp.world)]
    dist.all_gather(gathered, flat)
    if ddp.main:
        spread = max(float((g - gathered[0]).abs().max()) for g in gathered)
        print(json.dumps({"check": "ddp", "world": ddp.world, "backend": dist.get_backend(), "device": str(device),
                          "max_weight_difference": spread, "agrees": spread < 1e-5}), flush=True)
    dist.barrier()
    dist.destroy_process_group()


def check_ddp(args) -> dict:
    env = {**os.environ, "GALAXY_DDP_BACKEND": "gloo", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__, "--ddp-worker",
               "--device", args.device]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"check": "ddp", "agrees": False, "error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu", "mps", "auto"))
    parser.add_argument("--quick", action="store_true", help="batch 2, 1 warm-up and 2 timed steps: keeps the code working on a CPU")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per model (after 3 warm-up steps)")
    parser.add_argument("--models", default=",".join(STUDY_MODELS))
    parser.add_argument("--compile", choices=("auto", "on", "off"), default="auto", help="auto: on CUDA only")
    parser.add_argument("--out", help="also write the summary JSON here")
    parser.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ddp_worker:
        ddp_worker(args)
        return 0
    started = time.perf_counter()
    device = select_device(args.device)
    summary = {"device": device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda, "quick": args.quick, "results": []}
    for name in args.models.split(","):
        summary["results"].append(check_model(name, args, device, started))
        print(json.dumps(summary["results"][-1]), flush=True)
    summary["results"].append(check_ddp(args))
    print(json.dumps(summary["results"][-1]), flush=True)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["passed"] = all(row.get("agrees", True) for row in summary["results"])
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
