"""Training commands: train (and fine-tuning with --init), calibrate-ood."""
from __future__ import annotations

import argparse
from pathlib import Path

from galaxy_core.cli.common import progress_bar, ranged
from galaxy_core.errors import UserError
from galaxy_core.fileio import require_writable


def cmd_train(args) -> dict:
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.settings import checkpoints_root
    from galaxy_core.training.trainer import train

    fields = {"trainable": args.trainable} if args.trainable else {}
    if args.look_augment:
        fields["look_augment"] = True
    recipe = _base_recipe(args).with_options(args.epochs, args.image_size, args.resize, args.batch_size, args.lr, args.split, args.seed,
                                             args.weights, **fields)
    data = resolve_dataset(args.data)
    out = Path(args.out or checkpoints_root() / (f"{Path(args.init).name}_finetuned" if args.init else recipe.model))
    if args.init and out.resolve() == Path(args.init).resolve():
        raise UserError(f"--out {out} is the checkpoint being fine-tuned: choose another folder, so the original stays.")
    require_writable(out, folder=True)
    bar, update = progress_bar(f"train {recipe.model}", unit="batch")
    with bar:
        meta = train(recipe, data, out, device=args.device, workers=args.workers, max_batches=args.max_batches,
                     progress=lambda stage, done, total: (bar.set_description(f"{recipe.model} {stage}"), update(done, total)),
                     max_steps=args.max_steps, keep_check_set=args.keep_check_set)
    if meta is None:  # a non-zero rank under torchrun
        return {}
    test = meta["metrics"]["test"]
    return {"checkpoint": str(out), "model": recipe.model, "epochs_run": meta["epochs_run"], "best_epoch": meta["best_epoch"],
            "test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"], "training_seconds": meta["training_seconds"],
            "device": meta["device"], "check_set_excluded": len(meta["data"]["check_set_excluded"])}


def _base_recipe(args):
    """The study's recipe for --model, or, to fine-tune (--init), the recipe the checkpoint was trained with."""
    from galaxy_core.models import get_spec
    from galaxy_core.models.checkpoint import read_meta
    from galaxy_core.models.recipe import Recipe

    if not args.init:
        if not args.model:
            raise UserError("train needs --model NAME, or --init CHECKPOINT to fine-tune a trained model.")
        if args.trainable:
            raise UserError("--trainable is for fine-tuning: add --init CHECKPOINT.")
        return get_spec(args.model).recipe
    meta = read_meta(args.init)
    if args.model and args.model != meta["model"]:
        raise UserError(f"{args.init} holds a {meta['model']}, not a {args.model}: leave out --model to fine-tune it.")
    return Recipe.from_dict(meta["recipe"]).override(weights=None, init=str(args.init))


def cmd_calibrate_ood(args) -> dict:
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.evaluation.ood_calibration import calibrate_ood
    from galaxy_core.settings import select_device

    device = str(select_device(args.device))
    if args.data or not args.real_sample:
        calibrate_ood(args.checkpoint, Galaxy10(resolve_dataset(args.data)), device=device)
    if args.real_sample:
        from galaxy_core.data.labelled_images import real_sample
        from galaxy_core.evaluation.ood_calibration import fit_real_thresholds

        fit_real_thresholds(args.checkpoint, real_sample(), device=device)
    from galaxy_core.models.checkpoint import read_meta

    return {"checkpoint": str(args.checkpoint), "ood": read_meta(args.checkpoint)["ood"]}


def cmd_study(args) -> dict:
    import sys

    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.training.study import PRESETS, StudyOptions, run_study

    names = list(args.models or []) + ([args.preset] if args.preset else [])
    if not names:
        raise UserError(f"study needs --models NAME [NAME ...] or --preset {'|'.join(PRESETS)}.")
    options = StudyOptions(args.device, args.epochs, args.max_steps, args.image_size, args.batch_size, args.weights, args.workers)
    result = run_study(names, resolve_dataset(args.data), args.out, options, progress=lambda line: print(line, file=sys.stderr, flush=True))
    keep = ("model", "accuracy", "macro_f1", "real_accuracy", "real_low", "real_high", "train_minutes", "device")
    return {"out": str(args.out), "results_csv": result["results_csv"], "results_md": result["results_md"],
            "data_fingerprint": result["data_fingerprint"], "rows": [{k: row[k] for k in keep} for row in result["rows"]]}


def add_commands(commands) -> None:
    from galaxy_core.models import MODEL_NAMES
    from galaxy_core.settings import DEVICES
    tr = commands.add_parser("train", help="train a model; writes a checkpoint folder (resumes an interrupted run)")
    tr.add_argument("--model", choices=MODEL_NAMES, help="the model to train (with --init: taken from the checkpoint)")
    tr.add_argument("--init", help="fine-tune: start from this trained checkpoint folder, with its recipe (flags still override)")
    tr.add_argument("--trainable", choices=("all", "head"), help="with --init: train all layers (default) or the classifier head only")
    tr.add_argument("--data", help="Galaxy10 .h5 file (default: $GALAXY10_H5, else the synthetic default)")
    tr.add_argument("--epochs", type=ranged(int, 1, 10_000))
    tr.add_argument("--image-size", type=ranged(int, 16, 1024), help="side the network sees (a recipe's resize scales with it)")
    tr.add_argument("--resize", type=ranged(int, 16, 4096),
                    help="resize the 256-px cutout to this side first, then centre-crop --image-size (larger zooms in on the galaxy)")
    tr.add_argument("--batch-size", type=ranged(int, 1, 4096))
    tr.add_argument("--lr", type=ranged(float, 1e-8, 10.0), help="learning rate (default: the study's)")
    tr.add_argument("--split", help="TRAIN/VAL/TEST percentages (default: the study's)")
    tr.add_argument("--seed", type=ranged(int, 0, 2**32 - 1))
    tr.add_argument("--out", help="checkpoint folder (default: MODEL in the checkpoints root, $GALAXY_CHECKPOINTS or ./checkpoints)")
    tr.add_argument("--device", default="auto", choices=DEVICES)
    tr.add_argument("--look-augment", action="store_true",
                    help="augment scale, brightness, colour balance, seeing and noise too (for transfer to real images)")
    tr.add_argument("--weights", help="'imagenet' (download), a local .pth/.safetensors file, or 'none' (from scratch)")
    tr.add_argument("--workers", type=ranged(int, 0, 64), help="DataLoader worker processes (default: up to 4 on a GPU, none on the CPU)")
    tr.add_argument("--max-steps", type=ranged(int, 1, 10**9), help="stop after this many training steps in all (a smoke test at full "
                    "scale; validation and test stay whole)")
    tr.add_argument("--keep-check-set", action="store_true",
                    help="train on the real check-set galaxies the file holds (deliberate few-shot tuning; its check-set figure must "
                         "then come from cross-validation) instead of leaving them out of training and validation")
    tr.add_argument("--max-batches", type=ranged(int, 1, 10**9), help=argparse.SUPPRESS)  # debug: cap batches per epoch
    tr.set_defaults(run=cmd_train)
    _add_study(commands)
    cal = commands.add_parser("calibrate-ood", help="fit a checkpoint's out-of-distribution scores on the data it was trained on")
    cal.add_argument("--checkpoint", required=True, help="checkpoint folder (training does this itself)")
    cal.add_argument("--data", help="the Galaxy10 file it was trained on (default: $GALAXY10_H5, else the synthetic default)")
    cal.add_argument("--real-sample", action="store_true",
                     help="raise the thresholds so the real check set's galaxies pass, checking that every non-galaxy image is still "
                          "flagged (alone: on the synthetic fit already there; with --data: after fitting it again)")
    cal.add_argument("--device", default="auto", choices=DEVICES)
    cal.set_defaults(run=cmd_calibrate_ood)


def _add_study(commands) -> None:
    from galaxy_core.settings import DEVICES
    from galaxy_core.training.study import PRESETS

    st = commands.add_parser("study", help="train and score several models under their study recipes; one table of every model and "
                                           "ensemble rule (resumes)")
    presets = "; ".join(f"{name}: {' '.join(models)}" for name, models in PRESETS.items())
    st.add_argument("--models", nargs="+", metavar="MODEL", help=f"models to compare (registered names), or a preset ({presets})")
    st.add_argument("--preset", choices=tuple(PRESETS), help="the models of one of the two studies")
    st.add_argument("--data", help="Galaxy10 .h5 file (default: $GALAXY10_H5, else the synthetic default)")
    st.add_argument("--out", required=True, help="study folder: OUT/MODEL/ checkpoints, OUT/results.csv, results.md, results.json")
    st.add_argument("--device", default="auto", choices=DEVICES)
    st.add_argument("--epochs", type=ranged(int, 1, 10_000), help="epochs for every model (default: each study's)")
    st.add_argument("--max-steps", type=ranged(int, 1, 10**9), help="cap each model's training steps (smoke tests; scoring stays whole)")
    st.add_argument("--image-size", type=ranged(int, 16, 1024), help="one input side for every model (default: each study's own)")
    st.add_argument("--batch-size", type=ranged(int, 1, 4096), help="one batch size for every model (default: each study's)")
    st.add_argument("--weights", help="'none' trains pretrained models from scratch (no network), or 'imagenet' (default: each study's)")
    st.add_argument("--workers", type=ranged(int, 0, 64), help="DataLoader worker processes (default: up to 4 on a GPU, none on the CPU)")
    st.set_defaults(run=cmd_study)
