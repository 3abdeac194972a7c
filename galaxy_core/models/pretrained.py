"""ImageNet weights: fetched by torch.hub when online, or read from a local file (`--weights FILE`).

Loading never unpickles arbitrary objects: .safetensors files go through safetensors, .pth/.pt
files through `torch.load(weights_only=True)`.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from galaxy_core.errors import UserError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Weights file {path} does not exist: give the path to a .pth or .safetensors file.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any decoding failure is the file's fault, not ours
        raise UserError(f"Weights file {path} cannot be read ({type(exc).__name__}): use a PyTorch state dict (.pth) or a .safetensors file.") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"Weights file {path} does not hold a state dict of tensors: export one with torch.save(model.state_dict(), ...).")
    return state


def fetch_state_dict(url: str, model_name: str) -> dict[str, torch.Tensor]:
    """Download (or reuse torch.hub's cached copy of) the published ImageNet weights."""
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=True, weights_only=True)
    except Exception as exc:  # no network, proxy, DNS: all end the same way for the user
        file_name = url.rsplit("/", 1)[-1]
        raise UserError(
            f"ImageNet weights for {model_name} could not be downloaded ({type(exc).__name__}): copy {file_name} "
            f"from {url} to this machine and pass --weights FILE, or pass --weights none to train from scratch."
        ) from None


def load_backbone(model: nn.Module, state: dict[str, torch.Tensor], model_name: str, replaced_prefixes: tuple[str, ...]) -> int:
    """Load every backbone tensor; the head (`replaced_prefixes`) is ours and stays as built.

    Returns how many tensors were loaded. Refuses a file that does not fit the architecture.
    """
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if not k.startswith(replaced_prefixes)}
    missing = [k for k in own if not k.startswith(replaced_prefixes) and k not in usable]
    mismatched = [k for k, v in usable.items() if k in own and own[k].shape != v.shape]
    unknown = [k for k in usable if k not in own]
    if missing or mismatched or unknown:
        example = (missing or mismatched or unknown)[0]
        raise UserError(
            f"The weights file does not fit {model_name} ({len(missing)} missing, {len(mismatched)} wrong-shaped, "
            f"{len(unknown)} unexpected tensors, e.g. '{example}'): use the ImageNet weights published for {model_name}."
        )
    model.load_state_dict(usable, strict=False)
    return len(usable)


def freeze_all_but_last(model: nn.Module, trainable_layers: int, always_trainable: tuple[str, ...]) -> None:
    """Freeze the backbone except its last `trainable_layers` parameterised layers (convolutions,
    batch norms, linears, counted as Keras counts layers) and the modules in `always_trainable`."""
    layers = [(name, module) for name, module in model.named_modules()
              if any(True for _ in module.parameters(recurse=False)) and not name.startswith(always_trainable)]
    for _, module in layers[: max(0, len(layers) - trainable_layers)]:
        for parameter in module.parameters(recurse=False):
            parameter.requires_grad_(False)


def load_pretrained(model: nn.Module, weights: str, model_name: str, url: str | None, prefix: str, original_head: str,
                    replaced_prefixes: tuple[str, ...]) -> str:
    """Load 'imagenet' weights (from `url`) or a local file into `model`'s backbone; return the source.

    The file's keys are those of the bare torchvision/timm network: `prefix` maps them into our
    wrapper, and the network's own classifier (`original_head`) is dropped for ours.
    """
    if weights == "imagenet":
        if url is None:
            raise UserError(f"{model_name} has no published ImageNet weights in this project: pass --weights FILE or --weights none.")
        state = fetch_state_dict(url, model_name)
    else:
        state = read_state_dict(weights)
    state = {f"{prefix}{k}": v for k, v in state.items() if not k.startswith(original_head)}
    load_backbone(model, state, model_name, replaced_prefixes)
    return "imagenet" if weights == "imagenet" else str(weights)
