"""Paths and settings, in one place: the repository root, the cache and checkpoint roots, the
environment variables that move them, and the choice of device."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from galaxy_core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]

DATA_ENV = "GALAXY10_H5"  # the Galaxy10 file to use when none is given
CACHE_ENV = "GALAXY_CORE_CACHE"  # the cache folder (default dataset, prepared images)
CHECKPOINTS_ENV = "GALAXY_CHECKPOINTS"  # the checkpoints root
RESULTS_ENV = "GALAXY_RESULTS"  # where evaluations write their per-image predictions and summaries
DEFAULT_N_ENV = "GALAXY10_DEFAULT_N"  # size of the default synthetic dataset (tests, quick demos)
DEVICES = ("auto", "cpu", "cuda", "mps")

# A public deployment (anyone with the link is a visitor): see public_mode() and the README's Deploy.
PUBLIC_ENV = "GALAXY_PUBLIC"  # 1: public mode; 0: local mode even on Community Cloud
UI_TRAINING_ENV = "GALAXY_UI_TRAINING"  # 1: allow training from the UI in public mode (small caps, scratch folder)
MAX_UI_RUNS_ENV = "GALAXY_MAX_UI_RUNS"  # UI training runs at once for the whole server (default 1)
DATASETS_ENV = "GALAXY_DATASETS"  # Galaxy10 files a public deployment offers (os.pathsep-separated)
DATA_ROOTS_ENV = "GALAXY_DATA_ROOTS"  # folders the local sidebar path box may open (os.pathsep-separated)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(name: str, unclear: bool) -> bool | None:
    """A yes/no setting: None when unset; `unclear` (the safe answer) for a value that is neither."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return None
    return True if raw in _TRUE else False if raw in _FALSE else unclear


def on_community_cloud() -> bool:
    """Streamlit Community Cloud checks apps out under /mount/src/."""
    return str(REPO_ROOT).startswith("/mount/src/")


def public_mode() -> bool:
    """$GALAXY_PUBLIC if set, else on whenever the app runs on Community Cloud."""
    flag = _flag(PUBLIC_ENV, unclear=True)
    return on_community_cloud() if flag is None else flag


def ui_training_allowed() -> bool:
    return not public_mode() or bool(_flag(UI_TRAINING_ENV, unclear=False))


def max_ui_runs() -> int:
    raw = os.environ.get(MAX_UI_RUNS_ENV, "1").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise UserError(f"{MAX_UI_RUNS_ENV}={raw!r} is not a whole number from 1 to 64: fix it or unset it.")
    return int(raw)


def _path_list(name: str) -> list[Path]:
    return [Path(p).expanduser() for p in os.environ.get(name, "").split(os.pathsep) if p.strip()]


def configured_datasets() -> list[Path]:
    """The Galaxy10 files the operator offers ($GALAXY_DATASETS, then $GALAXY10_H5)."""
    files = _path_list(DATASETS_ENV) + ([Path(os.environ[DATA_ENV]).expanduser()] if os.environ.get(DATA_ENV) else [])
    return list(dict.fromkeys(files))


def data_roots() -> list[Path]:
    """Folders the local path box may open: $GALAXY_DATA_ROOTS, else home, the repository, the cache,
    the temporary folder and the folders of the configured datasets."""
    import tempfile

    roots = _path_list(DATA_ROOTS_ENV) or [Path.home(), REPO_ROOT, cache_dir(), Path(tempfile.gettempdir())]
    return [r.resolve() for r in [*roots, *(p.parent for p in configured_datasets())]]


def ui_runs_root() -> Path:
    """Where UI training runs go: the checkpoints root locally, a scratch folder in public mode."""
    return cache_dir() / "public_runs" if public_mode() else checkpoints_root()


DEBUG_ENV = "GALAXY_DEBUG"  # 1: let library warnings through (they are for developers)


def quiet_library_warnings() -> None:
    """Normal runs (CLI, dashboard) keep numpy/sklearn/torch warnings off stderr; $GALAXY_DEBUG shows them."""
    import warnings

    if not os.environ.get(DEBUG_ENV):
        warnings.simplefilter("ignore")


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "galaxy_core")


def portable_path(path: str | os.PathLike, *roots: str | os.PathLike) -> str:
    """A path as shipped files record it: relative to the first of `roots`, the checkpoints root or the project that
    holds it, else just its name (a path of the machine that wrote it means nothing on another). Datasets go with
    their fingerprint beside this, which is what identifies them."""
    path = Path(path).expanduser().absolute()
    for root in (*roots, checkpoints_root(), REPO_ROOT):
        try:
            return str(path.relative_to(Path(root).expanduser().absolute()))
        except ValueError:
            continue
    return path.name


def portable_record(record, *roots):
    """`record` (nested dicts and lists) with every absolute path string made portable (portable_path)."""
    if isinstance(record, dict):
        return {key: portable_record(value, *roots) for key, value in record.items()}
    if isinstance(record, list):
        return [portable_record(value, *roots) for value in record]
    if isinstance(record, str) and record.startswith("checkpoint /"):  # meta.json's weights_source of a fine-tuned model
        return "checkpoint " + portable_path(record[len("checkpoint "):], *roots)
    if isinstance(record, str) and (record.startswith("/") or record.startswith("~/")) and "\n" not in record and len(record) < 4096:
        return portable_path(record, *roots)
    return record


def checkpoints_root() -> Path:
    """Where trained models live: $GALAXY_CHECKPOINTS, else the repository's checkpoints/ (absolute,
    so the CLI, the dashboard and background runs agree whatever their working directory)."""
    return Path(os.environ.get(CHECKPOINTS_ENV) or REPO_ROOT / "checkpoints").expanduser()


def results_root() -> Path:
    """Where `evaluate` writes (a folder per checkpoint, and ensembles/): $GALAXY_RESULTS, else the repository's results/.
    Never inside a checkpoint folder: what ships is the model and the figures its meta.json records."""
    return Path(os.environ.get(RESULTS_ENV) or REPO_ROOT / "results").expanduser()


def select_device(requested: str = "auto") -> torch.device:
    if requested not in DEVICES:
        raise UserError(f"Unknown device '{requested}': use auto, cpu, cuda or mps.")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but PyTorch sees no CUDA GPU here: use --device auto or cpu.")
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if requested == "mps" and not mps:
        raise UserError("--device mps was asked for, but Apple's MPS is not available here: use --device auto or cpu.")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    if requested == "cuda" and "LOCAL_RANK" in os.environ:  # more processes than GPUs share them (over gloo: see Distributed)
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]) % max(torch.cuda.device_count(), 1))
    return torch.device(requested)


def device_name(device: torch.device) -> str:
    """What a checkpoint records as the machine it was trained on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
