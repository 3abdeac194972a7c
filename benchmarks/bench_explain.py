"""How good the explanations are: every checkpoint and method, scored against the generator's ground truth and on
real galaxies.

    python -m galaxy_core synth --out explain.h5 --n 400 --seed 1 --masks      # fresh galaxies, never trained on
    python benchmarks/bench_explain.py --data explain.h5 [--n 300] [--checkpoints checkpoints/cnn ...]
        [--methods gradcam,layercam] [--sweep] [--no-faithfulness] [--json results.json]

On the synthetic file (its `masks`: 1 the target galaxy, 2 stars and neighbours): the pointing game (the map's
peak on the target galaxy), the mean share of the map's energy on the galaxy and on stars and neighbours, empty
and flat maps, and faithfulness (the explained class's probability falls by this many points more when the map's
top 20% of input pixels are imputed away, ROAD-style, than when a random 20% are). On the real check set: empty
maps, and peaks on the central galaxy (its sep segment; a 56-px circle where none is found).

`--sweep` also scores the candidate layers below for each family (without faithfulness): the measurement
behind each family's `gradcam_layer` and `gradcam_method` (docs/explanations.md).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from galaxy_core.data.galaxy10 import Galaxy10  # noqa: E402
from galaxy_core.data.labelled_images import real_sample  # noqa: E402
from galaxy_core.data.synthetic.observe import MASK_FIELD, MASK_TARGET  # noqa: E402
from galaxy_core.data.transforms import Preprocessing  # noqa: E402
from galaxy_core.evaluation.explain import METHODS, explain, on_cutout  # noqa: E402
from galaxy_core.evaluation.explanation_scores import faithfulness, location_scores  # noqa: E402
from galaxy_core.evaluation.segmentation import central_source  # noqa: E402
from galaxy_core.models.checkpoint import find_checkpoints, load_checkpoint  # noqa: E402
from galaxy_core.settings import checkpoints_root  # noqa: E402

# Layers tried per family, from the last feature map (stride 32 or 16) to stride 4; the chosen one is the registry's.
CANDIDATE_LAYERS = {
    "cnn": ("blocks.3.0", "blocks.3", "blocks.2", "blocks.1"),
    "autoencoder": ("encoder.3.0", "encoder.2", "encoder.1"),
    "efficientnet_b0": ("net.features.8", "net.features.4", "net.features.3", "net.features.2"),
    "efficientnet_b2": ("net.bn2", "net.blocks.3", "net.blocks.2", "net.blocks.1"),
    "efficientnet_lite0": ("net.bn2", "net.blocks.3", "net.blocks.2", "net.blocks.1"),
    "resnet50": ("backbone.layer4.2", "backbone.layer3", "backbone.layer2", "backbone.layer1"),
}


def score(model, meta, images, masks, real_images, real_regions, method, layer, with_faithfulness):
    preprocessing = Preprocessing.from_dict(meta["preprocessing"])
    started = time.perf_counter()
    found = explain(model, images, preprocessing, method, layer=layer)
    seconds = time.perf_counter() - started
    fulls = [on_cutout(e, images.shape[1:3], preprocessing) for e in found]
    row = {"model": meta["model"], "layer": found[0].layer, "method": method, "map_size": list(found[0].map_size),
           "ms_per_image": 1000 * seconds / len(images),
           **location_scores(fulls, [m == MASK_TARGET for m in masks], [m == MASK_FIELD for m in masks]),
           "empty": sum(e.empty for e in found), "flat": sum(e.flat for e in found)}
    if with_faithfulness:
        row["faithfulness"] = float(np.mean(faithfulness(model, images, preprocessing, found)))
    real = explain(model, real_images, preprocessing, method, layer=layer)
    real_fulls = [on_cutout(e, real_images.shape[1:3], preprocessing) for e in real]
    real_scores = location_scores(real_fulls, real_regions)
    row.update(real_images=len(real), real_empty=sum(e.empty for e in real), real_flat=sum(e.flat for e in real),
               real_peak_on_galaxy=real_scores["pointing_game"], real_energy_on_galaxy=real_scores["energy_on_target"])
    return row


def markdown(rows: list[dict]) -> str:
    def pct(v):
        return "–" if v is None else f"{100 * v:.0f}%"

    lines = ["| model | layer | cells | method | pointing game | energy on galaxy | on stars, neighbours | faithfulness (points) | "
             "empty / flat | real: empty | real: peak on galaxy | ms/img |", "|" + "---|" * 12]
    for r in rows:
        faith = "–" if "faithfulness" not in r else f"{100 * r['faithfulness']:+.1f}"
        lines.append(f"| {r['model']} | {r['layer']} | {r['map_size'][0]}×{r['map_size'][1]} | {r['method']} | {pct(r['pointing_game'])} | "
                     f"{pct(r['energy_on_target'])} | {pct(r['energy_on_others'])} | {faith} | {r['empty']} / {r['flat']} of {r['images']} | "
                     f"{r['real_empty']} of {r['real_images']} | {pct(r['real_peak_on_galaxy'])} | {r['ms_per_image']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a synthetic file written with `synth --masks`")
    parser.add_argument("--n", type=int, default=300, help="synthetic images scored (the file's first N)")
    parser.add_argument("--checkpoints", nargs="+", help="default: every checkpoint in checkpoints/")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default: all)")
    parser.add_argument("--sweep", action="store_true", help="also score each family's candidate layers")
    parser.add_argument("--layers", help="comma-separated layers to score instead of the family's own (with one model family)")
    parser.add_argument("--no-faithfulness", action="store_true", help="skip ROAD (the slow part)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    torch.set_grad_enabled(True)

    data = Galaxy10(args.data)
    indices = np.arange(min(args.n, len(data)))
    images, masks = data.images(indices), data.masks(indices)
    folder = real_sample()
    from galaxy_core.data.images import load_image

    real_images = np.stack([load_image(path).pixels for path in folder.files])
    real_regions = [central_source(image)[0] for image in real_images]
    segmented = sum(central_source(image)[1] for image in real_images)
    print(f"{len(images)} synthetic images of {data.path.name}; {len(real_images)} real check-set galaxies, "
          f"{segmented} with a sep segment at the centre; {platform.processor() or platform.machine()}, torch {torch.__version__}",
          file=sys.stderr)
    rows = []
    for checkpoint in args.checkpoints or find_checkpoints(checkpoints_root()):
        model, meta = load_checkpoint(checkpoint, "cpu")
        layers = args.layers.split(",") if args.layers else [model.gradcam_layer]
        if args.sweep and not args.layers:
            layers += [name for name in CANDIDATE_LAYERS.get(meta["model"], ()) if name != model.gradcam_layer]
        for layer in layers:
            for method in args.methods.split(","):
                row = score(model, meta, images, masks, real_images, real_regions, method, layer,
                            with_faithfulness=not args.no_faithfulness and layer == model.gradcam_layer)
                row["checkpoint"] = Path(checkpoint).name
                row["default"] = layer == model.gradcam_layer and method == model.gradcam_method
                rows.append(row)
                print(markdown([row]).splitlines()[-1], file=sys.stderr, flush=True)
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
