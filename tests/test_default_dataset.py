
import pytest

from galaxy_core.data import default
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.errors import UserError


def test_default_is_created_once_then_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("GALAXY_CORE_CACHE", str(tmp_path / "own-cache"))  # other tests may have made one
    calls = []
    path = default.ensure_default_dataset(progress=lambda done, total: calls.append(done))
    assert path.exists() and calls and calls[-1] == 20
    data = Galaxy10(path)
    assert len(data) == 20 and data.is_synthetic and set(data.labels) == set(range(10))
    mtime = path.stat().st_mtime_ns
    calls.clear()
    assert default.ensure_default_dataset(progress=lambda done, total: calls.append(done)) == path
    assert calls == [] and path.stat().st_mtime_ns == mtime


def test_resolution_order(monkeypatch, tmp_path):
    assert default.resolve_dataset(tmp_path / "explicit.h5") == tmp_path / "explicit.h5"
    monkeypatch.setenv("GALAXY10_H5", str(tmp_path / "env.h5"))
    assert default.resolve_dataset(None) == tmp_path / "env.h5"
    assert default.resolve_dataset(tmp_path / "explicit.h5") == tmp_path / "explicit.h5"
    monkeypatch.delenv("GALAXY10_H5")
    assert default.resolve_dataset(None) == default.default_dataset_path()


def test_bad_default_size_is_a_user_error(monkeypatch):
    monkeypatch.setenv("GALAXY10_DEFAULT_N", "lots")
    with pytest.raises(UserError, match="GALAXY10_DEFAULT_N"):
        default.default_dataset_path()


def test_background_generation_process_reports_progress_and_finishes(monkeypatch, tmp_path):
    """The dashboard's path: a detached `synth --default` process, progress read from its partial file."""
    monkeypatch.setenv("GALAXY_CORE_CACHE", str(tmp_path / "bg-cache"))
    monkeypatch.setenv("GALAXY10_DEFAULT_N", "40")
    process = default.start_generation_process()
    assert process.wait(timeout=120) == 0, (tmp_path / "bg-cache" / "default_generation.log").read_text()
    assert default.default_dataset_path().exists() and not default.generation_running()
    assert default.generation_progress() is None  # no partial file is left
    assert len(Galaxy10(default.default_dataset_path())) == 40
