"""The evaluate command: a checkpoint or an ensemble on a Galaxy10 split, the real check set or a labelled folder."""
from __future__ import annotations

from galaxy_core.cli.common import add_model_flags
from galaxy_core.errors import UserError


def cmd_evaluate(args) -> dict:
    from galaxy_core.evaluation.metrics import SUMMARY_KEYS
    from galaxy_core.settings import select_device

    args.tta = bool(args.tta)  # evaluate names its models: averaging is off unless asked for

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
        return evaluate_folder([args.checkpoint], folder, None, args.tta, device, args.out)
    if len(args.checkpoints or []) < 2:
        raise UserError("An ensemble needs at least two checkpoints: pass --checkpoints DIR DIR [...].")
    return evaluate_folder(args.checkpoints, folder, args.ensemble, args.tta, device, args.out)


def _evaluate_dataset(args, device: str) -> dict:
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.evaluation.evaluate import evaluate_checkpoint, evaluate_ensemble

    data = Galaxy10(resolve_dataset(args.data))
    if args.checkpoint:
        return evaluate_checkpoint(args.checkpoint, data, args.split, args.tta, args.temperature, device=device, out=args.out)
    return evaluate_ensemble(args.ensemble, args.checkpoints or [], data, args.split, args.tta, device=device, out=args.out)


MAX_LATENT_IMAGES = 10_000  # real images placed by one `latent` run: features only are kept, 32 decoded at a time


def cmd_latent(args) -> dict:
    """Real galaxies beside the synthetic test images in one model's latent space, and the three gap scores."""
    from galaxy_core.cli.common import progress_bar
    from galaxy_core.data.default import resolve_dataset
    from galaxy_core.data.galaxy10 import Galaxy10
    from galaxy_core.data.labelled_images import read_image_folder, real_sample
    from galaxy_core.evaluation import latent_gap
    from galaxy_core.fileio import require_writable
    from galaxy_core.inference.predictor import Predictor
    from galaxy_core.settings import select_device

    if args.labels and not args.images:
        raise UserError("--labels goes with --images DIR: leave it out for the real check set.")
    if args.out:
        require_writable(args.out)
    device = str(select_device(args.device))
    projection = latent_gap.Projection(args.projection, args.dimensions)  # a bad choice is refused before any work
    folder = read_image_folder(args.images, args.labels) if args.images else real_sample()
    if len(folder) > MAX_LATENT_IMAGES:
        raise UserError(f"{folder.root} holds {len(folder):,} images; `latent` places at most {MAX_LATENT_IMAGES:,}: "
                        "split the folder or pass a smaller one.")
    predictor = Predictor([args.checkpoint], None, device=device)
    member = predictor.members[0]
    data = Galaxy10(resolve_dataset(args.data))
    synthetic = latent_gap.synthetic_points(member.model, member.meta, data, device, limit=args.limit)
    skipped: list[str] = []
    bar, update = progress_bar("placing real images")
    try:
        real = latent_gap.folder_points(predictor, folder, skipped, MAX_LATENT_IMAGES, update)
    finally:
        bar.close()
    scores = latent_gap.gap_scores(synthetic, real, args.neighbours)
    projection.fit(synthetic.features)
    synthetic_xyz, real_xyz = projection.place(synthetic.features), projection.place(real.features)
    if args.out:
        latent_gap.write_points_csv(args.out, latent_gap.points_table(synthetic, real, synthetic_xyz, real_xyz))
    result = {"checkpoint": str(args.checkpoint), "model": member.meta["model"], "data": data.path.name,
              "data_fingerprint": data.fingerprint(), "data_synthetic": data.is_synthetic, "images": str(folder.root),
              "real_sample": folder.is_real_sample, "projection": args.projection, "dimensions": args.dimensions,
              "explained_variance": projection.explained or None, **scores,
              "ood_flagged": sum(bool(flag) for flag in real.ood), "skipped": len(skipped), "skipped_files": skipped[:20],
              "points_csv": str(args.out) if args.out else None}
    if folder.is_real_sample:
        result["note"] = folder.note
    if not args.json:  # the short form: the headline scores
        result = {k: v for k, v in result.items() if k not in ("per_class", "skipped_files")}
    return result


def add_commands(commands) -> None:
    from galaxy_core.settings import DEVICES
    ev = commands.add_parser("evaluate", help="metrics and per-image predictions of a checkpoint or an ensemble")
    add_model_flags(ev, default=False)
    ev.add_argument("--data", help="Galaxy10 .h5 file (default: $GALAXY10_H5, else the synthetic default)")
    ev.add_argument("--split", default="test", choices=("train", "val", "test"))
    ev.add_argument("--images", help="a folder of labelled JPEG, PNG or FITS images instead of a Galaxy10 file (labels.csv or class-named sub-folders)")
    ev.add_argument("--labels", help="with --images: a CSV with columns file,label (label: 0-9 or a class name)")
    ev.add_argument("--real-sample", action="store_true",
                    help="the real check set shipped with galaxy_core (60 real galaxies; a development set)")
    ev.add_argument("--temperature", action="store_true", help="temperature scaling fitted on the validation split")
    ev.add_argument("--out", help="results folder for the per-image CSV and the summary (default: results/NAME, or "
                                  "results/ensembles/RULE_SPLIT; $GALAXY_RESULTS moves results/)")
    ev.add_argument("--json", action="store_true", help="print every metric (per class, confusion matrix, reliability)")
    ev.set_defaults(run=cmd_evaluate)

    from galaxy_core.cli.common import ranged
    from galaxy_core.evaluation.latent_gap import PROJECTIONS, SYNTHETIC_LIMIT

    la = commands.add_parser("latent", help="real galaxies beside synthetic ones in a model's latent space, and the gap scores")
    la.add_argument("--checkpoint", required=True, help="checkpoint folder")
    la.add_argument("--data", help="Galaxy10 .h5 file whose test split gives the synthetic points (default: $GALAXY10_H5, "
                                   "else the synthetic default)")
    la.add_argument("--images", help="a folder of real JPEG, PNG or FITS cutouts, labelled (labels.csv or class-named "
                                     "sub-folders) or not (default: the real check set)")
    la.add_argument("--labels", help="with --images: a CSV with columns file,label")
    la.add_argument("--projection", default="pca", choices=PROJECTIONS, help="the map, fitted on the synthetic points")
    la.add_argument("--dimensions", type=int, default=3, choices=(2, 3), help="of the map (z is empty in 2)")
    la.add_argument("--neighbours", type=ranged(int, 1, 100), default=10,
                    help="k, for the nearest-synthetic-neighbour agreement")
    la.add_argument("--limit", type=ranged(int, 10, 20_000), default=SYNTHETIC_LIMIT,
                    help="at most this many synthetic test images (a class-stratified subset)")
    la.add_argument("--device", default="auto", choices=DEVICES)
    la.add_argument("--out", help="CSV, one row per point: file or index, source, label, prediction, confidence, ood, x, y, z")
    la.add_argument("--json", action="store_true", help="also each class's scores and the files that could not be read")
    la.set_defaults(run=cmd_latent)
