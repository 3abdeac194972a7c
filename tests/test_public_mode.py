"""Safe to share (issue 14): public mode, plain run names, one run at a time, paths that reveal nothing,
uploads bounded before decoding. AppTest for the pages, plain calls for the rules beneath them."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import tomllib

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from conftest import REPO, wait_until, write_galaxy10
from hostile_files import declares_a_hundred_million_images, pixel_bomb_png
from galaxy_core import settings
from galaxy_core.errors import UserError
from galaxy_core.training import jobs

APP = str(REPO / "app.py")


@pytest.fixture
def app():
    return AppTest.from_file(APP, default_timeout=120)


@pytest.fixture
def public(monkeypatch):
    monkeypatch.setenv("GALAXY_PUBLIC", "1")


@pytest.fixture
def own_checkpoints(tiny_checkpoints, tmp_path, monkeypatch):
    """A private copy of the checkpoints root, so runs and deletions touch nothing shared."""
    root = tmp_path / "checkpoints"
    shutil.copytree(tiny_checkpoints, root, ignore=shutil.ignore_patterns("from_the_page"))
    monkeypatch.setenv("GALAXY_CHECKPOINTS", str(root))
    return root


def sleeping_launch(monkeypatch):
    """Start `sleep` instead of a training process: the rules are about processes, not about training."""
    def launch(arguments, log, stdout_to_log=True):
        log.parent.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(["sleep", "60"], start_new_session=True)

    import functools

    from galaxy_core import processes

    monkeypatch.setattr(jobs, "start_job", functools.partial(processes.start_job, launch=launch))


# ----- settings --------------------------------------------------------------------------------
def test_public_mode_is_one_setting_and_fails_safe(monkeypatch):
    monkeypatch.delenv("GALAXY_PUBLIC", raising=False)
    assert not settings.public_mode()  # this checkout is not under Community Cloud's /mount/src
    for value, expected in (("1", True), ("true", True), ("0", False), ("off", False), ("maybe", True)):
        monkeypatch.setenv("GALAXY_PUBLIC", value)
        assert settings.public_mode() is expected
    monkeypatch.setenv("GALAXY_PUBLIC", "1")
    assert not settings.ui_training_allowed()
    monkeypatch.setenv("GALAXY_UI_TRAINING", "1")
    assert settings.ui_training_allowed() and settings.ui_runs_root() == settings.cache_dir() / "public_runs"


def test_on_community_cloud_public_mode_is_on_by_default(monkeypatch):
    monkeypatch.delenv("GALAXY_PUBLIC", raising=False)
    monkeypatch.setattr(settings, "REPO_ROOT", settings.Path("/mount/src/galaxy-workbench"))
    assert settings.public_mode()
    monkeypatch.setenv("GALAXY_PUBLIC", "0")
    assert not settings.public_mode()


def test_streamlit_config_matches_what_the_app_accepts():
    from galaxy_core.data.images import MAX_BYTES, MAX_IMAGE_MB

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_IMAGE_MB and MAX_BYTES == MAX_IMAGE_MB * 2**20
    assert config["client"]["showErrorDetails"] == "none"


# ----- run names, replacing, limits, deleting ------------------------------------------------------
@pytest.mark.parametrize("name", ["../../../tmp/x", "/tmp/x", "a/b", "..", ".", "", "a b", "x" * 65, "caf\u00e9", "run\x00"])
def test_run_names_are_plain(tmp_path, name):
    with pytest.raises(UserError, match="only hold letters, digits"):
        jobs.run_folder(tmp_path, name)


def test_a_symlink_under_the_root_cannot_lead_out(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "escape").symlink_to(tmp_path)
    with pytest.raises(UserError):
        jobs.run_folder(tmp_path / "root", "escape")
    assert jobs.run_folder(tmp_path / "root", "cnn_64px") == (tmp_path / "root" / "cnn_64px").resolve()


def test_a_new_run_never_replaces_a_checkpoint_it_did_not_start(own_checkpoints, monkeypatch):
    sleeping_launch(monkeypatch)
    before = (own_checkpoints / "cnn" / "model.safetensors").read_bytes()
    with pytest.raises(UserError, match="already used by a checkpoint this page did not train"):
        jobs.start_named(own_checkpoints, "cnn", "cnn", epochs=1)
    assert (own_checkpoints / "cnn" / "model.safetensors").read_bytes() == before
    assert not (own_checkpoints / "cnn" / "job.json").exists()


def test_one_run_at_a_time_then_cancel_and_delete(tmp_path, monkeypatch):
    sleeping_launch(monkeypatch)
    first = jobs.start_named(tmp_path, "first", "cnn", epochs=1)
    for name in ("second", "third"):
        with pytest.raises(UserError, match="1 training run is already going on this server \\(the limit is 1\\)"):
            jobs.start_named(tmp_path, name, "cnn", epochs=1)
    assert [p.name for p in jobs.runs(tmp_path)] == ["first"]
    with pytest.raises(UserError, match="still running"):
        jobs.delete(first)
    assert jobs.start_named(tmp_path, "second", "cnn", max_runs=2, epochs=1).name == "second"  # the operator raised the limit
    for run in jobs.runs(tmp_path):
        jobs.cancel(run)
    wait_until(lambda: not any(jobs.status(r)["running"] for r in jobs.runs(tmp_path)), 20, "the cancelled runs to stop")
    jobs.delete(first)
    assert not first.exists() and [p.name for p in jobs.runs(tmp_path)] == ["second"]


def test_a_finished_run_is_not_restarted_over(tmp_path):
    done = tmp_path / "done"
    done.mkdir()
    (done / "job.json").write_text(json.dumps({"pid": 2**22 + 99, "command": [], "started": 0}))
    (done / "meta.json").write_text("{}")
    with pytest.raises(UserError, match="finished run"):
        jobs.start_named(tmp_path, "done", "cnn")


def test_folders_the_page_did_not_start_are_never_deleted(own_checkpoints):
    with pytest.raises(UserError, match="not started from this page"):
        jobs.delete(own_checkpoints / "cnn")
    assert (own_checkpoints / "cnn" / "meta.json").exists()


def test_stale_public_runs_are_cleaned_up(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "job.json").write_text(json.dumps({"pid": 2**22 + 98, "command": [], "started": 0}))
    past = time.time() - 7200
    os.utime(old / "job.json", (past, past))
    assert jobs.remove_stale(tmp_path, 3600) == ["old"] and not old.exists()


# ----- the pages, locally ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../../tmp/x", "/tmp/x", "cnn"])
def test_train_page_refuses_traversal_and_overwrite_names(app, own_checkpoints, monkeypatch, tmp_path, name):
    sleeping_launch(monkeypatch)
    before = sorted(p.name for p in own_checkpoints.iterdir())
    outside = settings.Path("/tmp/x")
    outside_before = sorted(p.name for p in outside.iterdir()) if outside.is_dir() else outside.exists()
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    at.text_input(key="train_name").input(name)
    at.button[0].click().run()
    assert not at.exception
    assert at.error and not at.success
    assert sorted(p.name for p in own_checkpoints.iterdir()) == before
    assert not (own_checkpoints / "cnn" / "job.json").exists()
    assert (sorted(p.name for p in outside.iterdir()) if outside.is_dir() else outside.exists()) == outside_before


def test_train_page_starts_one_run_of_three_clicks_and_deletes_it(app, own_checkpoints, monkeypatch):
    sleeping_launch(monkeypatch)
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    for click in range(3):
        at.text_input(key="train_name").input(f"run{click}")
        at.button[0].click().run()
    assert [s.value for s in at.success] == [] and any("already going on this server" in e.value for e in at.error)
    assert [p.name for p in jobs.runs(own_checkpoints)] == ["run0"]
    jobs.cancel(own_checkpoints / "run0")
    wait_until(lambda: not jobs.status(own_checkpoints / "run0")["running"], 20, "the cancelled run to stop")
    at.run()
    at.button(key="delete_run0").click().run()
    assert not at.exception and not (own_checkpoints / "run0").exists()


@pytest.mark.parametrize("typed", ["/proc/self/environ", "/etc/passwd", "/definitely/not/here.h5", "/tmp/" + "y" * 300])
def test_sidebar_paths_outside_the_allowed_folders_reveal_nothing(app, monkeypatch, tmp_path, typed):
    monkeypatch.setenv("GALAXY_DATA_ROOTS", str(tmp_path))
    at = app.run()
    at.text_input(key="data_path").input(typed).run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and errors[0].startswith("Cannot use this file:")
    assert str(os.getpid()) not in errors[0] and str(settings.Path.home()) not in errors[0]


def test_sidebar_refuses_a_file_declaring_a_hundred_million_images_without_reading_it(app, tmp_path):
    path = declares_a_hundred_million_images(tmp_path / "huge.h5")
    at = app.run()
    at.text_input(key="data_path").input(str(path)).run()
    assert not at.exception
    assert any("declares 100,000,000 images" in e.value for e in at.sidebar.error)


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_a_49_megapixel_png_is_refused_from_its_header(app, own_checkpoints):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    bomb = pixel_bomb_png(own_checkpoints.parent / "bomb.png").read_bytes()
    assert len(bomb) < 200_000
    at.file_uploader(key="classify_upload_0").set_value([("bomb.png", bomb, "image/png")]).run()
    assert not at.exception
    assert any("7000x7000 pixels; at most 9 megapixels" in e.value for e in at.error)


def test_uploads_are_decoded_once_capped_in_number_and_released(app, own_checkpoints):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    files = [(f"g{i}.png", png(64, 64), "image/png") for i in range(103)]
    at.file_uploader(key="classify_upload_0").set_value(files).run()
    assert not at.exception
    assert any("Only the first 100 images were used (3 more left out)" in e.value for e in at.error)
    assert len(at.session_state["classify_uploaded"]) == 101  # 100 decoded images and the note
    assert at.session_state["upload_generation"] == 1  # a fresh uploader: the uploaded bytes are let go


# ----- the pages, in public mode -------------------------------------------------------------------
def test_public_mode_has_no_path_box_and_no_training(app, public, own_checkpoints):
    at = app.run()
    assert not at.exception
    assert not [t for t in at.sidebar.text_input if t.key == "data_path"]
    shown = " ".join(c.value for c in at.caption) + " ".join(m.value for m in at.markdown)
    assert "galaxy10_synthetic" in shown and str(settings.cache_dir()) not in shown  # the file's name, not where it lives
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert any("Training is switched off on this public deployment" in i.value for i in at.info)
    assert not at.button


def test_public_mode_offers_only_the_operators_datasets(app, public, monkeypatch, tmp_path):
    offered = write_galaxy10(tmp_path / "survey.h5", n=12, side=32)
    monkeypatch.setenv("GALAXY_DATASETS", str(offered))
    at = app.run()
    box = at.sidebar.selectbox(key="data_choice")
    assert box.options == ["the synthetic default", "survey.h5"]
    box.select("survey.h5").run()
    assert not at.exception
    assert "Real Galaxy10, 12 images" in " ".join(m.value for m in at.sidebar.markdown)


def test_public_training_when_allowed_is_capped_and_scratch(app, public, monkeypatch, own_checkpoints):
    monkeypatch.setenv("GALAXY_UI_TRAINING", "1")
    sleeping_launch(monkeypatch)
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    assert at.number_input(key="train_epochs").max == 3 and at.number_input(key="train_size").max == 64
    at.text_input(key="train_name").input("visitor")
    at.button[0].click().run()
    assert any("Started training" in s.value for s in at.success)
    scratch = settings.cache_dir() / "public_runs"
    assert (scratch / "visitor" / "job.json").exists() and not (own_checkpoints / "visitor").exists()
    jobs.cancel(scratch / "visitor")
