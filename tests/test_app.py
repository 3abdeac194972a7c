"""Every dashboard page runs under Streamlit's AppTest on the embedded default (20 images here)."""
import json

from conftest import captions, wait_until, write_galaxy10


def test_overview_creates_the_default_and_says_it_is_synthetic(app):
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "Galaxy10 DECaLS workbench"
    assert {m.label: m.value for m in at.metric}["Images"] == "20"
    assert any("Synthetic data" in i.value for i in at.info)
    assert "Synthetic Galaxy10, 20 images" in " ".join(m.value for m in at.sidebar.markdown)


def test_dataset_browser_filters_by_class_and_split(app):
    at = app.run()
    at.switch_page("app_pages/dataset.py").run()
    assert not at.exception and at.title[0].value == "Dataset browser"
    assert "20 images match; showing 20." in captions(at)
    at.selectbox(key="browse_class").select("Round Smooth").run()
    assert not at.exception
    text = captions(at)
    assert "images match" in text and "**Class:** Round Smooth" in text, "the detail view follows the filter"
    at.selectbox(key="browse_part").select("test").run()
    at.selectbox(key="browse_stretch").select("asinh").run()
    at.number_input(key="browse_index").set_value(7).run()
    assert not at.exception
    assert "**Class:** " in captions(at)
    assert any("Legacy Survey" in b.label for b in at.get("link_button"))


def test_sidebar_path_to_a_bad_file_shows_one_clear_error(app, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    at = app.run()
    at.text_input(key="data_path").input(str(bad)).run()
    assert not at.exception
    assert any("is not an HDF5 file" in e.value for e in at.sidebar.error)


def test_sidebar_path_to_another_galaxy10_file_is_used(app, tmp_path):
    other = write_galaxy10(tmp_path / "other.h5", n=12, side=32)
    at = app.run()
    at.text_input(key="data_path").input(str(other)).run()
    assert not at.exception
    assert "Real Galaxy10, 12 images" in " ".join(m.value for m in at.sidebar.markdown)


def test_evaluation_page_shows_metrics_curves_and_export(app, with_checkpoints, tiny_h5):
    at = app.run()
    at.switch_page("app_pages/evaluation.py").run()
    assert not at.exception
    assert any("too small" in e.value for e in at.error), "the 20-image default has an empty test split"
    at.text_input(key="data_path").input(str(tiny_h5)).run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric] == ["Accuracy", "Balanced accuracy", "Macro-F1", "Cross-entropy", "KL divergence", "ECE"]
    at.selectbox(key="eval_model").select(str(with_checkpoints / "efficientnet_b0")).run()
    at.toggle(key="eval_normalise").set_value(True).run()
    assert not at.exception
    assert any(s.value == "Most confident mistakes" for s in at.subheader)
    assert at.get("download_button"), "the per-image CSV export is offered"
    at.selectbox(key="eval_model").select("ensemble").run()
    for rule in ("agreement", "soft", "f1_weighted"):
        at.selectbox(key="eval_rule").select(rule).run()
        assert not at.exception, at.exception
        assert f"{rule} ensemble of cnn, efficientnet_b0" in captions(at)
        assert [m.label for m in at.metric][0] == "Accuracy"


def test_latent_space_page_in_2d_and_3d(app, with_checkpoints, tiny_h5):
    at = app.run()
    at.text_input(key="data_path").input(str(tiny_h5)).run()
    at.switch_page("app_pages/latent.py").run()
    assert not at.exception, at.exception
    assert "features" in captions(at), [e.value for e in at.error]
    assert "60 real galaxies (diamonds)" in captions(at)  # the check set, placed on the synthetic map
    metrics = {m.label: m.value for m in at.metric}
    assert {"Two-sample AUC", "Neighbour agreement", "Flagged out of distribution"} <= set(metrics)
    assert 0.0 <= float(metrics["Two-sample AUC"]) <= 1.0
    traces = at.get("plotly_chart")[0].proto.spec
    assert '"diamond"' in traces and '"real: ' in traces and '"synthetic: ' in traces
    at.radio(key="latent_projection").set_value("UMAP").run()
    assert not at.exception, at.exception
    assert "UMAP fitted on the synthetic points" in captions(at)
    at.selectbox(key="latent_colour").select("correct or not").run()
    at.radio(key="latent_dims").set_value("3-D").run()
    assert not at.exception
    assert "Rotate with the mouse" in captions(at)
    at.radio(key="latent_real_source").set_value("a folder on this machine").run()
    at.text_input(key="latent_folder").input(str(tiny_h5.parent / "no-such-folder")).run()
    assert not at.exception and any("is not a folder" in e.value for e in at.error)


def test_train_page_starts_a_background_run_that_appears_when_done(app, with_checkpoints, tiny_h5):

    at = app.run()
    at.text_input(key="data_path").input(str(tiny_h5)).run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_size").set_value(32)
    at.selectbox(key="train_device").select("cpu")
    at.text_input(key="train_name").input("from_the_page")
    at.button[0].click().run()
    assert not at.exception
    assert any("Started training" in s.value for s in at.success)
    finished = with_checkpoints / "from_the_page" / "meta.json"
    try:
        wait_until(finished.exists, 240, "the page's training run to write its checkpoint")
    except AssertionError:
        raise AssertionError((with_checkpoints / "from_the_page" / "train.log").read_text()[-1500:]) from None
    at.run()
    assert "from_the_page" in " ".join(c.value for c in at.sidebar.caption)


def test_every_model_label_shows_synthetic_and_real_accuracy(app, with_checkpoints):
    at = app.run()
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "synthetic test" in sidebar and "real check set" in sidebar and "dev set" in sidebar
    models = at.dataframe[0].value  # Overview's table of models
    assert models["its 95% interval"].str.contains("%–").any()
    at.switch_page("app_pages/classify.py").run()
    options = at.multiselect(key="classify_models").options
    assert options and all("synthetic test" in o and "real check set" in o for o in options)
    # 60 images: a measured figure never comes without its interval (a model the Train page made in an earlier
    # test may not have been scored yet; a cross-validated figure carries its fold spread instead)
    measured = [o for o in options if "not measured" not in o and "cross-validated" not in o]
    assert measured and all("95% CI" in o for o in measured)


def test_evaluation_page_scores_the_real_check_set(app, with_checkpoints):
    at = app.run()
    at.switch_page("app_pages/evaluation.py").run()
    at.radio(key="eval_scored_on").set_value("Real check set (60 real galaxies)").run()
    assert not at.exception, at.exception
    assert any("development set" in i.value and "95% interval" in i.value for i in at.info)
    assert "60 real check-set images" in captions(at)
    assert [m.label for m in at.metric][0] == "Accuracy"
    curve = next(c for c in at.get("plotly_chart") if "answers kept" in c.proto.spec)  # the risk-coverage curve beside the reliability diagram
    assert "these 60 galaxies allow" in captions(at) and len(json.loads(curve.proto.spec)["data"][1]["x"]) == 60
    at.selectbox(key="eval_model").select("ensemble").run()
    assert not at.exception, at.exception
    assert "soft" in at.selectbox(key="eval_rule").options


def test_the_most_confident_mistakes_show_their_maps(app, with_checkpoints, monkeypatch):
    from galaxy_core.dashboard import explanations

    asked = []
    real_maps = explanations.answer_maps

    def spy(checkpoints, rule, images):
        asked.append((len(checkpoints), rule, len(images)))
        return real_maps(checkpoints, rule, images)

    monkeypatch.setattr(explanations, "answer_maps", spy)
    at = app.run()
    at.switch_page("app_pages/evaluation.py").run()
    at.radio(key="eval_scored_on").set_value("Real check set (60 real galaxies)").run()
    assert not at.exception, at.exception
    assert at.toggle(key="eval_mistake_maps").value is True and asked == [(1, None, 12)]  # a tiny model errs on 12 or more of 60
    at.toggle(key="eval_mistake_maps").set_value(False).run()
    assert not at.exception and len(asked) == 1
