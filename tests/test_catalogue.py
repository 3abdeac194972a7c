"""Catalogue runs (issue 13): one output row per input row, failures recorded, streamed, and an interrupted
run resumed exactly; against the local misbehaving sky server, never the real service."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from conftest import REPO, run_cli
from test_cutouts import SkyServer
from galaxy_core import catalogue
from galaxy_core.data.cutouts import CutoutClient
from galaxy_core.errors import UserError
from galaxy_core.inference.predictor import Predictor

POSITIONS = [("a", 150.1, 2.2), ("b", 150.2, 2.3), ("bad-ra", 400, 1.0), ("gone", 150.4, 2.5), ("c", 150.5, 2.6), ("d", 150.6, 2.7)]


@pytest.fixture
def sky():
    server = SkyServer()
    server.by_ra["150.400000"] = "404"
    yield server
    server.close()


@pytest.fixture
def catalogue_csv(tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text("id,ra,dec\n" + "".join(f"{i},{ra},{dec}\n" for i, ra, dec in POSITIONS))
    return path


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_row_gets_one_output_row_with_its_status(sky, catalogue_csv, tiny_checkpoints, tmp_path):
    predictor = Predictor([tiny_checkpoints / "cnn"])
    client = CutoutClient(sky.url, cache=tmp_path / "cache", timeout_s=2, retries=1, backoff_s=0.01)
    counts = catalogue.run_catalogue(predictor, client, catalogue_csv, tmp_path / "out.csv", cutouts_dir=tmp_path / "cutouts")
    assert counts["ok"] == 4 and counts["failed"] == 2
    rows = read_rows(tmp_path / "out.csv")
    assert [r["id"] for r in rows] == [p[0] for p in POSITIONS] and list(rows[0]) == list(catalogue.COLUMNS)
    status = {r["id"]: r["status"] for r in rows}
    assert status["a"] == "ok" and status["bad-ra"].startswith("failed: RA 400 is outside") and "(404)" in status["gone"]
    assert rows[0]["class"] and float(rows[0]["confidence"]) > 0 and rows[0]["url"].startswith(sky.url)
    assert sorted(p.name for p in (tmp_path / "cutouts").iterdir()) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]


def test_an_interrupted_run_resumes_without_refetching_or_repeating(sky, catalogue_csv, tiny_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setattr(catalogue, "BATCH", 2)
    predictor = Predictor([tiny_checkpoints / "cnn"])
    client = CutoutClient(sky.url, cache=tmp_path / "cache-none", timeout_s=2, retries=0)
    client.cache = tmp_path / "no-cache-1"  # every fetch must go to the server, so requests count the work

    def stop_after_first_batch(done, total):
        raise KeyboardInterrupt

    out = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        catalogue.run_catalogue(predictor, client, catalogue_csv, out, progress=stop_after_first_batch)
    assert [r["id"] for r in read_rows(out)] == ["a", "b"]
    with open(out, "a") as handle:  # as if the process died in the middle of writing a line
        handle.write("2,bad-ra,400,1.0,")
    fetched_before = Counter(r["query"]["ra"] for r in sky.requests)
    client.cache = tmp_path / "no-cache-2"
    counts = catalogue.run_catalogue(predictor, client, catalogue_csv, out)
    assert counts["already_done"] == 2 and counts["ok"] + counts["failed"] == 4
    assert [r["id"] for r in read_rows(out)] == [p[0] for p in POSITIONS]  # each row once, in order
    fetched_after = Counter(r["query"]["ra"] for r in sky.requests) - fetched_before
    assert "150.100000" not in fetched_after and "150.200000" not in fetched_after


def test_catalogue_problems_are_one_sentence(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,x\nm100,1\n")
    with pytest.raises(UserError, match="needs the columns ra and dec"):
        catalogue.read_catalogue(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("ra,dec\n")
    with pytest.raises(UserError, match="has no rows"):
        catalogue.read_catalogue(empty)
    other = tmp_path / "other.csv"
    other.write_text("something,else\n1,2\n")
    with pytest.raises(UserError, match="not a predictions file"):
        catalogue._finished_rows(other)


def test_cli_catalogue_run(sky, catalogue_csv, tiny_checkpoints, tmp_path):
    env = {**os.environ, "GALAXY_CUTOUT_URL": sky.url, "GALAXY_CORE_CACHE": str(tmp_path / "cache")}
    command = ["predict", "--checkpoint", tiny_checkpoints / "cnn", "--catalog", catalogue_csv, "--out", tmp_path / "p.csv"]
    run = run_cli(*command, env=env)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["ok"] == 4 and summary["failed"] == 2 and len(read_rows(tmp_path / "p.csv")) == 6
    again = json.loads(run_cli(*command, env=env).stdout)
    assert again["already_done"] == 6 and again["ok"] == 0 and len(read_rows(tmp_path / "p.csv")) == 6
    no_out = run_cli(*command[:-2], env=env)
    assert no_out.returncode == 2 and "--out PREDICTIONS.csv" in no_out.stderr


def test_under_torchrun_each_process_takes_every_nth_row_and_the_parts_are_merged(sky, tiny_checkpoints, tmp_path):
    targets = tmp_path / "nine.csv"
    targets.write_text("id,ra,dec\n" + "".join(f"g{i},{150 + i * 0.01},{2 + i * 0.01}\n" for i in range(9)))
    env = {**os.environ, "GALAXY_CUTOUT_URL": sky.url, "GALAXY_CORE_CACHE": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "galaxy_core",
                          "predict", "--checkpoint", str(tiny_checkpoints / "cnn"), "--catalog", str(targets), "--out", str(tmp_path / "all.csv")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert [r["id"] for r in read_rows(tmp_path / "all.csv")] == [f"g{i}" for i in range(9)]
    assert sorted(p.name for p in tmp_path.glob("all.csv*")) == ["all.csv"]  # the part files are gone
