"""The evaluate command: a checkpoint or an ensemble on a Galaxy10 split, the real check set or a labelled folder."""
from __future__ import annotations

from galaxy_core.errors import UserError


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



def add_commands(commands) -> None:
    from galaxy_core.inference.ensemble import RULES
    from galaxy_core.settings import DEVICES
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
    ev.add_argument("--out", help="results folder for the per-image CSV and the summary (default: results/NAME, or "
                                  "results/ensembles/RULE_SPLIT; $GALAXY_RESULTS moves results/)")
    ev.add_argument("--json", action="store_true", help="print every metric (per class, confusion matrix, reliability)")
    ev.set_defaults(run=cmd_evaluate)
