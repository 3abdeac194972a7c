"""Explanations: class-activation maps (pytorch-grad-cam) for any model, placed on the cutout, and the ensemble's map.

Each model family names the layer its maps are read from and its default method (`gradcam_layer`, `gradcam_method`
in the registry's classes; docs/explanations.md measures why those). A map is kept at the layer's own resolution
(`cells`, so "empty" and "flat" are decided before any upsampling or rescaling) and placed on the full cutout over
the part of it the model saw.

Safe when two users ask at once: the model's own lock (held by `inference`) serialises the hooks with every other
pass through that model,
the context manager removes them, and the model's train/eval mode is restored afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from galaxy_core.classes import CLASS_NAMES
from galaxy_core.data.transforms import Preprocessing
from galaxy_core.errors import UserError
from galaxy_core.inference.forward import inference, model_input

METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "hirescam": HiResCAM, "layercam": LayerCAM,
           "xgradcam": XGradCAM, "eigencam": EigenCAM}
CLASS_AGNOSTIC = frozenset({"eigencam"})  # the first principal component of the activations: no class enters it
FLAT_SPREAD = 0.1  # a map whose cells vary by less than this share of its peak shows no place more than another
BATCH = 32


@dataclass(frozen=True)
class Explanation:
    """One image's map. `cells` is the layer's map (rows, cols), >= 0, in the layer's own units."""

    cells: np.ndarray
    method: str
    layer: str
    predicted: int  # the model's answer
    target: int | None  # the class explained; None for a class-agnostic method

    @property
    def class_agnostic(self) -> bool:
        return self.method in CLASS_AGNOSTIC

    @property
    def map_size(self) -> tuple[int, int]:
        return int(self.cells.shape[0]), int(self.cells.shape[1])

    @property
    def empty(self) -> bool:
        """No positive evidence anywhere: Grad-CAM's weighted sum is below zero in every cell."""
        return not float(self.cells.max()) > 0.0

    @property
    def flat(self) -> bool:
        """Evidence, but spread evenly: the map cannot point at anything."""
        top = float(self.cells.max())
        return top > 0.0 and float(self.cells.max() - self.cells.min()) < FLAT_SPREAD * top

    def normalised(self) -> np.ndarray:
        """The cells scaled to [0, 1] by their peak (all zero when empty)."""
        top = float(self.cells.max())
        return (self.cells / top).astype(np.float32) if top > 0 else np.zeros_like(self.cells, dtype=np.float32)


def check_method(method: str) -> str:
    if method not in METHODS:
        raise UserError(f"Unknown explanation method '{method}': choose one of {', '.join(METHODS)}.")
    return method


def target_layer(model: nn.Module, layer: str | None = None) -> tuple[str, nn.Module]:
    """The layer maps are read from: `layer`, else the family's `gradcam_layer`."""
    name = layer or getattr(model, "gradcam_layer", None)
    modules = dict(model.named_modules())
    if not name or name not in modules:
        raise UserError(f"The layer '{name}' that explanations of this {type(model).__name__} read from is not one of its modules: "
                        "name another of its layers, or use a checkpoint made by this version.")
    return name, modules[name]


def default_method(model: nn.Module) -> str:
    return getattr(model, "gradcam_method", "gradcam")


def explain(model: nn.Module, images, preprocessing: Preprocessing, method: str | None = None, targets=None,
            device: torch.device | str = "cpu", layer: str | None = None) -> list[Explanation]:
    """uint8 images (N, H, W, 3) -> one Explanation each. `targets`: one class for all, one per image, or None
    (each image's predicted class)."""
    method = check_method(method or default_method(model))
    layer_name, module = target_layer(model, layer)
    images = np.asarray(images)
    images = images[None] if images.ndim == 3 else images
    per_image = [targets] * len(images) if targets is None or np.isscalar(targets) else list(targets)
    out = []
    with inference(model, device, grad=True) as device:  # the one forward pass, with gradients, the model's lock held
        try:
            for start in range(0, len(images), BATCH):
                out += _explain_batch(model, images[start:start + BATCH], per_image[start:start + BATCH], preprocessing, method,
                                      layer_name, module, device)
        finally:
            model.zero_grad(set_to_none=True)
    return out


def _explain_batch(model, images, targets, preprocessing, method, layer_name, module, device) -> list[Explanation]:
    # The input asks for gradients, so a layer inside a frozen backbone still gets them.
    x = model_input(images, preprocessing, device).requires_grad_(True)
    with torch.no_grad():
        predicted = model(x).argmax(dim=1).cpu().numpy()
    classes = [int(p) if t is None else int(t) for p, t in zip(predicted, targets)]
    with METHODS[method](model=model, target_layers=[module]) as cam:
        chosen = [ClassifierOutputTarget(c) for c in classes]
        cam(input_tensor=x, targets=chosen)  # forward and backward: the hooks keep activations and gradients
        store = cam.activations_and_grads
        activations = store.activations[0].float().numpy()
        gradients = store.gradients[0].float().numpy() if store.gradients else None
        raw = cam.get_cam_image(x, module, chosen, activations, gradients, eigen_smooth=False)
    cells = np.maximum(np.nan_to_num(np.asarray(raw, dtype=np.float32)), 0.0)
    agnostic = method in CLASS_AGNOSTIC
    return [Explanation(cells[i], method, layer_name, int(predicted[i]), None if agnostic else classes[i]) for i in range(len(cells))]


def seen_box(shape: tuple[int, int], preprocessing: Preprocessing | None) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the part of a cutout the model saw: the central crop of a resize-then-crop model."""
    height, width = shape
    fraction = 1.0 if preprocessing is None or not preprocessing.resize else preprocessing.input_size / preprocessing.resize
    box_h, box_w = round(height * fraction), round(width * fraction)
    return (height - box_h) // 2, (width - box_w) // 2, box_h, box_w


def on_cutout(explanation: Explanation | np.ndarray, shape: tuple[int, int], preprocessing: Preprocessing | None = None) -> np.ndarray:
    """The map in [0, 1] on the full image grid (bilinear from the cells over the part the model saw; zero on the
    border it never saw)."""
    cells = explanation.normalised() if isinstance(explanation, Explanation) else np.asarray(explanation, dtype=np.float32)
    top, left, box_h, box_w = seen_box(shape, preprocessing)
    # Cell centres sit at the centres of their pixel blocks: PIL's bilinear resize places them so.
    resized = np.asarray(Image.fromarray(cells, mode="F").resize((box_w, box_h), Image.Resampling.BILINEAR))
    full = np.zeros(shape, dtype=np.float32)
    full[top:top + box_h, left:left + box_w] = np.clip(resized, 0.0, 1.0)
    return full


def peak(full: np.ndarray) -> tuple[int, int] | None:
    """(x, y) of the map's maximum on the cutout, x the column; None when the map is all zero."""
    if not float(full.max()) > 0:
        return None
    row, col = np.unravel_index(int(np.argmax(full)), full.shape)
    return int(col), int(row)


def energy_share(full: np.ndarray, region: np.ndarray) -> float | None:
    """The share of the map's total on `region` (a boolean mask of the cutout); None for an all-zero map."""
    total = float(full.sum())
    return float(full[region].sum()) / total if total > 0 else None


def ensemble_weights(rule: str, member_labels: list[int], answer: int, val_f1: list | None = None) -> np.ndarray:
    """How much each member's map counts in the ensemble's: as the rule weighs the members for its answer."""
    count = len(member_labels)
    if rule == "agreement":  # the members whose label is the answer, equally
        weights = np.array([1.0 if label == answer else 0.0 for label in member_labels])
    elif rule == "f1_weighted" and val_f1 is not None and all(f is not None for f in val_f1):
        weights = np.array([float(f[answer]) + 1e-6 for f in val_f1])  # each member's validation F1 on the answer's class
    else:  # soft: the mean of all members
        weights = np.ones(count)
    return weights / weights.sum() if weights.sum() > 0 else np.full(count, 1.0 / count)


def combine_maps(maps: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The weighted mean of the members' maps on the cutout, each scaled to its own peak first, so a member's
    units do not outweigh the rule's weights; in [0, 1]."""
    total = np.zeros_like(maps[0], dtype=np.float32)
    for full, weight in zip(maps, weights):
        top = float(full.max())
        if top > 0 and weight > 0:
            total += np.float32(weight) * full / np.float32(top)
    top = float(total.max())
    return total / np.float32(top) if top > 0 else total


def describe(explanation: Explanation) -> str:
    """The map in words, for an empty or flat map that a colour wash would hide."""
    if explanation.empty:
        return (f"{explanation.method} finds no positive evidence for {CLASS_NAMES[explanation.target]} anywhere in this image"
                if explanation.target is not None else f"{explanation.method} finds nothing in this image")
    if explanation.flat:
        return f"{explanation.method}'s map is flat here: it points at no part of the image more than another"
    return ""


def overlay(image: np.ndarray, full: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """The map (already on the image's grid, in [0, 1]) in the jet colour map over the image (uint8 RGB)."""
    return show_cam_on_image(image.astype(np.float32) / 255.0, full, use_rgb=True, image_weight=1.0 - float(opacity))


@dataclass(frozen=True)
class ExplainedPrediction:
    """A Predictor's answer for one image, explained: each member's map for the explained class, on the cutout, and
    the map of the whole (the one member's, or the members' weighted as the ensemble rule weighs them)."""

    answer: int
    target: int | None  # None when every member's method is class-agnostic
    members: dict[str, Explanation]
    maps: dict[str, np.ndarray]  # member name -> its map on the cutout, [0, 1]
    weights: dict[str, float]
    combined: np.ndarray  # on the cutout, [0, 1]

    @property
    def empty(self) -> bool:
        return not float(self.combined.max()) > 0

    @property
    def map_size(self) -> tuple[int, int]:
        """The coarsest member's cells: the finest detail the combined map can claim."""
        return min((e.map_size for e in self.members.values()), key=lambda size: size[0] * size[1])


def explain_prediction(predictor, images: np.ndarray, results: list[dict], method: str | None = None,
                       target: int | None = None) -> list[ExplainedPrediction]:
    """Explain a Predictor's answers (`results` from `predictor.predict(images)`): each member's map for `target`, or
    for the answer's class; `method` None gives each member its family's default."""
    if method is not None:
        check_method(method)
    answers = [int(r["label"]) for r in results]
    targets = answers if target is None else [int(target)] * len(results)
    per_member = {m.name: explain(m.model, images, m.preprocessing, method, targets, predictor.device) for m in predictor.members}
    shape = np.asarray(images).shape[-3:-1]
    out = []
    for i, result in enumerate(results):
        members = {name: found[i] for name, found in per_member.items()}
        maps = {m.name: on_cutout(members[m.name], shape, m.preprocessing) for m in predictor.members}
        if len(predictor.members) == 1:
            weights = np.ones(1)
        else:
            labels = [int(result["members"][m.name]["label"]) for m in predictor.members]
            weights = ensemble_weights(predictor.rule, labels, answers[i], predictor.val_f1)
        names = [m.name for m in predictor.members]
        agnostic = all(e.class_agnostic for e in members.values())
        out.append(ExplainedPrediction(answers[i], None if agnostic else targets[i], members, maps,
                                       dict(zip(names, map(float, weights))), combine_maps([maps[n] for n in names], weights)))
    return out
