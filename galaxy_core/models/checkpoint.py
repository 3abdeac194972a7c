"""Checkpoints: a folder per trained model with `model.safetensors` and `meta.json`.

Loading never unpickles anything. Each file is replaced atomically, and meta.json (written last)
records the SHA256 of the weights it belongs to, so a half-updated folder is detected, not used.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from galaxy_core.errors import UserError
from galaxy_core.fileio import atomic_path, write_json_atomic
from galaxy_core.models.meta_schema import check_meta
from galaxy_core.models.recipe import Recipe
from galaxy_core.models.registry import create_model

WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
FORMAT_VERSION = 1
MAX_META_BYTES = 16 * 2**20
FLOAT16_MAX = float(torch.finfo(torch.float16).max)  # the demo checkpoints' meta.json files are 30-60 kB


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stored_state(model: nn.Module, half: bool) -> dict[str, torch.Tensor]:
    """The tensors as the weights file holds them: float ones as float16 when `half`."""
    state = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu")
        # float16 halves the size; a tensor beyond its range (say a BatchNorm running variance above
        # 65,504) stays float32 rather than turn into infinities.
        if half and tensor.is_floating_point() and (tensor.numel() == 0 or float(tensor.abs().max()) < FLOAT16_MAX):
            tensor = tensor.to(torch.float16)
        state[key] = tensor.contiguous()
    return state


def as_shipped(model: nn.Module, half: bool = True) -> nn.Module:
    """A copy of `model` with the weights it will have once saved and loaded again (float16, read back as float32), for
    measuring what ships without reading the file back."""
    import copy

    shipped = copy.deepcopy(model).cpu().eval()
    own = shipped.state_dict()
    shipped.load_state_dict({k: t.to(own[k].dtype) for k, t in _stored_state(model, half).items()})
    return shipped


def save_weights(directory: str | Path, model: nn.Module, half: bool = True) -> dict:
    """Write the weights atomically; returns the entries meta.json records about them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(_stored_state(model, half), str(tmp))
    return {"format_version": FORMAT_VERSION, "weights_dtype": "float16" if half else "float32",
            "weights_sha256": _sha256(directory / WEIGHTS_FILE)}


def save_checkpoint(directory: str | Path, model: nn.Module, meta: dict, half: bool = True) -> Path:
    """Write weights (float tensors as float16 when `half`) then metadata, each atomically."""
    from galaxy_core.settings import portable_record

    write_json_atomic(Path(directory) / META_FILE, {**portable_record(meta, Path(directory).parent), **save_weights(directory, model, half)})
    return Path(directory)


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: Python's json accepts them, no other parser does


def find_checkpoints(root: str | Path) -> list[Path]:
    """Checkpoint folders directly under `root` (each holds a meta.json), sorted by name."""
    return sorted(p.parent for p in Path(root).glob(f"*/{META_FILE}") if not p.parent.name.startswith("."))  # .partial: being written


def read_meta(directory: str | Path) -> dict:
    directory = Path(directory)
    meta_path = directory / META_FILE
    if not directory.is_dir():
        raise UserError(f"Checkpoint folder {directory} does not exist: give a folder made by `python -m galaxy_core train`.")
    if not meta_path.is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise UserError(f"{directory} is not a checkpoint (it needs {META_FILE} and {WEIGHTS_FILE}): give a folder made by `train`.")
    if meta_path.stat().st_size > MAX_META_BYTES:
        raise UserError(f"{meta_path} is larger than {MAX_META_BYTES // 2**20} MB: the checkpoint is damaged; train it again.")
    try:
        meta = json.loads(meta_path.read_text(), parse_constant=_no_constants)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError):
        raise UserError(f"{meta_path} is not valid JSON: the checkpoint is damaged; train it again.") from None
    return check_meta(meta, str(meta_path))


def update_meta(directory: str | Path, **entries) -> dict:
    """Add what was measured after training to a checkpoint's meta.json (atomically); the weights and their
    checksum are untouched. Returns the new metadata."""
    meta = {**read_meta(directory), **entries}
    write_json_atomic(Path(directory) / META_FILE, meta)
    return meta


def record_metrics(directory: str | Path, key: str, metrics: dict) -> None:
    """Store metrics measured after training (say, on the real check set) as meta.json's `metrics[key]`."""
    update_meta(directory, metrics={**read_meta(directory).get("metrics", {}), key: metrics})


def start_from_checkpoint(model: nn.Module, directory: str | Path, trainable: str = "all") -> None:
    """Fine-tuning: copy a trained checkpoint's weights into `model` (same family and input size), then
    freeze everything but the classifier head when `trainable` is "head"."""
    if trainable not in ("all", "head"):
        raise UserError(f"Unknown trainable layers '{trainable}': use all or head.")
    trained, meta = load_checkpoint(directory)
    try:
        model.load_state_dict(trained.state_dict())
    except RuntimeError:
        raise UserError(f"{directory} holds a {meta['model']} at {meta['recipe']['image_size']} px that does not fit this run: "
                        "fine-tune the same model at the same --image-size.") from None
    if trainable == "head":
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(f"{model.head_name}."))


class ResidualHead(nn.Module):
    """The base head's logits plus a linear correction of the same features: what `adapt --method residual` fits, so
    that classes the user's labels never show keep the base model's answer."""

    def __init__(self, base: nn.Module, features: int, classes: int = 10):
        super().__init__()
        self.base = base
        self.residual = nn.Linear(features, classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.base(features) + self.residual(features)


def refit_head(model: nn.Module, kind: str, state: dict | None = None, features: int | None = None) -> nn.Module:
    """Replace `model`'s head by an adapted one: "linear" (a new linear layer) or "residual" (the base head plus a linear
    correction). Its input width comes from `features`, else from the stored tensors in `state`."""
    name = model.head_name
    if features is None:
        key = f"{name}.weight" if kind == "linear" else f"{name}.residual.weight"
        if key not in state or state[key].ndim != 2:
            raise UserError(f"This adapted checkpoint has no '{key}' tensor: it is damaged; adapt it again.")
        features = int(state[key].shape[1])
    head = nn.Linear(features, 10) if kind == "linear" else ResidualHead(model.get_submodule(name), features)
    model.set_submodule(name, head)
    return model


def load_checkpoint(directory: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The trained model (eval mode, float32) and its metadata, or one clear UserError."""
    directory = Path(directory)
    meta = read_meta(directory)
    weights = directory / WEIGHTS_FILE
    if meta.get("weights_sha256") and meta["weights_sha256"] != _sha256(weights):
        raise UserError(f"{weights} does not match its {META_FILE} (SHA256 differs): the checkpoint is damaged or half-written; train it again.")
    recipe = Recipe.from_dict(meta["recipe"]).override(weights=None)  # never fetch ImageNet weights to load our own
    model = create_model(meta["model"], recipe)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError):
        raise UserError(f"{weights} is not a readable safetensors file: the checkpoint is damaged; train it again.") from None
    if "adapted" in meta:
        refit_head(model, meta["adapted"]["head"], state)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and (own[k].shape != state[k].shape or own[k].is_floating_point() != state[k].is_floating_point())]
    if missing or unexpected or wrong:
        example = (missing or unexpected or wrong)[0]
        raise UserError(f"{directory} does not fit model '{meta['model']}' as built by this version "
                        f"({len(missing)} missing, {len(unexpected)} unexpected, {len(wrong)} wrong-shaped or wrongly typed tensors, "
                        f"e.g. '{example}'): retrain it.")
    broken = next((k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())), None)
    if broken is not None:
        raise UserError(f"{weights} holds NaN or infinite values (first in '{broken}'): the training diverged or the file is damaged; "
                        "train it again.")
    # copy_ converts float16 to the model's float32 tensor by tensor: no second float32 copy of the weights
    # exists at any moment (ResNet50's load peaked 92 MB higher with one: benchmarks/bench_checkpoint_load.py).
    del own
    model.load_state_dict(state)
    del state
    return model.to(device).eval(), meta
