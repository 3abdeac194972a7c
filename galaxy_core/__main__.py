"""The command line: `python -m galaxy_core COMMAND ...`. Errors are one line on stderr, exit code 2."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from galaxy_core.errors import UserError, one_sentence
from galaxy_core.fileio import os_error_reason, require_writable

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        self.exit(EXIT_USER_ERROR, f"error: {message} (see `{self.prog} --help`)\n")


def _ranged(kind, low, high):
    """An argparse type that also checks the range: `--image-size 0` is refused, not trained at 256."""
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if not low <= value <= high:  # also refuses nan and inf
            shown = (f"{low:,} to {high:,}") if kind is int else (f"{low:g} to {high:g}")
            raise argparse.ArgumentTypeError(f"{text} is outside {shown}")
        return value

    convert.__name__ = kind.__name__
    return convert


def _progress_bar(description: str, unit: str = "img", unit_scale: bool = False):
    """A tqdm bar on stderr, fed with (done, total) callbacks."""
    from tqdm import tqdm

    bar = tqdm(desc=description, unit=unit, unit_scale=unit_scale, file=sys.stderr, dynamic_ncols=True,
               disable=None)  # disabled when stderr is not a terminal

    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    return bar, update


def cmd_synth(args) -> dict:
    from galaxy_core.data.default import ensure_default_dataset
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.synthetic import GENERATOR_VERSION, generate

    if args.default == (args.out is not None):
        raise UserError("synth needs exactly one of --out FILE or --default.")
    version = GENERATOR_VERSION if args.generator_version is None else args.generator_version
    if args.default and version != GENERATOR_VERSION:
        raise UserError(f"The default dataset is always generator v{GENERATOR_VERSION}, the shipped checkpoints' own: "
                        f"write v{version} with --out FILE instead.")
    if args.out:
        require_writable(args.out)
    bar, update = _progress_bar(f"synth {args.out or 'default dataset'}")
    with bar:
        if args.default:
            path = ensure_default_dataset(progress=update)
        else:
            path = generate(args.out, args.n, seed=args.seed, balance=args.balance, workers=args.workers, progress=update,
                            version=version)
    return Galaxy10(path).info()


def cmd_info(args) -> dict:
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.data.galaxy10 import Galaxy10

    bar, update = _progress_bar("creating the default synthetic dataset (once)")
    with bar:
        path = resolve_dataset(args.file or args.data, progress=update)
    data = Galaxy10(path)
    info = data.info()
    if args.verify:
        bar, update = _progress_bar(f"verify {path.name}")
        with bar:
            data.verify(progress=update)
        info["verified"] = f"all {len(data):,} images decode"
    if args.split:
        from galaxy_core.data.splits import stratified_split

        info["split"] = stratified_split(Galaxy10(path).labels, args.split, args.split_seed).describe()
    return info


def cmd_download(args) -> dict:
    from galaxy_core.data.download import download

    require_writable(args.out)
    bar, update = _progress_bar("download", unit="B", unit_scale=True)
    with bar:
        path = download(args.out, url=args.url, sha256=args.sha256, progress=update)
    return {"path": str(path), "size_bytes": path.stat().st_size, "sha256": args.sha256.lower(),
            "use_it": f"export GALAXY10_H5={path}"}


def cmd_repack(args) -> dict:
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.galaxy10_writer import repack

    require_writable(args.output)
    bar, update = _progress_bar(f"repack {args.output}")
    with bar:
        path = repack(args.input, args.output, progress=update)
    return Galaxy10(path).info()


def cmd_import(args) -> dict:
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.galaxy10_writer import import_images
    from galaxy_core.data.labelled_images import read_labelled_folder

    folder = read_labelled_folder(args.images, args.labels)
    require_writable(args.out)
    bar, update = _progress_bar(f"import {folder.name}")
    with bar:
        path = import_images(folder, args.out, progress=update)
    return Galaxy10(path).info()


def cmd_train(args) -> dict:
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.settings import checkpoints_root
    from galaxy_core.training.trainer import train

    study = _base_recipe(args)
    given = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr, "split": args.split, "seed": args.seed}
    changes = {field: value for field, value in given.items() if value is not None}
    if args.weights is not None:
        changes["weights"] = None if args.weights.lower() == "none" else args.weights  # none: from scratch
    if args.epochs and study.cosine_t_max == study.epochs:
        changes["cosine_t_max"] = args.epochs  # a shorter run anneals over its own length
    if args.image_size:
        changes["image_size"] = args.image_size
        changes["resize"] = None if study.resize is None else round(args.image_size * study.resize / study.image_size)
    if args.resize:
        side = args.image_size or study.image_size
        if args.resize < side:
            raise UserError(f"--resize {args.resize} is smaller than the image size {side}: give at least {side} (larger zooms in).")
        changes["resize"] = args.resize
    if args.trainable:
        changes["trainable"] = args.trainable
    if args.look_augment:
        changes["look_augment"] = True
    recipe = study.override(**changes)
    data = resolve_dataset(args.data)
    out = Path(args.out or checkpoints_root() / (f"{Path(args.init).name}_finetuned" if args.init else recipe.model))
    if args.init and out.resolve() == Path(args.init).resolve():
        raise UserError(f"--out {out} is the checkpoint being fine-tuned: choose another folder, so the original stays.")
    require_writable(out, folder=True)
    bar, update = _progress_bar(f"train {recipe.model}", unit="batch")
    with bar:
        meta = train(recipe, data, out, device=args.device, workers=args.workers, max_batches=args.max_batches,
                     progress=lambda stage, done, total: (bar.set_description(f"{recipe.model} {stage}"), update(done, total)))
    if meta is None:  # a non-zero rank under torchrun
        return {}
    test = meta["metrics"]["test"]
    return {"checkpoint": str(out), "model": recipe.model, "epochs_run": meta["epochs_run"], "best_epoch": meta["best_epoch"],
            "test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"], "training_seconds": meta["training_seconds"],
            "device": meta["device"]}


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

    entry = calibrate_ood(args.checkpoint, Galaxy10(resolve_dataset(args.data)), device=str(select_device(args.device)))
    return {"checkpoint": str(args.checkpoint), "ood": entry}


def cmd_evaluate(args) -> dict:
    from galaxy_core.evaluation.metrics import SUMMARY_KEYS
    from galaxy_core.settings import select_device

    if (args.checkpoint is None) == (args.ensemble is None):
        raise UserError("evaluate needs --checkpoint DIR, or --ensemble RULE with --checkpoints DIR DIR [...].")
    device = str(select_device(args.device))
    if args.images or args.real_sample or args.labels:
        result = _evaluate_images(args, device)
    else:
        result = _evaluate_dataset(args, device)
    if not args.json:  # a short summary; --json gives everything
        metrics = result["metrics"]
        result = {k: v for k, v in result.items() if k != "metrics"}
        result["metrics"] = {k: metrics[k] for k in ("count", *SUMMARY_KEYS, "accuracy_interval")}
    return result


def _evaluate_images(args, device: str) -> dict:
    from galaxy_core.data.labelled_images import read_labelled_folder, real_sample
    from galaxy_core.evaluation.folders import evaluate_folder

    if args.real_sample == bool(args.images):
        raise UserError("Give either --images DIR [--labels CSV] or --real-sample, not both (nor --labels alone).")
    if args.data or args.temperature or args.split != "test":
        raise UserError("--data, --split and --temperature are for Galaxy10 files: leave them out when evaluating a folder of images.")
    folder = real_sample() if args.real_sample else read_labelled_folder(args.images, args.labels)
    if args.checkpoint:
        return evaluate_folder([args.checkpoint], folder, None, args.tta, device)
    if len(args.checkpoints or []) < 2:
        raise UserError("An ensemble needs at least two checkpoints: pass --checkpoints DIR DIR [...].")
    return evaluate_folder(args.checkpoints, folder, args.ensemble, args.tta, device, args.out)


def _evaluate_dataset(args, device: str) -> dict:
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.evaluation.evaluate import evaluate_checkpoint, evaluate_ensemble

    data = Galaxy10(resolve_dataset(args.data))
    if args.checkpoint:
        return evaluate_checkpoint(args.checkpoint, data, args.split, args.tta, args.temperature, device=device)
    return evaluate_ensemble(args.ensemble, args.checkpoints or [], data, args.split, args.tta, device=device, out=args.out)


def cmd_predict(args) -> dict:
    import numpy as np

    from galaxy_core.data.images import load_image
    from galaxy_core.inference.predictor import Predictor
    from galaxy_core.settings import select_device

    # `--checkpoints A B img.jpg` is the documented form: a checkpoint is a folder, so anything
    # else in that greedy list is one of the images that follow it.
    listed = args.checkpoints or []
    images = [*args.images, *[p for p in listed if not Path(p).is_dir() and Path(p).suffix]]
    listed = [p for p in listed if p not in images]
    sky = args.ra is not None or args.dec is not None
    if sky and (args.ra is None or args.dec is None or images):
        raise UserError("A sky position needs both --ra and --dec (in degrees) and no image files.")
    if args.catalog and (images or sky or not args.out):
        raise UserError("A catalogue run takes --catalog CSV --out PREDICTIONS.csv, and no image files or --ra/--dec.")
    if args.out and not args.catalog:
        raise UserError("--out is for catalogue runs: add --catalog CSV.")
    if not images and not sky and not args.catalog:
        raise UserError("predict needs at least one image file, --ra RA --dec DEC, or --catalog CSV --out FILE.")
    checkpoints = [args.checkpoint] if args.checkpoint else (listed or _default_checkpoints())
    if args.checkpoint and args.ensemble:
        raise UserError("Give either --checkpoint DIR or --ensemble RULE [--checkpoints DIR ...], not both.")
    predictor = Predictor(checkpoints, args.ensemble if not args.checkpoint else None, device=str(select_device(args.device)), tta=args.tta)
    if args.catalog:
        return _predict_catalogue(args, predictor, checkpoints)
    if sky:
        cutout = _cutout_client(args, predictor).fetch(args.ra, args.dec)
        result = predictor.predict(cutout.image.pixels[None])[0]
        if not args.json:
            result.pop("probabilities")
        result.update(ra=cutout.ra, dec=cutout.dec, url=cutout.url, notes=cutout.image.notes)
        return {"checkpoints": [str(c) for c in checkpoints], "ensemble": args.ensemble if not args.checkpoint else None,
                "predictions": [result]}
    decoded = [load_image(path) for path in images]
    results = predictor.predict(np.stack([d.pixels for d in decoded]))
    for path, d, r in zip(images, decoded, results):
        r["image"] = str(path)
        r["notes"] = d.notes
        if not args.json:
            r.pop("probabilities")
    return {"checkpoints": [str(c) for c in checkpoints], "ensemble": args.ensemble if not args.checkpoint else None, "predictions": results}


def cmd_serve(args) -> dict:
    import uvicorn

    from galaxy_core.service.app import ServiceSettings, create_app
    from galaxy_core.settings import checkpoints_root

    settings = ServiceSettings(checkpoints=str(Path(args.checkpoints or checkpoints_root()).resolve()), device=args.device,
                               max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue, max_files=args.max_files,
                               cors_origins=args.cors_origins or "")
    if not Path(settings.checkpoints).is_dir():
        raise UserError(f"{args.checkpoints} is not a folder of checkpoints: give the folder that holds them (default checkpoints/).")
    if args.workers == 1:  # one process: build the app here, so a bad setting fails before the port opens
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    else:  # each worker process builds its own app (and loads its own models) from these settings
        os.environ.update(settings.to_env())
        uvicorn.run("galaxy_core.service.app:app_from_env", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level="warning")
    return {"served": f"http://{args.host}:{args.port}", "stopped": True}


def _cutout_client(args, predictor):
    """The cutout client for `predict --ra/--dec` and `--catalog`: at the models' training pixel scale unless --pixscale says."""
    from galaxy_core.data.cutouts import CutoutClient, training_pixscale

    pixscale = args.pixscale if args.pixscale is not None else training_pixscale([m.meta for m in predictor.members])
    return CutoutClient(args.cutout_url, layer=args.layer, pixscale=pixscale, size=args.size)


def _predict_catalogue(args, predictor, checkpoints) -> dict:
    """`predict --catalog`: streamed, resumable; under torchrun each process takes every N-th row, then rank 0 merges."""
    from galaxy_core.catalogue import merge_shards, run_catalogue, shard_outputs

    out = Path(args.out)
    require_writable(out)
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    client = _cutout_client(args, predictor)
    target = out if world == 1 else shard_outputs(out, world)[rank]
    bar, update = _progress_bar(f"catalogue {Path(args.catalog).name}" + (f" (rank {rank})" if world > 1 else ""), unit="row")
    with bar:
        counts = run_catalogue(predictor, client, args.catalog, target, args.cutouts_dir, update, rank, world, merged=out)
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("gloo")
        dist.barrier()  # every part file is complete
        if rank == 0:
            counts["merged_rows"] = merge_shards(out, world)
        dist.barrier()
        dist.destroy_process_group()
        if rank != 0:
            return {}
    return {"checkpoints": [str(c) for c in checkpoints], "catalogue": str(args.catalog), **counts, "out": str(out)}


def cmd_similar(args) -> dict:
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.images import load_image
    from galaxy_core.evaluation.similarity import dataset_embeddings, image_embedding, neighbours
    from galaxy_core.models.checkpoint import load_checkpoint
    from galaxy_core.settings import select_device

    sky = args.ra is not None or args.dec is not None
    if sum([args.index is not None, args.image is not None, sky]) != 1 or (sky and (args.ra is None or args.dec is None)):
        raise UserError("similar needs exactly one query: --index I, --image FILE, or --ra RA --dec DEC.")
    device = select_device(args.device)
    model, meta = load_checkpoint(args.checkpoint, device)
    data = Galaxy10(resolve_dataset(args.data))
    bar, update = _progress_bar(f"embeddings of {data.path.name} (once)")
    with bar:
        embeddings = dataset_embeddings(args.checkpoint, model, meta, data, device, progress=update)
    query = {}
    if args.index is not None:
        pixels, exclude = data.image(args.index), args.index
        query = {"index": args.index, "label": int(data.labels[args.index])}
    elif args.image is not None:
        pixels, exclude = load_image(args.image).pixels, None
        query = {"image": str(args.image)}
    else:
        from galaxy_core.data.cutouts import CutoutClient, training_pixscale

        cutout = CutoutClient(args.cutout_url, pixscale=training_pixscale([meta])).fetch(args.ra, args.dec)
        pixels, exclude = cutout.image.pixels, None
        query = {"ra": cutout.ra, "dec": cutout.dec, "url": cutout.url}
    found = neighbours(embeddings, data.labels, image_embedding(model, pixels, meta, device), args.k, exclude)
    return {"checkpoint": str(args.checkpoint), "data": data.path.name, "query": query, "neighbours": found}


def _default_checkpoints() -> list:
    from galaxy_core.models.checkpoint import find_checkpoints
    from galaxy_core.settings import checkpoints_root

    found = find_checkpoints(checkpoints_root())
    if not found:
        raise UserError(f"No checkpoints found in {checkpoints_root()}: train one with `python -m galaxy_core train --model cnn`.")
    return found


def build_parser() -> argparse.ArgumentParser:
    from galaxy_core.data.download import DEFAULT_FILENAME, ZENODO_SHA256, ZENODO_URL
    from galaxy_core.data.splits import SCHEMES
    from galaxy_core.settings import DEVICES

    parser = _Parser(prog="python -m galaxy_core", description="Galaxy10 DECaLS: data, training, evaluation.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    synth = commands.add_parser("synth", help="write a synthetic Galaxy10 file with the real schema")
    synth.add_argument("--out", help="output .h5 file")
    synth.add_argument("--default", action="store_true", help="create the embedded default dataset in the cache (if missing)")
    synth.add_argument("--n", type=_ranged(int, 1, 2_000_000), default=17736, help="number of images (default: the real file's 17,736)")
    synth.add_argument("--seed", type=_ranged(int, 0, 2**32 - 1), default=0)
    synth.add_argument("--balance", choices=("real", "uniform"), default="real", help="class balance (default: the real counts)")
    synth.add_argument("--workers", type=_ranged(int, 1, 256), default=None, help="processes (default: one per core)")
    synth.add_argument("--generator-version", type=int, default=None,
                       help="2 (default: the shipped checkpoints were trained on it), 5 or 6 (closer to the real check set's "
                            "image statistics; galaxy_core/data/synthetic/looks.py says how each differs)")
    synth.set_defaults(run=cmd_synth)

    info = commands.add_parser("info", help="describe a Galaxy10 file as one JSON object")
    info.add_argument("file", nargs="?", help="the .h5 file (default: --data, $GALAXY10_H5, or the embedded default)")
    info.add_argument("--data", help="the .h5 file")
    info.add_argument("--verify", action="store_true", help="read and decode every image (finds a corrupt chunk, names its index)")
    info.add_argument("--split", choices=sorted(SCHEMES), default=None, help="also describe this train/val/test split")
    info.add_argument("--split-seed", type=_ranged(int, 0, 2**32 - 1), default=0)
    info.set_defaults(run=cmd_info)

    down = commands.add_parser("download", help="download the real Galaxy10_DECals.h5 (2.54 GB), resumable and verified")
    down.add_argument("--out", default=DEFAULT_FILENAME, help=f"output file (default: ./{DEFAULT_FILENAME})")
    down.add_argument("--url", default=ZENODO_URL, help="source (default: Zenodo)")
    down.add_argument("--sha256", default=ZENODO_SHA256, help="expected SHA256 (default: the Zenodo file's)")
    down.set_defaults(run=cmd_download)

    from galaxy_core.models import MODEL_NAMES

    tr = commands.add_parser("train", help="train a model; writes a checkpoint folder (resumes an interrupted run)")
    tr.add_argument("--model", choices=MODEL_NAMES, help="the model to train (with --init: taken from the checkpoint)")
    tr.add_argument("--init", help="fine-tune: start from this trained checkpoint folder, with its recipe (flags still override)")
    tr.add_argument("--trainable", choices=("all", "head"), help="with --init: train all layers (default) or the classifier head only")
    tr.add_argument("--data", help="Galaxy10 .h5 file (default: $GALAXY10_H5, else the synthetic default)")
    tr.add_argument("--epochs", type=_ranged(int, 1, 10_000))
    tr.add_argument("--image-size", type=_ranged(int, 16, 1024), help="side the network sees (a recipe's resize scales with it)")
    tr.add_argument("--resize", type=_ranged(int, 16, 4096),
                    help="resize the 256-px cutout to this side first, then centre-crop --image-size (larger zooms in on the galaxy)")
    tr.add_argument("--batch-size", type=_ranged(int, 1, 4096))
    tr.add_argument("--lr", type=_ranged(float, 1e-8, 10.0), help="learning rate (default: the study's)")
    tr.add_argument("--split", help="TRAIN/VAL/TEST percentages (default: the study's)")
    tr.add_argument("--seed", type=_ranged(int, 0, 2**32 - 1))
    tr.add_argument("--out", help="checkpoint folder (default: MODEL in the checkpoints root, $GALAXY_CHECKPOINTS or ./checkpoints)")
    tr.add_argument("--device", default="auto", choices=DEVICES)
    tr.add_argument("--look-augment", action="store_true",
                    help="augment scale, brightness, colour balance, seeing and noise too (for transfer to real images)")
    tr.add_argument("--weights", help="'imagenet' (download), a local .pth/.safetensors file, or 'none' (from scratch)")
    tr.add_argument("--workers", type=_ranged(int, 0, 64), help="DataLoader worker processes (default: up to 4 on a GPU, none on the CPU)")
    tr.add_argument("--max-batches", type=_ranged(int, 1, 10**9), help=argparse.SUPPRESS)  # debug: cap batches per epoch
    tr.set_defaults(run=cmd_train)

    from galaxy_core.inference.ensemble import RULES

    ev = commands.add_parser("evaluate", help="metrics and per-image predictions of a checkpoint or an ensemble")
    ev.add_argument("--checkpoint", help="checkpoint folder")
    ev.add_argument("--ensemble", choices=RULES, help="combine --checkpoints by this rule")
    ev.add_argument("--checkpoints", nargs="+", help="checkpoint folders for --ensemble")
    ev.add_argument("--data", help="Galaxy10 .h5 file (default: $GALAXY10_H5, else the synthetic default)")
    ev.add_argument("--split", default="test", choices=("train", "val", "test"))
    ev.add_argument("--images", help="a folder of labelled JPEG/PNG images instead of a Galaxy10 file (labels.csv or class-named sub-folders)")
    ev.add_argument("--labels", help="with --images: a CSV with columns file,label (label: 0-9 or a class name)")
    ev.add_argument("--real-sample", action="store_true",
                    help="the real check set shipped with galaxy_core (60 real galaxies; a development set)")
    ev.add_argument("--tta", action="store_true", help="average the 8 rotations/flips")
    ev.add_argument("--temperature", action="store_true", help="temperature scaling fitted on the validation split")
    ev.add_argument("--device", default="auto", choices=DEVICES)
    ev.add_argument("--out", help="ensemble results folder (default: ensembles/RULE_SPLIT in the checkpoints root)")
    ev.add_argument("--json", action="store_true", help="print every metric (per class, confusion matrix, reliability)")
    ev.set_defaults(run=cmd_evaluate)

    cal = commands.add_parser("calibrate-ood", help="fit a checkpoint's out-of-distribution scores on the data it was trained on")
    cal.add_argument("--checkpoint", required=True, help="checkpoint folder (training does this itself)")
    cal.add_argument("--data", help="the Galaxy10 file it was trained on (default: $GALAXY10_H5, else the synthetic default)")
    cal.add_argument("--device", default="auto", choices=DEVICES)
    cal.set_defaults(run=cmd_calibrate_ood)

    pr = commands.add_parser("predict", help="classify JPEG/PNG files")
    pr.add_argument("images", nargs="*", help="image files (any size or mode: converted as in training)")
    pr.add_argument("--checkpoint", help="one checkpoint folder")
    pr.add_argument("--ensemble", choices=RULES, help="combine --checkpoints (default: all in checkpoints/) by this rule")
    pr.add_argument("--checkpoints", nargs="+")
    pr.add_argument("--device", default="auto", choices=DEVICES)
    pr.add_argument("--json", action="store_true", help="include every class's probability")
    pr.add_argument("--tta", action="store_true", help="average each model's probabilities over the 8 rotations/flips (8x the compute)")
    pr.add_argument("--ra", type=float, help="classify the Legacy Surveys cutout at this RA (degrees, with --dec)")
    pr.add_argument("--dec", type=float, help="... and this Dec (degrees)")
    pr.add_argument("--cutout-url", help="the cutout service (default: $GALAXY_CUTOUT_URL, else the Legacy Surveys viewer)")
    pr.add_argument("--layer", default="ls-dr10-grz", help="survey layer (default ls-dr10-grz, grz as Galaxy10 DECaLS)")
    pr.add_argument("--pixscale", type=_ranged(float, 0.01, 10.0),
                    help="arcsec per pixel (default: the scale the model's training data was at, else 0.262, the DECam pixel)")
    pr.add_argument("--size", type=_ranged(int, 16, 3000), default=256, help="cutout side in pixels (default 256, as Galaxy10)")
    pr.add_argument("--catalog", help="a CSV of positions (columns ra, dec, optionally id) to classify, one cutout per row")
    pr.add_argument("--out", help="the predictions CSV a --catalog run streams to (it resumes when run again)")
    pr.add_argument("--cutouts-dir", help="keep each fetched cutout here as ID.jpg")
    pr.set_defaults(run=cmd_predict)

    sim = commands.add_parser("similar", help="the k dataset galaxies nearest to a query in a model's latent space (cosine)")
    sim.add_argument("--checkpoint", required=True)
    sim.add_argument("--index", type=_ranged(int, 0, 10**9), help="query: a dataset image")
    sim.add_argument("--image", help="query: a JPEG/PNG file")
    sim.add_argument("--ra", type=float, help="query: the Legacy Surveys cutout at RA (with --dec)")
    sim.add_argument("--dec", type=float)
    sim.add_argument("--cutout-url", help="the cutout service (default: $GALAXY_CUTOUT_URL, else the Legacy Surveys viewer)")
    sim.add_argument("--k", type=_ranged(int, 1, 1000), default=12)
    sim.add_argument("--data", help="Galaxy10 .h5 file to search (default: $GALAXY10_H5, else the synthetic default)")
    sim.add_argument("--device", default="auto", choices=DEVICES)
    sim.add_argument("--json", action="store_true", help="(the output is always JSON; accepted for symmetry with predict)")
    sim.set_defaults(run=cmd_similar)

    srv = commands.add_parser("serve", help="the HTTP API (FastAPI + uvicorn): /predict, /predict1, /predict2, /predict/sky, /models, /health, /docs")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    srv.add_argument("--port", type=_ranged(int, 1, 65535), default=8000)
    srv.add_argument("--checkpoints", help="the folder of checkpoints to serve (default: checkpoints/)")
    srv.add_argument("--workers", type=_ranged(int, 1, 64), default=1, help="processes, each with its own copy of the models")
    srv.add_argument("--device", default="auto", choices=DEVICES)
    srv.add_argument("--max-batch", type=_ranged(int, 1, 1024), default=16, help="images per forward pass (default 16)")
    srv.add_argument("--max-wait-ms", type=_ranged(float, 0.0, 1000.0), default=5.0, help="how long a batch waits for more requests (default 5)")
    srv.add_argument("--max-queue", type=_ranged(int, 1, 100_000), default=256, help="images waiting before 503 (default 256)")
    srv.add_argument("--max-files", type=_ranged(int, 1, 256), default=16, help="files per request (default 16)")
    srv.add_argument("--cors-origins", help="comma-separated origins allowed to call from a browser (default: none)")
    srv.set_defaults(run=cmd_serve)

    imp = commands.add_parser("import", help="turn a folder of labelled JPEG/PNG images into a Galaxy10-schema file")
    imp.add_argument("--images", required=True, help="folder with labels.csv (file,label) or class-named sub-folders")
    imp.add_argument("--labels", help="a CSV with columns file,label (default: the folder's labels.csv)")
    imp.add_argument("--out", required=True, help="the .h5 file to write")
    imp.set_defaults(run=cmd_import)

    pack = commands.add_parser("repack", help="rewrite a Galaxy10 file with one chunk per image (fast random access)")
    pack.add_argument("input")
    pack.add_argument("output")
    pack.set_defaults(run=cmd_repack)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # a cancelled background run stops like Ctrl-C: resumable


def main(argv: list[str] | None = None) -> int:
    import signal

    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _interrupt)
    from galaxy_core.settings import quiet_library_warnings

    quiet_library_warnings()
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except UserError as exc:
        print(f"error: {one_sentence(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume.", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: this machine ran out of memory: use fewer or smaller images, a smaller --batch-size or a smaller model.", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # a path too long, a full disk, a permission: the input's fault, not a bug
        print(f"error: a file could not be read or written ({os_error_reason(exc)}): check the paths given and the free space.",
              file=sys.stderr)
        return EXIT_USER_ERROR
    try:
        print(json.dumps(json_safe(result), indent=2, allow_nan=False), flush=True)
    except BrokenPipeError:  # the reader left early (`... | head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush finds somewhere to write
        return 141
    return 0


def json_safe(value):
    """Strict JSON: NaN and infinities become null (json.dumps would write NaN, which no parser accepts)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
