"""Shared fixtures: tiny synthetic Galaxy10 files, made once per test session, on the CPU."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_IMAGES = REPO.parent / "shared" / "galaxy10_real"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's cache or data settings from a test."""
    monkeypatch.setenv("GALAXY_CORE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("GALAXY_RESULTS", str(tmp_path_factory.getbasetemp() / "results"))
    monkeypatch.delenv("GALAXY10_H5", raising=False)
    monkeypatch.setenv("GALAXY10_DEFAULT_N", "20")


@pytest.fixture(scope="session")
def tiny_h5(tmp_path_factory) -> Path:
    """30 synthetic images at the real schema (every class present)."""
    from galaxy_core.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("data") / "tiny.h5", 30, seed=3, workers=1)


def write_galaxy10(path: Path, n: int = 6, side: int = 16, **overrides) -> Path:
    """A hand-made Galaxy10-schema file; `overrides` replace or (with None) drop datasets."""
    rng = np.random.default_rng(0)
    content = {
        "images": rng.integers(0, 255, (n, side, side, 3), dtype=np.uint8),
        "ans": (np.arange(n) % 10).astype(np.uint8),
        "ra": rng.uniform(0, 360, n),
        "dec": rng.uniform(-20, 30, n),
        "redshift": rng.uniform(0, 0.2, n),
        "pxscale": np.full(n, 0.262),
    }
    content.update(overrides)
    with h5py.File(path, "w") as f:
        for key, value in content.items():
            if value is not None:
                f.create_dataset(key, data=value)
    return path


def real_image_files() -> list[Path]:
    return sorted(REAL_IMAGES.glob("*.jpg")) if REAL_IMAGES.is_dir() else []


@pytest.fixture(scope="session")
def tiny_checkpoints(tiny_h5, tmp_path_factory) -> Path:
    """A folder with two tiny trained checkpoints (cnn, efficientnet_b0), as checkpoints/ would hold."""
    from galaxy_core.models import get_spec
    from galaxy_core.training.trainer import train

    folder = tmp_path_factory.mktemp("checkpoints")
    for name in ("cnn", "efficientnet_b0"):
        recipe = get_spec(name).recipe.override(image_size=32, epochs=1, batch_size=8, split="80/10/10", weights=None, resize=None)
        train(recipe, tiny_h5, folder / name, device="cpu", workers=0, max_batches=2)
    return folder


def free_port_for_tests() -> int:
    """A free TCP port on 127.0.0.1 for a server a test starts."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args, env: dict | None = None) -> CliRun:
    """`python -m galaxy_core ARGS` in this process (a second of imports saved per call), its output captured.

    For tests about the command's results and messages; a test about the process itself (signals, a closed pipe,
    torchrun, what a fresh interpreter prints) starts a real one. `env` replaces the environment for the call."""
    import contextlib
    import io
    import os
    import signal
    import warnings

    from galaxy_core.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd, saved_term = dict(os.environ), os.getcwd(), signal.getsignal(signal.SIGTERM)
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        os.chdir(REPO)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings(record=True) as shown:
            warnings.resetwarnings()  # a fresh interpreter's filters, so a warning it would print is seen here too
            for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", quiet)
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse's own exit (a bad flag, --help)
                code = exc.code if isinstance(exc.code, int) else 1
        for w in shown:
            err.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        signal.signal(signal.SIGTERM, saved_term)
    return CliRun(code, out.getvalue(), err.getvalue())


def wait_until(condition, timeout: float = 60.0, what: str = "the condition"):
    """Poll `condition()` until it returns something true, and return that; fail after `timeout` seconds.

    The one way tests wait for another process or thread: on the condition itself, never a fixed sleep."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


APP = str(REPO / "app.py")


@pytest.fixture
def app():
    """The dashboard under Streamlit's AppTest (the script runs in this process, so monkeypatching reaches it)."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=120)


@pytest.fixture
def with_checkpoints(tiny_checkpoints, monkeypatch):
    monkeypatch.setenv("GALAXY_CHECKPOINTS", str(tiny_checkpoints))
    return tiny_checkpoints


def captions(at) -> str:
    return " ".join(c.value for c in at.caption) + " " + " ".join(m.value for m in at.markdown)


def png_bytes(array) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
