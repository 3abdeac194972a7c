"""Teaching the models a person's own galaxies: `queue` (which cutout to label next) and `adapt` (a model adapted to
the labels given, measured by cross-validation beside the unadapted answer)."""
from __future__ import annotations

from pathlib import Path

from galaxy_core.cli.common import add_model_flags, chosen_models, progress_bar, ranged
from galaxy_core.errors import UserError


def folder_answers(images: str, labels: str | None):
    """(images root, Answers) for a folder: its labels as `evaluate --images` finds them (--labels, the folder's
    labels.csv, or class-named sub-folders), read leniently: bad rows are left out with one note."""
    from galaxy_core.data.label_store import Answers, read_answers
    from galaxy_core.data.labelled_images import labels_location, read_labelled_folder

    root, csv_path = labels_location(images, labels)
    if csv_path.is_file():
        return root.resolve(), read_answers(csv_path, root)
    if any(p.is_dir() for p in root.iterdir()):  # class-named sub-folders
        folder = read_labelled_folder(root)
        return folder.root, Answers({str(f.relative_to(folder.root)): int(c) for f, c in zip(folder.files, folder.labels)})
    return root.resolve(), Answers()


def _predictor(args, base: bool = False):
    """The models a command runs, as `predict` chooses them; with `base`, an adapted checkpoint is replaced by the models
    it was adapted from (adapting is always from the synthetic-trained models, never on top of an earlier adaptation)."""
    from galaxy_core.inference.predictor import Predictor
    from galaxy_core.models.checkpoint import read_meta
    from galaxy_core.settings import select_device

    checkpoints, rule, _, by_default = chosen_models(args.checkpoint, args.checkpoints or [], args.ensemble, tta=False)
    adapted = read_meta(checkpoints[0]).get("adapted") if base and len(checkpoints) == 1 else None
    if adapted:
        from galaxy_core.settings import checkpoints_root

        roots = (Path(checkpoints[0]).parent, checkpoints_root())
        found = [next((root / name for root in roots if (root / name).is_dir()), None) for name in adapted["base"]]
        if None in found:
            raise UserError(f"{Path(checkpoints[0]).name} was adapted from {', '.join(adapted['base'])}, which are not all beside it or in "
                            f"{checkpoints_root()}: name the models to adapt with --checkpoint DIR or --ensemble RULE --checkpoints DIR ...")
        checkpoints, rule = found, adapted.get("rule")
    return Predictor(checkpoints, rule, device=str(select_device(args.device))), checkpoints, rule, by_default


def cmd_queue(args) -> dict:
    from galaxy_core.data.label_store import image_files
    from galaxy_core.evaluation.labelling_queue import rank_files

    root, answers = folder_answers(args.images, args.labels)
    files = [f for f in image_files(root) if f.name not in answers.answered]
    predictor, checkpoints, rule, by_default = _predictor(args)
    skipped: list[str] = []
    bar, update = progress_bar(f"ranking {root.name}")
    with bar:
        queue = rank_files(predictor, root, files, args.strategy, args.seed, skipped, update)
    return {"strategy": args.strategy, "images": root.name, "already_labelled": len(answers.answered), "unlabelled": len(files),
            "queue": queue[: args.n] if args.n else queue, "checkpoints": [Path(c).name for c in checkpoints], "ensemble": rule,
            "default": by_default, "notes": answers.notes + skipped}


def cmd_adapt(args) -> dict:
    from galaxy_core.data.label_store import labelled_images
    from galaxy_core.fileio import require_writable
    from galaxy_core.training.adapt import adapt

    root, answers = folder_answers(args.images, args.labels)
    if not answers.labels:
        raise UserError(f"No labelled galaxy found for {root.name}: give --labels LABELS.csv (file,label), or put a labels.csv "
                        "or class-named sub-folders in the folder.")
    require_writable(args.out, folder=True)
    predictor, checkpoints, rule, by_default = _predictor(args, base=True)
    skipped: list[str] = []
    bar, update = progress_bar(f"features of {root.name}'s labelled galaxies")
    with bar:
        result = adapt(predictor, checkpoints, rule, labelled_images(root, answers, root.name), args.method, args.out, args.seed,
                       skipped, update)
    if not args.json:
        result.pop("curve")
    return {**result, "default": by_default, "notes": answers.notes + skipped}


def _model_flags(parser) -> None:
    parser.add_argument("--images", required=True, help="the folder of JPEG, PNG or FITS cutouts")
    parser.add_argument("--labels", help="file,label CSV (default: the folder's labels.csv, or class-named sub-folders)")
    add_model_flags(parser, tta=False)
    parser.add_argument("--seed", type=ranged(int, 0, 2**31 - 1), default=0)
    parser.add_argument("--json", action="store_true", help="adapt: also the learning curve (queue's output is JSON either way)")


def add_commands(commands) -> None:
    from galaxy_core.evaluation.labelling_queue import STRATEGIES
    from galaxy_core.training.adapt import METHODS

    queue = commands.add_parser("queue", help="rank a folder's unlabelled cutouts by how much a label would teach the answer")
    _model_flags(queue)
    queue.add_argument("--strategy", default="margin", choices=STRATEGIES,
                       help="margin (default): smallest top-2 gap first; entropy; disagreement among an ensemble's members; random (seeded)")
    queue.add_argument("--n", type=ranged(int, 1, 10**6), help="only the first N of the queue")
    queue.set_defaults(run=cmd_queue)
    adapt = commands.add_parser("adapt", help="adapt a model to your labelled galaxies (a new head; cross-validated accuracy beside the default's)")
    _model_flags(adapt)
    adapt.add_argument("--method", default="residual", choices=METHODS,
                       help="residual (default): the base head plus a linear correction; linear: a new linear head (only the classes labelled)")
    adapt.add_argument("--out", required=True, help="the checkpoint folder to write (replaced whole, atomically)")
    adapt.set_defaults(run=cmd_adapt)
