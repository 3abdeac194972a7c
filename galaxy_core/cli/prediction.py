"""Prediction commands: predict (image files, a sky position, a catalogue) and similar."""
from __future__ import annotations

import os
from pathlib import Path

from galaxy_core.cli.common import add_model_flags, chosen_models, images_and_checkpoints, progress_bar, ranged
from galaxy_core.errors import UserError
from galaxy_core.fileio import require_writable


def cmd_predict(args) -> dict:
    import numpy as np

    from galaxy_core.data.images import load_image
    from galaxy_core.inference.predictor import Predictor
    from galaxy_core.settings import select_device

    images, listed = images_and_checkpoints(args.images, args.checkpoints)
    sky = args.ra is not None or args.dec is not None
    if sky and (args.ra is None or args.dec is None or images):
        raise UserError("A sky position needs both --ra and --dec (in degrees) and no image files.")
    if args.catalog and (images or sky or not args.out):
        raise UserError("A catalogue run takes --catalog CSV --out PREDICTIONS.csv, and no image files or --ra/--dec.")
    if args.csv and (args.catalog or sky):
        raise UserError("--csv writes the table of image files: a catalogue run writes its own CSV with --out.")
    if args.out and not args.catalog:
        raise UserError("--out is for catalogue runs: add --catalog CSV.")
    if not images and not sky and not args.catalog:
        raise UserError("predict needs at least one image file, --ra RA --dec DEC, or --catalog CSV --out FILE.")
    checkpoints, rule, tta, by_default = chosen_models(args.checkpoint, listed, args.ensemble, args.tta)
    predictor = Predictor(checkpoints, rule, device=str(select_device(args.device)), tta=tta)
    answered_by = {"checkpoints": [str(c) for c in checkpoints], "ensemble": rule, "default": by_default}
    if args.catalog:
        return _predict_catalogue(args, predictor, answered_by)
    if sky:
        cutout = _cutout_client(args, predictor).fetch(args.ra, args.dec)
        result = predictor.predict(cutout.image.pixels[None])[0]
        if not args.json:
            result.pop("probabilities")
        result.update(ra=cutout.ra, dec=cutout.dec, url=cutout.url, notes=cutout.image.notes)
        return {**answered_by, "predictions": [result]}
    if args.csv:
        require_writable(args.csv)
    decoded = [load_image(path) for path in images]
    results = predictor.predict(np.stack([d.pixels for d in decoded]))
    if args.csv:
        _write_table(args.csv, images, results, predictor, by_default)
    for path, d, r in zip(images, decoded, results):
        r["image"] = str(path)
        r["notes"] = d.notes
        if not args.json:
            r.pop("probabilities")
    return {**answered_by, "predictions": results, **({"csv": str(args.csv)} if args.csv else {})}


def _write_table(path, images, results, predictor, by_default: bool) -> None:
    """`predict --csv`: the Classify page's batch table, with how often check-set answers that confident were right."""
    from galaxy_core.data.labelled_images import real_sample
    from galaxy_core.evaluation.answer_table import answer_rows, write_answer_csv
    from galaxy_core.evaluation.folders import check_set_answers
    from galaxy_core.inference.default_answer import read_default
    from galaxy_core.settings import checkpoints_root

    recorded = read_default(checkpoints_root()) if by_default else None
    record = (recorded.confidence, recorded.correct) if recorded is not None and len(recorded.confidence) else \
        check_set_answers(predictor, real_sample())
    write_answer_csv(path, answer_rows([str(p) for p in images], results, record))


def _cutout_client(args, predictor):
    """The cutout client for `predict --ra/--dec` and `--catalog`: at the models' training pixel scale unless --pixscale says."""
    from galaxy_core.data.cutouts import CutoutClient, training_pixscale

    pixscale = args.pixscale if args.pixscale is not None else training_pixscale([m.meta for m in predictor.members])
    return CutoutClient(args.cutout_url, layer=args.layer, pixscale=pixscale, size=args.size, fmt=args.cutout_format)


def _predict_catalogue(args, predictor, answered_by: dict) -> dict:
    """`predict --catalog`: streamed, resumable; under torchrun each process takes every N-th row, then rank 0 merges."""
    from galaxy_core.catalogue import merge_shards, run_catalogue, shard_outputs

    out = Path(args.out)
    require_writable(out)
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    client = _cutout_client(args, predictor)
    target = out if world == 1 else shard_outputs(out, world)[rank]
    bar, update = progress_bar(f"catalogue {Path(args.catalog).name}" + (f" (rank {rank})" if world > 1 else ""), unit="row")
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
    return {**answered_by, "catalogue": str(args.catalog), **counts, "out": str(out)}


def cmd_similar(args) -> dict:
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.images import load_image
    from galaxy_core.evaluation.similarity import (
        dataset_embeddings,
        image_embedding,
        neighbours,
    )
    from galaxy_core.models.checkpoint import load_checkpoint
    from galaxy_core.settings import select_device

    sky = args.ra is not None or args.dec is not None
    if sum([args.index is not None, args.image is not None, sky]) != 1 or (sky and (args.ra is None or args.dec is None)):
        raise UserError("similar needs exactly one query: --index I, --image FILE, or --ra RA --dec DEC.")
    device = select_device(args.device)
    model, meta = load_checkpoint(args.checkpoint, device)
    data = Galaxy10(resolve_dataset(args.data))
    bar, update = progress_bar(f"embeddings of {data.path.name} (once)")
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
    if args.json:  # each neighbour's position and redshift as the file records them (NaN, i.e. null, where it has none)
        for row in found:
            row.update({key: float(data.metadata[key][row["index"]]) for key in ("ra", "dec", "redshift")})
    return {"checkpoint": str(args.checkpoint), "data": data.path.name, "query": query, "neighbours": found}



def add_commands(commands) -> None:
    from galaxy_core.settings import DEVICES

    pr = commands.add_parser("predict", help="classify JPEG, PNG or FITS files")
    pr.add_argument("images", nargs="*", help="image files (any size or mode: converted as in training)")
    add_model_flags(pr)
    pr.add_argument("--json", action="store_true", help="include every class's probability")
    pr.add_argument("--ra", type=float, help="classify the Legacy Surveys cutout at this RA (degrees, with --dec)")
    pr.add_argument("--dec", type=float, help="... and this Dec (degrees)")
    pr.add_argument("--cutout-url", help="the cutout service (default: $GALAXY_CUTOUT_URL, else the Legacy Surveys viewer)")
    pr.add_argument("--cutout-format", default="jpg", choices=("jpg", "fits"),
                    help="jpg: the service's picture; fits: its g, r, z fluxes, given the Legacy Surveys asinh stretch here")
    pr.add_argument("--layer", default="ls-dr10-grz", help="survey layer (default ls-dr10-grz, grz as Galaxy10 DECaLS)")
    pr.add_argument("--pixscale", type=ranged(float, 0.01, 10.0),
                    help="arcsec per pixel (default: the scale the model's training data was at, else 0.262, the DECam pixel)")
    pr.add_argument("--size", type=ranged(int, 16, 3000), default=256, help="cutout side in pixels (default 256, as Galaxy10)")
    pr.add_argument("--csv", help="also write the answers as a table (file, class, confidence, how often check-set answers that "
                                   "confident were right, OOD, each model's vote), as the Classify page's batch table")
    pr.add_argument("--catalog", help="a CSV of positions (columns ra, dec, optionally id) to classify, one cutout per row")
    pr.add_argument("--out", help="the predictions CSV a --catalog run streams to (it resumes when run again)")
    pr.add_argument("--cutouts-dir", help="keep each fetched cutout here as ID.jpg")
    pr.set_defaults(run=cmd_predict)
    sim = commands.add_parser("similar", help="the k dataset galaxies nearest to a query in a model's latent space (cosine)")
    sim.add_argument("--checkpoint", required=True)
    sim.add_argument("--index", type=ranged(int, 0, 10**9), help="query: a dataset image")
    sim.add_argument("--image", help="query: a JPEG, PNG or FITS file")
    sim.add_argument("--ra", type=float, help="query: the Legacy Surveys cutout at RA (with --dec)")
    sim.add_argument("--dec", type=float)
    sim.add_argument("--cutout-url", help="the cutout service (default: $GALAXY_CUTOUT_URL, else the Legacy Surveys viewer)")
    sim.add_argument("--k", type=ranged(int, 1, 1000), default=12)
    sim.add_argument("--data", help="Galaxy10 .h5 file to search (default: $GALAXY10_H5, else the synthetic default)")
    sim.add_argument("--device", default="auto", choices=DEVICES)
    sim.add_argument("--json", action="store_true", help="add each neighbour's ra, dec and redshift from the file (the output is JSON either way)")
    sim.set_defaults(run=cmd_similar)
