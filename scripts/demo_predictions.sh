#!/usr/bin/env bash
# Every demo checkpoint's and demo ensemble's per-image predictions (test split of the default dataset,
# TTA + temperature for one model, and `predict --json` on the real check set), copied into OUT.
# Run it at two commits and compare with `cmp` / `diff -r`: a refactoring must leave them byte-identical.
#   scripts/demo_predictions.sh /tmp/before; git checkout NEW; scripts/demo_predictions.sh /tmp/after; diff -r /tmp/before /tmp/after
set -euo pipefail
out=$(realpath -m "$1"); mkdir -p "$out"
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"  # the interpreter to run (a virtual environment need not be activated)
all=(checkpoints/cnn checkpoints/autoencoder checkpoints/resnet50 checkpoints/efficientnet_b0 checkpoints/efficientnet_b2)
for checkpoint in "${all[@]}"; do
  "$PYTHON" -m galaxy_core evaluate --checkpoint "$checkpoint" --json --device cpu > /dev/null
  cp "$checkpoint/predictions_test.csv" "$out/$(basename "$checkpoint").csv"
done
for rule in agreement soft f1_weighted; do
  "$PYTHON" -m galaxy_core evaluate --ensemble "$rule" --checkpoints "${all[@]}" --device cpu --out "$out/ensemble_$rule" > /dev/null
done
"$PYTHON" -m galaxy_core evaluate --checkpoint checkpoints/cnn --tta --temperature --device cpu > /dev/null
cp checkpoints/cnn/predictions_test_tta_temperature.csv "$out/cnn_tta_temperature.csv"
"$PYTHON" -m galaxy_core predict --ensemble soft --checkpoints "${all[@]}" galaxy_core/data/real_sample/*.jpg --json --device cpu \
  | "$PYTHON" -c "import json, sys; d = json.load(sys.stdin); [p.pop('image') for p in d['predictions']]; print(json.dumps(d['predictions'], indent=1))" \
  > "$out/predict_real_sample.json"
