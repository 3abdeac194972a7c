"""Grad-CAM maps for any model, with pytorch-grad-cam and the registry's target layer.

Safe when two users ask at once: `MODEL_LOCK` serialises the hooks with every other pass through a
shared model, the context manager removes them, and the model's train/eval mode is restored afterwards.
"""
from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from galaxy_core.data.transforms import Preprocessing, preprocess
from galaxy_core.inference.logits import MODEL_LOCK


def gradcam(model: nn.Module, image: np.ndarray, preprocessing: Preprocessing, target_class: int | None = None,
            device: torch.device | str = "cpu") -> tuple[np.ndarray, int]:
    """A (S, S) map in [0, 1] over the model's input for `target_class` (default: the predicted one)."""
    target_layer = dict(model.named_modules())[model.gradcam_layer]
    x = preprocess(image, preprocessing, device=device)
    with MODEL_LOCK:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                predicted = int(model(x).argmax(dim=1)[0])
            target = predicted if target_class is None else int(target_class)
            with GradCAM(model=model, target_layers=[target_layer]) as cam:
                heatmap = cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])[0]
        finally:
            model.train(was_training)
            model.zero_grad(set_to_none=True)
    return np.nan_to_num(heatmap), predicted


def heatmap_on_image(heatmap: np.ndarray, shape: tuple[int, int], preprocessing: Preprocessing | None = None) -> np.ndarray:
    """The heatmap placed on the full image grid: over the central crop a resize-then-crop model saw
    (all of it otherwise), zero on the border it never saw."""
    from PIL import Image

    height, width = shape
    fraction = 1.0 if preprocessing is None or not preprocessing.resize else preprocessing.input_size / preprocessing.resize
    box_h, box_w = round(height * fraction), round(width * fraction)
    resized = np.asarray(Image.fromarray(heatmap.astype(np.float32), mode="F").resize((box_w, box_h), Image.Resampling.BILINEAR))
    full = np.zeros((height, width), dtype=np.float32)
    top, left = (height - box_h) // 2, (width - box_w) // 2
    full[top : top + box_h, left : left + box_w] = np.clip(resized, 0, 1)
    return full


def overlay(image: np.ndarray, heatmap: np.ndarray, opacity: float = 0.5, preprocessing: Preprocessing | None = None) -> np.ndarray:
    """The heatmap in the jet colour map over the full image (uint8 RGB, the image's size)."""
    full = heatmap_on_image(heatmap, image.shape[:2], preprocessing)
    return show_cam_on_image(image.astype(np.float32) / 255.0, full, use_rgb=True, image_weight=1.0 - float(opacity))
