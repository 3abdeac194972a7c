"""A study: train every named model under its own study recipe, score each on its test split and on the real check set,
score every ensemble rule over them, and write one table (`results.csv`, `results.md`, `results.json`).

Each model's checkpoint goes to `OUT/MODEL/` (a normal checkpoint: the app loads it with GALAXY_CHECKPOINTS=OUT). A
second run skips finished models and resumes an interrupted one from its last epoch (the trainer's own resume); each
model's per-image probabilities are kept in `OUT/predictions/` so a rerun does not score it again.
"""
from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.errors import UserError
from galaxy_core.evaluation.evaluate import ModelPredictions, predict_checkpoint, score_ensemble
from galaxy_core.evaluation.metrics import compute_metrics, kl_smoothing
from galaxy_core.fileio import atomic_path, require_writable, write_bytes_atomic, write_json_atomic
from galaxy_core.inference.ensemble import RULES
from galaxy_core.models.checkpoint import META_FILE, read_meta
from galaxy_core.models.registry import get_spec
from galaxy_core.settings import REPO_ROOT
from galaxy_core.training.run_state import STATE_JSON

# The two studies this workbench reproduces, by the models each compared.
PRESETS = {
    "resnet-study": ("cnn", "autoencoder", "resnet50"),  # baseline CNN, autoencoder-classifier, transfer-learned ResNet50
    "efficientnet-study": ("efficientnet_b0", "efficientnet_b2"),  # EfficientNet-B0 and B2 fused by an ensemble rule
}
COLUMNS = ("model", "accuracy", "balanced_accuracy", "macro_f1", "cross_entropy", "kl", "ece", "real_accuracy", "real_low",
           "real_high", "train_minutes", "train_images_per_s", "device", "data_fingerprint", "test_images", "real_images",
           "image_size", "split", "epochs_run", "steps", "weights", "check_set_excluded", "loader_share", "peak_memory_mb", "checkpoint")
PREDICTIONS = "predictions"


@dataclass(frozen=True)
class StudyOptions:
    """What a study run may change in every model's recipe (None: the study's own), and its caps."""

    device: str = "auto"
    epochs: int | None = None
    max_steps: int | None = None
    image_size: int | None = None
    batch_size: int | None = None
    weights: str | None = None  # 'none': from scratch (offline machines cannot fetch ImageNet weights)
    workers: int | None = None


def expand_models(names: list[str]) -> list[str]:
    """Model names, with preset names expanded, each once, in order; an unknown name is one sentence."""
    models = []
    for name in names:
        for model in PRESETS.get(name, (name,)):
            try:
                get_spec(model)
            except UserError:
                raise UserError(f"Unknown model or study '{model}': choose models from the registry or one of the presets "
                                f"{', '.join(PRESETS)}.") from None
            if model not in models:
                models.append(model)
    if not models:
        raise UserError("A study needs at least one model: name models with --models, or a preset such as efficientnet-study.")
    return models


def run_study(models: list[str], data_path: str | Path, out: str | Path, options: StudyOptions = StudyOptions(),
              progress: Callable[[str], None] | None = None) -> dict:
    """Train, score and tabulate `models` on `data_path` under `out`; returns what results.json holds."""
    from galaxy_core.data.labelled_images import real_sample

    models, out = expand_models(models), Path(out)
    shipped = (REPO_ROOT / "checkpoints").resolve()
    if out.resolve() == shipped or shipped in out.resolve().parents:
        raise UserError(f"--out {out} is inside the shipped checkpoints folder, which a study never writes into: choose another "
                        "folder, such as results/studies/NAME.")
    require_writable(out, folder=True)
    data = Galaxy10(data_path)
    say = progress or (lambda message: None)
    folder = real_sample()
    real_batches = list(folder.batches())  # decoded once for every model (12 MB)
    scored = {}
    for model in models:
        say(f"{model}: training")
        _train_model(model, data, out / model, options)
        say(f"{model}: scoring on the test split and the real check set")
        scored[model] = _scored(out / model, data, folder, real_batches, options)
    rows = [_model_row(model, scored[model], data) for model in models]
    if len(models) > 1:
        rows += [_ensemble_row(rule, [scored[m] for m in models], data) for rule in RULES]
    return write_results(out, rows, data, options)


def _train_model(model: str, data: Galaxy10, folder: Path, options: StudyOptions) -> None:
    """Train one model into `folder` unless a finished run of the same recipe, data and cap is there."""
    from galaxy_core.training.trainer import train

    study = get_spec(model).recipe
    recipe = study.with_options(options.epochs, options.image_size, batch_size=options.batch_size,
                                weights=options.weights if study.weights else None)  # models trained from scratch stay so
    if (folder / META_FILE).is_file() and not (folder / STATE_JSON).is_file():
        meta = read_meta(folder)
        if meta["recipe"] == recipe.to_dict() and meta["data"]["fingerprint"] == data.fingerprint() \
                and meta.get("max_steps") == options.max_steps:
            return
        raise UserError(f"{folder} holds a {meta['model']} trained with other settings or data: choose another --out, or remove that "
                        "folder to train it again.")
    train(recipe, data.path, folder, device=options.device, workers=options.workers, max_steps=options.max_steps)


@dataclass
class _Scored:
    meta: dict
    test: ModelPredictions
    real: ModelPredictions
    seconds: float  # scoring it took (0 when read back)


def _scored(checkpoint: Path, data: Galaxy10, folder, real_batches: list, options: StudyOptions) -> _Scored:
    """The checkpoint's per-image probabilities on its test split and on the real check set (kept in OUT/predictions/)."""
    from galaxy_core.evaluation.folders import folder_predictions
    from galaxy_core.inference.predictor import Predictor
    from galaxy_core.settings import select_device

    meta = read_meta(checkpoint)
    kept = checkpoint.parent / PREDICTIONS / f"{checkpoint.name}-{meta['weights_sha256'][:16]}.npz"
    val = meta["metrics"]["val"]
    if kept.is_file():
        with np.load(kept) as saved:
            return _Scored(meta, ModelPredictions(checkpoint.name, saved["test_indices"], saved["test_labels"], saved["test"], 1.0, val),
                           ModelPredictions(checkpoint.name, np.arange(len(saved["real"])), saved["real_labels"], saved["real"], 1.0, val),
                           0.0)
    started = time.perf_counter()
    device = str(select_device(options.device))
    test, _ = predict_checkpoint(checkpoint, data, "test", device=device, workers=options.workers or 0)
    test.val_metrics = val
    real = folder_predictions(Predictor([checkpoint], device=device), folder, batches=real_batches)[0]
    kept.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(kept, suffix=".tmp.npz") as tmp:
        np.savez(tmp, test_indices=test.indices, test_labels=test.labels, test=test.probabilities, real_labels=real.labels,
                 real=real.probabilities)
    return _Scored(meta, test, real, time.perf_counter() - started)


def _metrics_columns(test: dict, real: dict) -> dict:
    low, high = real["accuracy_interval"]
    return {"accuracy": test["accuracy"], "balanced_accuracy": test["balanced_accuracy"], "macro_f1": test["macro_f1"],
            "cross_entropy": test["cross_entropy"], "kl": test["kl_divergence"], "ece": test["ece"], "real_accuracy": real["accuracy"],
            "real_low": low, "real_high": high, "test_images": test["count"], "real_images": real["count"]}


def _model_row(model: str, scored: _Scored, data: Galaxy10) -> dict:
    meta, recipe = scored.meta, scored.meta["recipe"]
    smoothing = kl_smoothing(recipe)
    test = compute_metrics(scored.test.labels, scored.test.probabilities, smoothing)
    real = compute_metrics(scored.real.labels, scored.real.probabilities, smoothing)
    cost = meta.get("throughput") or {}
    return {"model": model, **_metrics_columns(test, real), "train_minutes": meta["training_seconds"] / 60,
            "train_images_per_s": cost.get("train_images_per_s"), "device": meta["device"], "data_fingerprint": data.fingerprint(),
            "image_size": recipe["image_size"], "split": recipe["split"], "epochs_run": meta["epochs_run"], "steps": meta.get("steps"),
            "weights": meta.get("weights_source"), "check_set_excluded": len(meta["data"].get("check_set_excluded") or []),
            "loader_share": cost.get("loader_share"), "peak_memory_mb": cost.get("peak_memory_mb"),
            "checkpoint": model, "stage_seconds": {**(cost.get("stage_seconds") or {}), "study_scoring": round(scored.seconds, 2)}}


def _ensemble_row(rule: str, members: list[_Scored], data: Galaxy10) -> dict:
    """A rule over every model: on the test images all of them held out (the studies' splits differ), and the check set."""
    test, real = score_ensemble(rule, [m.test for m in members]), score_ensemble(rule, [m.real for m in members])
    devices = sorted({m.meta["device"] for m in members})
    return {"model": f"ensemble:{rule}", **_metrics_columns(test.metrics, real.metrics),
            "train_minutes": sum(m.meta["training_seconds"] for m in members) / 60, "train_images_per_s": None,
            "device": " + ".join(devices), "data_fingerprint": data.fingerprint(), "image_size": None, "split": "common test images",
            "epochs_run": None, "steps": None, "weights": None, "check_set_excluded": None, "loader_share": None, "peak_memory_mb": None,
            "checkpoint": " ".join(m.test.name for m in members)}


def _shown(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def results_markdown(rows: list[dict], data: Galaxy10, options: StudyOptions) -> str:
    """The table a person reads: accuracies as percentages with the check set's interval, then the cost of each model."""
    lines = [f"# Study on {data.path.name}", "",
             f"{len(data):,} images, {'synthetic' if data.is_synthetic else 'real'} (fingerprint {data.fingerprint()}); "
             f"epochs {options.epochs or 'as each study'}, max steps {options.max_steps or 'none'}, weights {options.weights or 'as each study'}. "
             "Test: each model's own test split (an ensemble: the test images every member held out). Real: the 60-galaxy check set "
             "(a development set), with its 95% Wilson interval.", "",
             "| model | accuracy | balanced | macro-F1 | cross-entropy | KL | ECE | real check set | train min | img/s | device |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        speed = f"{r['train_images_per_s']:.1f}" if r["train_images_per_s"] else ""
        lines.append(f"| {r['model']} | {r['accuracy']:.1%} | {r['balanced_accuracy']:.1%} | {r['macro_f1']:.3f} | {r['cross_entropy']:.3f} | "
                     f"{r['kl']:.3f} | {r['ece']:.3f} | {r['real_accuracy']:.0%} ({r['real_low']:.0%}–{r['real_high']:.0%}) | "
                     f"{r['train_minutes']:.1f} | {speed} | {r['device']} |")
    return "\n".join(lines) + "\n"


def write_results(out: Path, rows: list[dict], data: Galaxy10, options: StudyOptions) -> dict:
    """results.csv (the COLUMNS), results.md and results.json (everything, stage seconds included), each atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _shown(v) for k, v in row.items()} for row in rows)
    write_bytes_atomic(out / "results.csv", buffer.getvalue().encode())
    write_bytes_atomic(out / "results.md", results_markdown(rows, data, options).encode())
    result = {"data": str(data.path), "data_fingerprint": data.fingerprint(), "images": len(data), "synthetic": data.is_synthetic,
              "options": options.__dict__, "rows": rows, "results_csv": str(out / "results.csv"), "results_md": str(out / "results.md")}
    write_json_atomic(out / "results.json", json.loads(json.dumps(result, default=str)))
    return result


def read_study(folder: str | Path) -> tuple[list[dict], str]:
    """A study folder's table rows (as strings, in COLUMNS order) and its markdown, for the dashboard."""
    folder = Path(folder)
    try:
        with open(folder / "results.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return rows, (folder / "results.md").read_text()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{folder} has no readable study table ({type(exc).__name__}): run `python -m galaxy_core study ... --out "
                        f"{folder}` first.") from None


def find_studies(root: str | Path) -> list[Path]:
    """Study folders (holding results.csv) directly under `root`, newest first."""
    root = Path(root)
    found = [p.parent for p in root.glob("*/results.csv")] if root.is_dir() else []
    return sorted(found, key=lambda p: (p / "results.csv").stat().st_mtime, reverse=True)
