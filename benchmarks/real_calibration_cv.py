"""Does temperature scaling on real galaxies help the default answer? Fitted on the real check set with 5-fold
cross-validation (each fold's temperature fitted on the other four, scored on it), against no scaling.

    python3 benchmarks/real_calibration_cv.py [--checkpoints checkpoints]

Prints cross-entropy and ECE before and after, per fold's temperature, as Markdown.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from galaxy_core.data.labelled_images import real_sample  # noqa: E402
from galaxy_core.evaluation.folders import folder_predictions  # noqa: E402
from galaxy_core.evaluation.evaluate import score_ensemble  # noqa: E402
from galaxy_core.evaluation.metrics import compute_metrics, fit_temperature  # noqa: E402
from galaxy_core.inference.default_answer import read_default  # noqa: E402
from galaxy_core.inference.predictor import Predictor  # noqa: E402

FOLDS = 5


def scaled(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    args = parser.parse_args()
    recorded = read_default(args.checkpoints)
    folder = real_sample()
    members = folder_predictions(Predictor(recorded.checkpoints, recorded.rule), folder)
    probabilities = members[0].probabilities if recorded.rule is None else score_ensemble(recorded.rule, members).output.probabilities
    labels = folder.labels
    fold_of = np.arange(len(labels)) % FOLDS
    calibrated, temperatures = np.empty_like(probabilities), []
    for k in range(FOLDS):
        train, held = fold_of != k, fold_of == k
        temperature = fit_temperature(np.log(np.clip(probabilities[train], 1e-12, 1.0)), labels[train])
        temperatures.append(temperature)
        calibrated[held] = scaled(probabilities[held], temperature)
    before, after = compute_metrics(labels, probabilities), compute_metrics(labels, calibrated)
    name = recorded.names[0] if recorded.rule is None else f"{recorded.rule} over {len(recorded.names)}"
    print(f"| {name} on {len(labels)} real galaxies | accuracy | cross-entropy | ECE | mean confidence |\n|---|---|---|---|---|")
    for what, metrics, p in (("as it is", before, probabilities), (f"temperature, {FOLDS}-fold cross-validated", after, calibrated)):
        print(f"| {what} | {metrics['accuracy']:.3f} | {metrics['cross_entropy']:.3f} | {metrics['ece']:.3f} | {p.max(axis=1).mean():.3f} |")
    print(f"\nTemperatures per fold: {', '.join(f'{t:.2f}' for t in temperatures)}")


if __name__ == "__main__":
    main()
