"""Teaching the models a person's galaxies: the queue's strategies, the answers store, `queue`, `adapt` (its checkpoint
loads everywhere, its figures are cross-validated) and the Label page in local and public mode."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import run_cli
from galaxy_core.data.label_store import NOT_GALAXY, SKIP, read_answers, record_answer
from galaxy_core.data.labelled_images import real_sample
from galaxy_core.evaluation.labelling_queue import scores
from galaxy_core.training.adapt import fit_head


@pytest.fixture(scope="module")
def cutouts(tmp_path_factory):
    """20 real check-set galaxies (two per class) in a folder, with no labels yet."""
    folder = tmp_path_factory.mktemp("cutouts")
    sample = real_sample()
    for c in range(10):
        for path in [p for p, label in zip(sample.files, sample.labels) if label == c][:2]:
            shutil.copy(path, folder / path.name)
    return folder


def labels_of(folder):
    sample = real_sample()
    return {p.name: int(label) for p, label in zip(sample.files, sample.labels) if (folder / p.name).exists()}


def test_strategies_on_probabilities_with_known_answers():
    p = np.array([[0.5, 0.5] + [0] * 8, [0.9, 0.1] + [0] * 8, [0.1] * 10])
    assert list(np.argsort(-scores("margin", p))) [:2] == [0, 2] and scores("margin", p)[1] == pytest.approx(0.2)
    assert np.argmax(scores("entropy", p)) == 2, "the uniform answer is the most uncertain"
    same, apart = np.array([[0.9, 0.1] + [0] * 8] * 2), np.array([[0.9, 0.1] + [0] * 8, [0.1, 0.9] + [0] * 8])
    agreeing = scores("disagreement", same, [same, same])
    split = scores("disagreement", apart, [apart, apart[::-1]])
    assert agreeing == pytest.approx([0, 0], abs=1e-9) and (split > 0.3).all()
    assert (scores("random", p, seed=4) == scores("random", p, seed=4)).all()
    with pytest.raises(Exception, match="needs an ensemble"):
        scores("disagreement", p, [p])


def test_a_residual_head_keeps_the_base_answer_where_labels_are_silent():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 10)
    features = rng.normal(size=(20, 64)) + labels[:, None] * 3.0  # two well-separated classes
    base = np.log(np.full((20, 10), 0.02) + np.eye(10)[7] * 0.8)  # the base says class 7 for everything
    residual, linear = fit_head(features, base, labels, "residual"), fit_head(features, base, labels, "linear")
    assert (residual.probabilities(features, base).argmax(1) == labels).all()
    assert (linear.probabilities(features, base).argmax(1) == labels).all()
    far = rng.normal(size=(5, 64)) * 0.01 + 1.5  # between the classes, far from both
    assert residual.probabilities(far, base[:5])[:, 7].min() > 0.5 > 1e-3 > linear.probabilities(far, base[:5])[:, 7].max()


def test_the_store_keeps_every_answer_and_leaves_bad_rows_out(tmp_path, cutouts):
    store = tmp_path / "session"
    files = sorted(p.name for p in cutouts.iterdir())
    record_answer(store, files[0], 3)
    record_answer(store, files[1], SKIP)
    record_answer(store, files[2], NOT_GALAXY)
    record_answer(store, files[0], 4)  # changed: one row, the new answer
    answers = read_answers(store / "labels.csv", cutouts)
    assert answers.labels == {files[0]: 4} and answers.other == {files[1]: SKIP, files[2]: NOT_GALAXY} and not answers.notes
    shutil.copy(cutouts / files[3], cutouts / "copy_of_it.jpg")
    try:
        (store / "labels.csv").write_text(f"file,label\n{files[0]},Round Smooth\n{files[3]},2\ncopy_of_it.jpg,2\n"
                                          f"{files[4]},spaceship\ngone.jpg,1\n{files[5]},1\n{files[5]},1\n")
        answers = read_answers(store / "labels.csv", cutouts)
    finally:
        (cutouts / "copy_of_it.jpg").unlink()
    assert answers.labels == {files[0]: 2, files[3]: 2, files[5]: 1}, answers.labels
    assert len(answers.notes) == 1 and all(word in answers.notes[0] for word in ("spaceship", "gone.jpg", "twice", "same image", "the rest kept"))


def test_queue_ranks_unlabelled_cutouts_and_random_is_seeded(cutouts, tiny_checkpoints, tmp_path):
    labels = tmp_path / "labels.csv"
    first = sorted(p.name for p in cutouts.iterdir())[:3]
    labels.write_text("file,label\n" + "".join(f"{f},{labels_of(cutouts)[f]}\n" for f in first))
    run = run_cli("queue", "--images", cutouts, "--labels", labels, "--checkpoint", tiny_checkpoints / "cnn", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["strategy"] == "margin" and len(result["queue"]) == 17 and not set(first) & {r["file"] for r in result["queue"]}
    assert set(result["queue"][0]) >= {"file", "score", "label", "class", "confidence"}
    assert [r["score"] for r in result["queue"]] == sorted((r["score"] for r in result["queue"]), reverse=True)
    orders = [[r["file"] for r in json.loads(run_cli("queue", "--images", cutouts, "--checkpoint", tiny_checkpoints / "cnn",
                                                     "--strategy", "random", "--seed", seed, "--n", "5").stdout)["queue"]] for seed in (1, 1, 2)]
    assert orders[0] == orders[1] != orders[2] and len(orders[0]) == 5
    both = ["--ensemble", "soft", "--checkpoints", tiny_checkpoints / "cnn", tiny_checkpoints / "efficientnet_b0"]
    assert run_cli("queue", "--images", cutouts, *both, "--strategy", "disagreement", "--n", "3").returncode == 0
    refused = run_cli("queue", "--images", cutouts, "--checkpoint", tiny_checkpoints / "cnn", "--strategy", "disagreement")
    assert refused.returncode == 2 and "needs an ensemble" in refused.stderr and refused.stderr.count("\n") == 1


def test_adapt_writes_a_checkpoint_that_loads_everywhere_with_cross_validated_figures(cutouts, tiny_checkpoints, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\n" + "".join(f"{f},{c}\n" for f, c in labels_of(cutouts).items()) + "missing.jpg,3\n")
    out = tmp_path / "models" / "adapted_mine"
    both = ["--ensemble", "soft", "--checkpoints", tiny_checkpoints / "cnn", tiny_checkpoints / "efficientnet_b0"]
    run = run_cli("adapt", "--images", cutouts, "--labels", labels, *both, "--out", out, "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["labels"] == 20 and 0 <= result["cv_accuracy"] <= 1 and len(result["cv_interval"]) == 2
    assert result["cv_interval"][0] <= result["cv_accuracy"] <= result["cv_interval"][1] and 0 <= result["baseline_accuracy"] <= 1
    assert result["adapted_from"] in ("cnn", "efficientnet_b0") and result["curve"][-1]["labels"] == 20
    assert any("missing.jpg" in note for note in result["notes"])
    meta = json.loads((out / "meta.json").read_text())
    assert meta["adapted"]["head"] == "residual" and meta["adapted"]["fingerprint"] == result["fingerprint"]
    assert meta["data"]["real_check_set_images"] == 20, "check-set galaxies among the labels: never scored on the check set again"
    assert str(tmp_path) not in json.dumps(meta["adapted"]), "no machine paths in what may ship"
    predicted = run_cli("predict", "--checkpoint", out, next(cutouts.iterdir()), "--json")
    assert predicted.returncode == 0, predicted.stderr
    # A run killed while writing leaves a hidden partial folder: never taken for a checkpoint, removed by the next run.
    from galaxy_core.models.checkpoint import find_checkpoints

    shutil.copytree(out, out.parent / ".adapted_mine.partial-1")
    assert find_checkpoints(out.parent) == [out]
    again = run_cli("adapt", "--images", cutouts, "--labels", labels, "--checkpoint", out, "--method", "linear", "--out", out,
                    env={**os.environ, "GALAXY_CHECKPOINTS": str(tiny_checkpoints)})
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["base"] == ["cnn", "efficientnet_b0"], "an adapted model is adapted again from its base models"
    assert not list(out.parent.glob(".adapted_mine.*")) and json.loads((out / "meta.json").read_text())["adapted"]["head"] == "linear"


def test_adapt_refuses_what_it_cannot_learn_from(cutouts, tiny_checkpoints, tmp_path):
    model = ["--checkpoint", tiny_checkpoints / "cnn", "--out", tmp_path / "out"]
    unlabelled = run_cli("adapt", "--images", cutouts, *model)
    assert unlabelled.returncode == 2 and "No labelled galaxy" in unlabelled.stderr
    few = tmp_path / "few.csv"
    few.write_text("file,label\n" + "".join(f"{f},{c}\n" for f, c in list(labels_of(cutouts).items())[:3]))
    too_few = run_cli("adapt", "--images", cutouts, "--labels", few, *model)
    assert too_few.returncode == 2 and "at least 5" in too_few.stderr


def test_label_page_writes_each_answer_and_public_mode_writes_nothing(app, with_checkpoints, cutouts, tmp_path, monkeypatch):
    monkeypatch.setenv("GALAXY_RESULTS", str(tmp_path / "results"))
    at = app.run()
    at.switch_page("app_pages/label.py").run()
    at.radio(key="label_source").set_value("a folder on this machine").run()
    at.text_input(key="label_folder").input(str(cutouts)).run()
    assert not at.exception, at.exception
    shown = lambda: [e.proto.imgs[0].caption for e in at.get("image") if e.proto.imgs]  # noqa: E731
    first = shown()[0] if shown() else None
    at.button(key="label_class_2").click().run()
    assert not at.exception
    stored = (tmp_path / "results" / "labels" / cutouts.name / "labels.csv").read_text().splitlines()
    assert len(stored) == 2 and stored[1].endswith(",Round Smooth")
    assert first and first not in shown(), "the next galaxy is shown"
    at.button(key="label_skip").click().run()
    assert "1 labelled, 1 skipped" in " ".join(p.proto.text for p in at.get("progress"))

    monkeypatch.setenv("GALAXY_PUBLIC", "1")
    results = tmp_path / "public_results"
    monkeypatch.setenv("GALAXY_RESULTS", str(results))
    at = app.run()
    at.switch_page("app_pages/label.py").run()
    assert not at.exception and [o for o in at.radio(key="label_source").options] == ["uploaded cutouts or a zip"]
    assert any("public deployment does not" in i.value for i in at.info), "adapting is refused in one sentence"
    assert not results.exists()


def test_two_tabs_answering_at_once_lose_nothing(tmp_path):
    """Each answer re-reads the files under a lock and replaces them whole: answers from two sessions interleave."""
    from concurrent.futures import ThreadPoolExecutor

    store = tmp_path / "shared"
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda i: record_answer(store, f"galaxy_{i:02d}.jpg", i % 10), range(30)))
    assert read_answers(store / "labels.csv").labels == {f"galaxy_{i:02d}.jpg": i % 10 for i in range(30)}
