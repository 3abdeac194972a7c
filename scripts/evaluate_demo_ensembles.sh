#!/usr/bin/env bash
# The ensembles in docs/models.md: every rule over all six demo checkpoints trained on synthetic galaxies
# only (not the one fine-tuned on the real check set), and the second study's pair (EfficientNet-B0 + B2),
# on the test images every member held out.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"  # the interpreter to run (a virtual environment need not be activated)
all=(checkpoints/cnn checkpoints/autoencoder checkpoints/resnet50 checkpoints/efficientnet_b0 checkpoints/efficientnet_b2 checkpoints/efficientnet_lite0)
pair=(checkpoints/efficientnet_b0 checkpoints/efficientnet_b2)
for rule in agreement soft f1_weighted; do
  "$PYTHON" -m galaxy_core evaluate --ensemble "$rule" --checkpoints "${all[@]}" --device cpu --out "checkpoints/ensembles/${rule}_all"
  "$PYTHON" -m galaxy_core evaluate --ensemble "$rule" --checkpoints "${pair[@]}" --device cpu --out "checkpoints/ensembles/${rule}_b0_b2"
done
# The same ensembles on the real check set (60 real galaxies shipped with the package; a development set).
for rule in agreement soft f1_weighted; do
  "$PYTHON" -m galaxy_core evaluate --ensemble "$rule" --checkpoints "${all[@]}" --device cpu --real-sample --out "checkpoints/ensembles/${rule}_all_real_sample"
  "$PYTHON" -m galaxy_core evaluate --ensemble "$rule" --checkpoints "${pair[@]}" --device cpu --real-sample --out "checkpoints/ensembles/${rule}_b0_b2_real_sample"
done
# ... and with each model's probabilities averaged over the 8 rotations/flips (--tta; the Classify page's default).
for rule in agreement soft f1_weighted; do
  "$PYTHON" -m galaxy_core evaluate --ensemble "$rule" --checkpoints "${all[@]}" --device cpu --real-sample --tta --out "checkpoints/ensembles/${rule}_all_real_sample_tta"
  "$PYTHON" -m galaxy_core evaluate --ensemble "$rule" --checkpoints "${pair[@]}" --device cpu --real-sample --tta --out "checkpoints/ensembles/${rule}_b0_b2_real_sample_tta"
done
