"""The explain command: class-activation maps of a model's or an ensemble's answer on image files, as JSON and PNG."""
from __future__ import annotations

from pathlib import Path

from galaxy_core.cli.common import add_model_flags, chosen_models, images_and_checkpoints
from galaxy_core.errors import UserError
from galaxy_core.fileio import require_writable


def cmd_explain(args) -> dict:
    from galaxy_core.classes import CLASS_NAMES
    from galaxy_core.data.images import load_image
    from galaxy_core.data.labelled_images import class_index
    from galaxy_core.evaluation.explain import check_method, explain_prediction
    from galaxy_core.inference.predictor import Predictor
    from galaxy_core.settings import select_device

    if args.method is not None:
        check_method(args.method)
    images, checkpoints, rule = _images_and_checkpoints(args)
    target = None if args.target is None else class_index(args.target, "--target")
    if args.out:
        require_writable(args.out, folder=True)
    predictor = Predictor(checkpoints, rule, device=str(select_device(args.device)))
    if args.layer:
        _use_layer(predictor, args.layer)
    maps = []
    for path in images:  # one at a time: a folder of large images never sits in memory at once
        decoded = load_image(path)
        result = predictor.predict(decoded.pixels[None])[0]
        explained = explain_prediction(predictor, decoded.pixels[None], [result], args.method, target)[0]
        entry = map_entry(str(path), decoded, explained, CLASS_NAMES, args.method)
        entry["notes"] = decoded.notes
        if args.out:
            entry["overlay"] = str(_write_overlay(Path(args.out), Path(path), decoded.pixels, explained, entry["method"]))
        maps.append(entry)
    if not args.json:  # the short form; --json keeps each member's map too
        for entry in maps:
            entry.pop("members")
    return {"checkpoints": [str(c) for c in checkpoints], "ensemble": rule,
            "maps": maps, "mean_central_energy": _mean([m["central_energy"] for m in maps])}


def map_entry(file: str, decoded, explained, class_names, method: str | None) -> dict:
    """One image's JSON object: what the map shows and where it points, `peak` in the image's own pixels."""
    from galaxy_core.data.images import to_original_pixels
    from galaxy_core.evaluation.explain import describe, energy_share, peak
    from galaxy_core.evaluation.segmentation import central_source

    region, segmented = central_source(decoded.pixels)
    members = explained.members
    methods = sorted({e.method for e in members.values()})
    located = peak(explained.combined)
    entry = {
        "file": file,
        "method": method or (methods[0] if len(methods) == 1 else "default"),
        "class_agnostic": explained.target is None,
        "map_size": list(explained.map_size),
        "image_size": list(decoded.original_size),
        "peak": None if located is None else list(to_original_pixels(*located, decoded.original_size)),
        "empty": explained.empty,
        "flat": all(e.flat for e in members.values()),
        "predicted": class_names[explained.answer],
        "predicted_label": explained.answer,
        "target": None if explained.target is None else class_names[explained.target],
        "target_label": explained.target,
        "central_energy": energy_share(explained.combined, region),
        "peak_on_central_source": None if located is None else bool(region[located[1], located[0]]),
        "central_source": "segmented" if segmented else "circle",
        "members": {name: {"method": e.method, "layer": e.layer, "map_size": list(e.map_size), "empty": e.empty, "flat": e.flat,
                           "weight": explained.weights[name], "says": describe(e) or None} for name, e in members.items()},
    }
    if explained.target is None:
        entry["note"] = f"{entry['method']} is class-agnostic: the map is the same whatever the target class"
    return entry


def _mean(values):
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _images_and_checkpoints(args) -> tuple[list[str], list, str | None]:
    images, listed = images_and_checkpoints(args.images, args.checkpoints)
    if not images:
        raise UserError("explain needs at least one image file (JPEG, PNG or FITS).")
    checkpoints, rule, _, _ = chosen_models(args.checkpoint, listed, args.ensemble)
    return images, checkpoints, rule


def _use_layer(predictor, layer: str) -> None:
    """`--layer NAME`: read every member's maps from this layer instead of its family's (checked here, once)."""
    from galaxy_core.evaluation.explain import target_layer

    for member in predictor.members:
        target_layer(member.model, layer)
        member.model.gradcam_layer = layer  # an instance attribute: the family's default stays as it is


def _write_overlay(folder: Path, source: Path, pixels, explained, method: str) -> Path:
    from PIL import Image

    from galaxy_core.evaluation.explain import overlay
    from galaxy_core.fileio import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source.stem}_{method}.png"
    with atomic_path(path) as tmp:
        Image.fromarray(overlay(pixels, explained.combined, 0.45)).save(tmp, format="PNG")
    return path


def add_commands(commands) -> None:
    from galaxy_core.evaluation.explain import METHODS

    ex = commands.add_parser("explain", help="class-activation maps (Grad-CAM and kin) of a model's or an ensemble's answer")
    ex.add_argument("images", nargs="*", help="image files (JPEG, PNG or FITS; any size or mode: converted as in training)")
    add_model_flags(ex, tta=False)
    ex.add_argument("--method", help=f"one of {', '.join(METHODS)} (default: each model family's, docs/explanations.md)")
    ex.add_argument("--target", help="the class to explain, 0-9 or a name (default: the answer's class)")
    ex.add_argument("--layer", help="read the maps from this layer (a module name) instead of the family's")
    ex.add_argument("--out", help="write each image's overlay here as IMAGE_METHOD.png")
    ex.add_argument("--json", action="store_true", help="also each member's map (method, layer, cells, weight)")
    ex.set_defaults(run=cmd_explain)
