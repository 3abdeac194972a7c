"""`python -m galaxy_core study`: several models under their study recipes, one table of models and ensemble rules,
resumed after a kill; mistakes get one sentence; the Evaluation page shows the table."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import REPO, captions, run_cli, wait_until
from galaxy_core.models.checkpoint import read_meta

# Small enough for the CPU in seconds: every model at 32 px, a few steps (the recipes are otherwise the studies' own).
QUICK = ("--image-size", "32", "--batch-size", "8", "--epochs", "20", "--max-steps", "6", "--weights", "none", "--device", "cpu")
COLUMNS = ("model", "accuracy", "balanced_accuracy", "macro_f1", "cross_entropy", "kl", "ece", "real_accuracy", "real_low", "real_high",
           "train_minutes", "train_images_per_s", "device", "data_fingerprint")


@pytest.fixture(scope="module")
def killed_then_finished(tiny_h5, tmp_path_factory):
    """A study of cnn and efficientnet_b0 killed (SIGKILL) while B0 trains, then run again to the end."""
    out = tmp_path_factory.mktemp("studies") / "studies" / "smoke"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "galaxy_core", "study", "--models", "cnn", "efficientnet_b0", "--data", str(tiny_h5),
                                "--out", str(out), *QUICK], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # B0's resumable state appears after its first epoch and stays until its run ends (after the OOD fit and the
        # check set's scores, seconds later): kill it in between.
        wait_until(lambda: (out / "efficientnet_b0" / "training_state.json").is_file() or process.poll() is not None, 120,
                   "B0's first epoch")
        assert process.poll() is None, process.stderr.read().decode()
        state = json.loads((out / "efficientnet_b0" / "training_state.json").read_text())
        cnn_written = (out / "cnn" / "meta.json").stat().st_mtime_ns
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    done = run_cli("study", "--models", "cnn", "efficientnet_b0", "--data", tiny_h5, "--out", out, *QUICK)
    assert done.returncode == 0, done.stderr
    return out, state, cnn_written, json.loads(done.stdout)


def test_a_killed_study_resumes_and_writes_one_table(killed_then_finished, tiny_h5):
    out, state, cnn_written, printed = killed_then_finished
    assert (out / "cnn" / "meta.json").stat().st_mtime_ns == cnn_written, "the finished model is not trained again"
    meta = read_meta(out / "efficientnet_b0")
    saved = state["run"]["history"]
    assert meta["history"][: len(saved)] == saved, "B0 went on from its last saved epoch, not from the start"
    assert meta["steps"] == 6 and meta["max_steps"] == 6
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["model"] for r in rows] == ["cnn", "efficientnet_b0", "ensemble:agreement", "ensemble:soft", "ensemble:f1_weighted"]
    assert set(COLUMNS) <= set(rows[0])
    for row in rows:
        assert 0 <= float(row["real_low"]) <= float(row["real_accuracy"]) <= float(row["real_high"]) <= 1
        assert row["data_fingerprint"] == read_meta(out / "cnn")["data"]["fingerprint"]
    assert rows[0]["split"] == "65/15/20" and rows[1]["split"] == "80/10/10", "each model under its own study's split"
    assert "| ensemble:soft |" in (out / "results.md").read_text()
    assert [r["model"] for r in printed["rows"]][:2] == ["cnn", "efficientnet_b0"]
    stages = json.loads((out / "results.json").read_text())["rows"][0]["stage_seconds"]
    assert {"check_set_scan", "epochs", "final_scores", "ood_fit", "real_check_set", "study_scoring"} <= set(stages)


def test_a_study_checkpoint_is_a_normal_checkpoint(killed_then_finished, tmp_path):
    out = killed_then_finished[0]
    done = run_cli("predict", "--checkpoint", out / "efficientnet_b0", REPO / "galaxy_core" / "data" / "real_sample" / "g10_c0_r0.jpg")
    assert done.returncode == 0, done.stderr


def test_a_second_run_reads_everything_back(killed_then_finished, tiny_h5, monkeypatch):
    from galaxy_core.training import study, trainer

    out = killed_then_finished[0]
    monkeypatch.setattr(trainer, "train", lambda *a, **k: pytest.fail("trained again"))
    monkeypatch.setattr(study, "predict_checkpoint", lambda *a, **k: pytest.fail("scored again"))
    again = run_cli("study", "--models", "cnn", "efficientnet_b0", "--data", tiny_h5, "--out", out, *QUICK)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["rows"] == killed_then_finished[3]["rows"]


@pytest.mark.parametrize("extra, message", [
    (("--models", "cnn", "vgg99"), "Unknown model or study 'vgg99'"),
    (("--models", "cnn", "--out", "/proc/no/study"), "Cannot write"),
    (("--models", "cnn", "--out", REPO / "checkpoints" / "study"), "shipped checkpoints folder"),
    ((), "--models"),
])
def test_study_mistakes_get_one_sentence(tiny_h5, tmp_path, extra, message):
    args = ["study", "--data", tiny_h5, *QUICK, *extra]
    if "--out" not in extra:
        args += ["--out", tmp_path / "study"]
    done = run_cli(*args)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_other_settings_in_a_study_folder_are_refused(killed_then_finished, tiny_h5):
    out = killed_then_finished[0]
    done = run_cli("study", "--models", "cnn", "--data", tiny_h5, "--out", out, *QUICK[:-2], "--image-size", "48", "--device", "cpu")
    assert done.returncode == 2 and "trained with other settings" in done.stderr, done.stderr


def _study_section():
    from galaxy_core.dashboard.studies import show_studies

    show_studies()


def test_the_evaluation_page_shows_a_study_table(killed_then_finished, monkeypatch):
    """The Evaluation page ends with this section (its own tests run the whole page); here the section alone."""
    from streamlit.testing.v1 import AppTest

    out = killed_then_finished[0]
    monkeypatch.setenv("GALAXY_RESULTS", str(out.parent.parent))
    # A function's script runs as __main__ from a temporary file, deleted afterwards; a later multiprocessing pool (the
    # generator's) would have its workers import that missing __main__ and die at start. Put the real one back after.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    at = AppTest.from_function(_study_section, default_timeout=60).run()
    at.selectbox(key="eval_study").select(str(out)).run()
    assert not at.exception, at.exception
    table = at.dataframe[-1].value
    assert list(table["model"])[:2] == ["cnn", "efficientnet_b0"] and "real_accuracy" in table.columns
    assert table["accuracy"].dtype.kind in "if" and table["device"].dtype.kind not in "if", "numbers sort as numbers"
    assert "60-galaxy check set" in captions(at)
    at.text_input(key="eval_study_path").input(str(out / "nothing")).run()
    assert any("no readable study table" in e.value for e in at.error)
    assert "show_studies()" in (REPO / "app_pages" / "evaluation.py").read_text()
