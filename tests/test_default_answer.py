"""The recorded default answer (issue 30, item 1) and confidence on real galaxies (item 2): how it is chosen,
read and used alike by `predict`, the API and the Classify page; the trust statement and the risk-coverage curve."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import REPO, captions, run_cli
from galaxy_core.data.labelled_images import real_sample
from galaxy_core.errors import UserError
from galaxy_core.evaluation.default_choice import Candidate, choose, measure_candidates, measurement
from galaxy_core.evaluation.metrics import confidence_trust, risk_coverage
from galaxy_core.inference.default_answer import DEFAULT_FILE, NoDefault, default_answer, read_default, write_default

GALAXY = REPO / "galaxy_core/data/real_sample/g10_c0_r0.jpg"


@pytest.fixture(scope="module")
def recorded(tiny_checkpoints, tmp_path_factory):
    """The tiny checkpoints with a default chosen on the real check set, as scripts/choose_default.py records it."""
    root = tmp_path_factory.mktemp("with-default")
    for name in ("cnn", "efficientnet_b0"):
        shutil.copytree(tiny_checkpoints / name, root / name)
    folder = real_sample()
    candidates = measure_candidates(root, folder)
    chosen = choose(candidates)
    write_default(root, chosen.names, chosen.rule, False, measurement(chosen, folder), chosen.confidence, chosen.right,
                  candidates=[c.summary() for c in candidates])
    return root, chosen, candidates


def test_the_candidates_are_each_model_and_each_rule_over_them(recorded):
    _, chosen, candidates = recorded
    assert sorted(c.label for c in candidates) == sorted(["cnn", "efficientnet_b0", "agreement over cnn + efficientnet_b0",
                                                          "soft over cnn + efficientnet_b0", "f1_weighted over cnn + efficientnet_b0"])
    assert all(c.count == 60 and len(c.confidence) == 60 for c in candidates) and chosen in candidates


def candidate(name, right, entropy, cross_validated=False):
    return Candidate((name,), None, sum(right), len(right), entropy, cross_validated, [0.5] * len(right), list(right))


def test_the_lowest_cross_entropy_wins_among_candidates_not_significantly_worse():
    best = candidate("best", [True] * 40 + [False] * 20, 1.5)
    close = candidate("close", [True] * 37 + [False] * 23, 1.2)  # 3 fewer: noise on 60 galaxies
    far = candidate("far", [True] * 20 + [False] * 40, 0.9)  # 20 fewer: not noise, however low its cross-entropy
    assert choose([best, close, far]).names == ("close",)
    assert choose([best, far]).names == ("best",)
    tuned = candidate("tuned", [True] * 45 + [False] * 15, float("inf"), cross_validated=True)
    assert choose([best, close, tuned]).names == ("tuned",), "a cross-validated figure wins only with the most right"
    assert choose([candidate("tuned", [True] * 30 + [False] * 30, float("inf"), True), close]).names == ("close",)
    with pytest.raises(UserError):
        choose([])


def test_the_file_is_read_back_and_a_broken_one_gets_one_sentence(recorded, tmp_path):
    root, chosen, _ = recorded
    default = read_default(root)
    assert default.names == chosen.names and default.rule == chosen.rule and default.tta is False
    assert default.measured["right"] == chosen.correct and default.measured["of"] == 60 and 0 < default.measured["low"] < default.measured["high"]
    assert len(default.confidence) == 60 and default.correct.sum() == chosen.correct
    assert read_default(tmp_path) is None
    for broken in ("{", json.dumps({"checkpoints": []}), json.dumps({"checkpoints": ["../x", "y"], "rule": "soft"}),
                   json.dumps({"checkpoints": ["a", "b"], "rule": "vote"}), json.dumps({"checkpoints": ["a"], "rule": None,
                                                                                         "check_set": {"confidence": [1], "correct": []}})):
        (tmp_path / DEFAULT_FILE).write_text(broken)
        with pytest.raises(UserError, match="unreadable or inconsistent: measure it again with scripts/choose_default.py"):
            read_default(tmp_path)


def test_a_default_naming_a_missing_checkpoint_is_not_used(recorded, tmp_path):
    root, _, _ = recorded
    for name in ("cnn", "efficientnet_b0"):
        shutil.copytree(root / name, tmp_path / name)
    write_default(tmp_path, ["cnn", "efficientnet_b0"], "soft", True, {}, [], [])
    choice = default_answer(tmp_path)
    assert [m.name for m in choice.checkpoints] == ["cnn", "efficientnet_b0"] and choice.rule == "soft" and choice.tta
    assert choice.is_exactly(choice.checkpoints, "soft", True)
    assert not choice.is_exactly(choice.checkpoints, "agreement", True) and not choice.is_exactly(choice.checkpoints, "soft", False)
    with pytest.raises(NoDefault):  # a server that serves only one of them cannot give the recorded answer
        default_answer(tmp_path, available={"cnn"})
    shutil.rmtree(tmp_path / "cnn")
    choice = default_answer(tmp_path)  # one checkpoint left: that one
    assert [m.name for m in choice.checkpoints] == ["efficientnet_b0"] and choice.rule is None and choice.recorded is None
    assert not choice.is_exactly(choice.checkpoints, None, False), "the only checkpoint is not a recorded default"
    shutil.copytree(root / "cnn", tmp_path / "other")
    with pytest.raises(NoDefault, match="names cnn, which is not there"):
        default_answer(tmp_path)


def test_predict_without_model_flags_gives_the_recorded_default(recorded, monkeypatch):
    root, chosen, _ = recorded
    monkeypatch.setenv("GALAXY_CHECKPOINTS", str(root))
    done = run_cli("predict", GALAXY, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["default"] is True and out["ensemble"] == chosen.rule and [p.split("/")[-1] for p in out["checkpoints"]] == list(chosen.names)
    row = out["predictions"][0]
    assert {"label", "class", "confidence", "probabilities", "ood", "ood_score"} <= set(row)
    named = json.loads(run_cli("predict", "--checkpoint", root / "cnn", GALAXY).stdout)
    assert named["default"] is False and named["ensemble"] is None


def test_predict_with_several_checkpoints_and_no_default_says_what_to_do(recorded, tmp_path, monkeypatch):
    root, _, _ = recorded
    for name in ("cnn", "efficientnet_b0"):
        shutil.copytree(root / name, tmp_path / name)
    monkeypatch.setenv("GALAXY_CHECKPOINTS", str(tmp_path))
    done = run_cli("predict", GALAXY)
    assert done.returncode == 2
    assert "2 checkpoints" in done.stderr and "no recorded default answer" in done.stderr and "--ensemble RULE" in done.stderr
    assert "scripts/choose_default.py" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_api_answers_with_the_default_when_no_model_is_named(recorded):
    from galaxy_core.service.app import ServiceSettings, create_app

    root, chosen, _ = recorded
    api = TestClient(create_app(ServiceSettings(checkpoints=str(root), device="cpu")), raise_server_exceptions=False)
    answer = api.post("/predict", files=[("file", ("galaxy.jpg", GALAXY.read_bytes(), "image/jpeg"))]).json()
    names = list(chosen.names)
    assert answer["default"] is True and answer["model"] == (names if len(names) > 1 else names[0]) and answer["ensemble"] == chosen.rule
    listed = api.get("/models").json()["default"]
    assert listed["recorded"] is True and listed["models"] == names and listed["measured"]["of"] == 60
    assert listed["tta"] is False and answer["predictions"][0]["tta"] is False, "averaging as recorded (off), as the CLI does"
    changed = api.post("/predict", files=[("file", ("galaxy.jpg", GALAXY.read_bytes(), "image/jpeg"))], params={"tta": "true"}).json()
    assert changed["default"] is False and changed["predictions"][0]["tta"] is True, "a request that changes the default is not called it"


def test_the_classify_page_preselects_the_default_and_says_how_far_to_trust_an_answer(app, recorded, monkeypatch):
    root, chosen, _ = recorded
    monkeypatch.setenv("GALAXY_CHECKPOINTS", str(root))
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    assert at.multiselect(key="classify_models").value == [str(root / n) for n in chosen.names]
    assert at.toggle(key="classify_tta").value is False, "the default was measured without the 8 views"
    assert at.selectbox(key="classify_rule").value == (chosen.rule or "agreement")  # a single model leaves the rule as it is
    assert "Preselected: the recorded default answer" in captions(at)
    at.radio(key="classify_source").set_value("Real galaxies (the check set)").run()
    assert not at.exception, at.exception
    assert "real check-set galaxies, answers at least" in captions(at) and "95% interval" in captions(at)


def test_trust_counts_the_answers_at_least_as_confident():
    confidences = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    correct = np.array([True, True, False, True, False, False, True])
    trust = confidence_trust(0.6, confidences, correct, fewest=3)
    assert (trust["right"], trust["of"], trust["at_least"]) == (3, 4, 0.6) and trust["low"] < 0.75 < trust["high"]
    top = confidence_trust(0.99, confidences, correct, fewest=5)
    assert (top["right"], top["of"]) == (3, 5), "above all but a few answers: the five most confident judge it"
    assert confidence_trust(0.5, np.array([]), np.array([], bool)) is None


def test_risk_coverage_is_the_accuracy_of_the_most_confident_answers():
    curve = risk_coverage(np.array([0.2, 0.9, 0.6, 0.8]), np.array([False, True, False, True]))
    assert [round(p["coverage"], 2) for p in curve] == [0.25, 0.5, 0.75, 1.0]
    assert [p["accuracy"] for p in curve] == [1.0, 1.0, 2 / 3, 0.5] and [p["threshold"] for p in curve] == [0.9, 0.8, 0.6, 0.2]
    assert all(p["low"] <= p["accuracy"] <= p["high"] for p in curve)


def test_the_model_choice_flags_are_declared_once():
    """--ensemble, --tta and the --checkpoints list live in cli/common.add_model_flags only; every command that runs a
    model or an ensemble takes them from there (single-model commands keep their own required --checkpoint)."""
    from conftest import REPO

    for path in sorted((REPO / "galaxy_core" / "cli").glob("*.py")):
        if path.name == "common.py":
            continue
        code = path.read_text()
        for flag in ('"--ensemble"', '"--tta"', '"--checkpoints", nargs'):
            assert flag not in code, f"{path.name} declares {flag} itself: use cli.common.add_model_flags"
