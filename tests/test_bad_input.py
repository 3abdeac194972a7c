"""Every bad input issue 14 found getting through the command line: one sentence and exit 2 now."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import REPO, run_cli, write_galaxy10
from hostile_files import damage_chunk, declares_a_hundred_million_images
from galaxy_core.data.galaxy10 import Galaxy10
from galaxy_core.errors import DataFileError

LONG = "/tmp/" + "x" * 300 + "/file"


def cli(*args):
    return run_cli(*args)


def fresh_cli(*args):
    """A real `python -m galaxy_core` process: for what a fresh interpreter prints beyond the command's own words."""
    return subprocess.run([sys.executable, "-m", "galaxy_core", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=300)


def one_sentence(run, contains: str = "") -> None:
    """Exit 2, a single `error: ...` line on stderr, nothing else (no traceback, no warning)."""
    assert run.returncode == 2, (run.returncode, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert contains in lines[0], lines[0]


@pytest.mark.parametrize("args", [
    ("info", LONG),
    ("evaluate", "--checkpoint", LONG),
    ("predict", "--checkpoint", LONG, "x.jpg"),
    ("train", "--model", "cnn", "--data", LONG, "--epochs", "1"),
])
def test_paths_of_hundreds_of_characters_get_one_sentence(args):
    one_sentence(cli(*args))


def test_predict_on_an_image_path_too_long(tiny_checkpoints):
    one_sentence(cli("predict", "--checkpoint", tiny_checkpoints / "cnn", LONG + ".jpg"))


def test_a_file_declaring_a_hundred_million_images_is_refused_before_reading(tmp_path):
    path = declares_a_hundred_million_images(tmp_path / "huge.h5")
    assert path.stat().st_size < 10_000
    one_sentence(cli("info", path), "declares 100,000,000 images")
    one_sentence(cli("train", "--model", "cnn", "--data", path, "--epochs", "1", "--out", tmp_path / "run"), "declares 100,000,000 images")


def test_unwritten_image_chunks_are_refused_with_their_count(tmp_path):
    path = tmp_path / "holes.h5"
    write_galaxy10(path, n=8, images=None)
    with h5py.File(path, "r+") as f:
        images = f.create_dataset("images", shape=(8, 16, 16, 3), dtype="u1", chunks=(1, 16, 16, 3), compression="gzip")
        for i in range(0, 8, 2):  # every other image never written
            images[i] = 100
    one_sentence(cli("info", path), "4 of its 8 image chunks were never written")


def test_an_unfinished_synth_file_is_refused(tmp_path):
    partial = tmp_path / "data.h5.partial"
    write_galaxy10(partial)
    with pytest.raises(DataFileError, match="unfinished file"):
        Galaxy10(partial)


def test_info_verify_names_a_corrupt_chunk_in_the_middle(tiny_h5, tmp_path):
    broken = damage_chunk(tiny_h5, tmp_path / "broken.h5", 12)
    assert cli("info", broken).returncode == 0  # the quick check reads only the first and last image
    one_sentence(cli("info", "--verify", broken), "image 12 cannot be decoded")
    assert json.loads(cli("info", "--verify", tiny_h5).stdout)["verified"] == "all 30 images decode"


def test_a_failed_training_run_does_not_leave_progress_saying_running(tiny_h5, tmp_path):
    from galaxy_core.models import get_spec
    from galaxy_core.training.trainer import train

    out = tmp_path / "run"
    recipe = get_spec("cnn").recipe.override(image_size=16, epochs=2, batch_size=8, weights=None)
    calls = {"n": 0}

    def explode(stage, done, total):
        calls["n"] += 1
        if calls["n"] == 2:
            raise DataFileError("image 3 cannot be decoded: test")

    with pytest.raises(DataFileError):
        train(recipe, tiny_h5, out, device="cpu", max_batches=2, progress=explode)
    progress = json.loads((out / "progress.json").read_text())
    assert progress["state"] == "failed" and "image 3" in progress["reason"]


def test_a_killed_run_is_reported_stopped_not_running(tmp_path):
    from galaxy_core.training import jobs

    out = tmp_path / "run"
    out.mkdir()
    (out / "job.json").write_text(json.dumps({"pid": 2**22 + 12345, "command": [], "started": 0}))  # no such process
    (out / "progress.json").write_text(json.dumps({"state": "running", "epoch": 1, "epochs": 5}))
    assert not jobs.status(out)["running"]
    assert json.loads((out / "progress.json").read_text())["state"] == "failed"


def test_a_recycled_process_id_is_not_taken_for_the_job_nor_signalled(tmp_path):
    """job.json names this very test process, alive, but with another start time: the id was handed on. Signalling
    it would stop this test (SIGTERM), so getting past stop_job proves it was left alone."""
    import os

    from galaxy_core.processes import job_alive, process_start_time, stop_job

    out = tmp_path / "run"
    out.mkdir()
    started = process_start_time(os.getpid())
    (out / "job.json").write_text(json.dumps({"pid": os.getpid(), "command": [], "started": 0, "process_started": started - 3600}))
    assert not job_alive(out) and stop_job(out) is False
    (out / "job.json").write_text(json.dumps({"pid": os.getpid(), "command": [], "started": 0, "process_started": started}))
    assert job_alive(out), "the same process, the same start time: the job is alive"


@pytest.fixture
def cnn_copy(tiny_checkpoints, tmp_path) -> Path:
    copy = tmp_path / "cnn"
    shutil.copytree(tiny_checkpoints / "cnn", copy)
    return copy


def _edit_meta(folder: Path, change) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    change(meta)
    (folder / "meta.json").write_text(json.dumps(meta) if not isinstance(meta, str) else meta)


@pytest.mark.parametrize("change, message", [
    (lambda m: m["recipe"].update(image_size="abc"), "recipe.image_size"),
    (lambda m: m.pop("preprocessing"), "'preprocessing' is a required property"),
    (lambda m: m.update(recipe="cnn"), "recipe: 'cnn' is not of type 'object'"),
    (lambda m: m["preprocessing"].update(std=[0, 1, 1]), "preprocessing.std.0"),
    (lambda m: m.update(classes=["a"]), "classes"),
])
def test_crafted_meta_json_is_refused_by_the_schema(cnn_copy, change, message):
    _edit_meta(cnn_copy, change)
    run = cli("predict", "--checkpoint", cnn_copy, REPO / "galaxy_core/data/real_sample/g10_c0_r0.jpg")
    one_sentence(run, message)


def test_meta_json_with_nan_is_refused(cnn_copy):
    text, count = re.subn(r'"learning_rate": [0-9.e-]+', '"learning_rate": NaN', (cnn_copy / "meta.json").read_text(), count=1)
    assert count == 1
    (cnn_copy / "meta.json").write_text(text)
    one_sentence(cli("evaluate", "--checkpoint", cnn_copy, "--real-sample"), "not valid JSON")


def _rewrite_weights(folder: Path, change) -> None:
    state = {k: change(v) for k, v in load_file(str(folder / "model.safetensors")).items()}
    save_file(state, str(folder / "model.safetensors"))
    _edit_meta(folder, lambda m: m.pop("weights_sha256"))  # as if the checksum had been forged too


def test_nan_weights_are_refused(cnn_copy):
    _rewrite_weights(cnn_copy, lambda t: torch.full_like(t, float("nan")) if t.is_floating_point() else t)
    one_sentence(cli("predict", "--checkpoint", cnn_copy, REPO / "galaxy_core/data/real_sample/g10_c0_r0.jpg"), "NaN or infinite")
    one_sentence(cli("evaluate", "--checkpoint", cnn_copy, "--real-sample"), "NaN or infinite")


def test_integer_weights_are_refused(cnn_copy):
    _rewrite_weights(cnn_copy, lambda t: t.to(torch.int32) if t.is_floating_point() else t)
    one_sentence(cli("predict", "--checkpoint", cnn_copy, REPO / "galaxy_core/data/real_sample/g10_c0_r0.jpg"), "wrongly typed")


@pytest.mark.parametrize("args, message", [
    (("train", "--model", "cnn", "--image-size", "0"), "--image-size: 0 is outside 16 to 1,024"),
    (("train", "--model", "cnn", "--epochs", "-3"), "--epochs: -3 is outside 1 to 10,000"),
    (("train", "--model", "cnn", "--image-size", "64", "--resize", "32"), "--resize 32 is smaller than the image size 64"),
    (("train", "--model", "cnn", "--lr", "nan"), "--lr: nan is outside"),
    (("train", "--model", "cnn", "--batch-size", "many"), "'many' is not a whole number"),
    (("synth", "--out", "x.h5", "--n", "99999999"), "--n: 99999999 is outside"),
])
def test_numeric_options_are_range_checked(args, message):
    one_sentence(cli(*args), message)


def test_unwritable_outputs_are_refused_before_work(tmp_path):
    one_sentence(cli("synth", "--out", "/proc/x.h5", "--n", "10"), "Cannot write /proc/x.h5")
    one_sentence(cli("import", "--images", REPO / "galaxy_core/data/real_sample", "--out", "/proc/real.h5"), "Cannot write")


def test_an_all_nan_float_tiff_gets_one_sentence_and_no_warning(tiny_checkpoints, tmp_path):
    from PIL import Image

    tiff = tmp_path / "nan.tif"
    Image.fromarray(np.full((32, 32), np.nan, dtype=np.float32), mode="F").save(tiff)
    # In this process: run_cli records warnings under a fresh interpreter's filters (numpy's NaN warnings included);
    # what a fresh interpreter prints at import is test_a_normal_prediction_writes_nothing_to_stderr's business.
    one_sentence(cli("predict", "--checkpoint", tiny_checkpoints / "cnn", tiff), "no finite pixel values")


def test_stdout_is_strict_json_without_nan():
    from galaxy_core.cli import json_safe

    text = json.dumps(json_safe({"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": -float("inf")}}), allow_nan=False)
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": {"d": None}}


def test_a_normal_prediction_writes_nothing_to_stderr(tiny_checkpoints):
    run = fresh_cli("predict", "--checkpoint", tiny_checkpoints / "cnn", REPO / "galaxy_core/data/real_sample/g10_c0_r0.jpg", "--json")
    assert run.returncode == 0 and run.stderr == "", run.stderr
    json.loads(run.stdout, parse_constant=lambda name: pytest.fail(f"{name} in stdout"))



class _DamagedDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        raise DataFileError(f"x.h5 is corrupt (image {index} cannot be decoded): download or generate it again.")


def test_an_error_raised_in_a_dataloader_worker_stays_one_sentence():
    from galaxy_core.errors import one_sentence

    with pytest.raises(DataFileError) as caught:
        list(torch.utils.data.DataLoader(_DamagedDataset(), num_workers=1))
    assert "\n" in str(caught.value)  # PyTorch folds the worker's traceback into the message
    assert one_sentence(caught.value) == "x.h5 is corrupt (image 0 cannot be decoded): download or generate it again."


def test_a_reader_that_leaves_early_gets_no_traceback(tiny_checkpoints):
    """`predict ... | head`: the pipe closes before the JSON is written."""
    process = subprocess.Popen([sys.executable, "-m", "galaxy_core", "predict", "--checkpoint", str(tiny_checkpoints / "cnn"),
                                str(REPO / "galaxy_core/data/real_sample/g10_c0_r0.jpg")],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 141 and "Traceback" not in stderr, stderr
