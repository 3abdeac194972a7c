"""The Classify page under Streamlit's AppTest: sources, answers, ensembles, and the explanation maps."""
import json

import numpy as np
import streamlit as st

from conftest import captions, png_bytes

CLASSIFY = "app_pages/classify.py"


def test_classify_uploads_with_one_model_and_refuses_a_broken_file(app, with_checkpoints, tiny_h5):
    from conftest import real_image_files
    from galaxy_core.data.galaxy10 import Galaxy10

    real = real_image_files()
    good = ("galaxy.jpg", real[0].read_bytes(), "image/jpeg") if real else ("galaxy.png", png_bytes(Galaxy10(tiny_h5).image(1)), "image/png")
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    assert not at.exception and at.title[0].value == "Classify galaxies"
    at.file_uploader(key="classify_upload_0").set_value([good, ("broken.png", b"\x89PNG\r\n\x1a\nbroken", "image/png")]).run()
    assert not at.exception
    assert [m.label for m in at.metric] == ["Predicted class"]
    assert any("broken.png" in e.value for e in at.error)


def test_classify_a_dataset_image_with_an_ensemble(app, with_checkpoints):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.multiselect(key="classify_models").set_value([str(with_checkpoints / "cnn"), str(with_checkpoints / "efficientnet_b0")]).run()
    at.selectbox(key="classify_rule").select("agreement").run()
    at.radio(key="classify_source").set_value("From the dataset").run()
    at.number_input(key="classify_index").set_value(3).run()
    assert not at.exception
    assert "decided by" in captions(at)
    assert at.metric[0].label == "Predicted class"


def test_classify_offers_the_real_galaxies_with_their_true_class(app, with_checkpoints):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.radio(key="classify_source").set_value("Real galaxies (the check set)").run()
    assert not at.exception, at.exception
    assert any("Trained on synthetic galaxies only" in w.value for w in at.warning)
    assert "**True class:** Disturbed" in " ".join(m.value for m in at.markdown)


def test_classify_averages_the_eight_views_when_switched_on(app, with_checkpoints):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    assert at.toggle(key="classify_tta").value is False, "no default recorded: off, as `predict` and the API start"
    at.radio(key="classify_source").set_value("From the dataset").run()
    as_given = probability_bars(at)
    at.toggle(key="classify_tta").set_value(True).run()
    assert not at.exception, at.exception
    assert at.metric[0].label == "Predicted class"
    assert len(as_given) == 10 and probability_bars(at) != as_given, "the 8-view mean scores otherwise than the image as given"


def probability_bars(at) -> list[float]:
    import json

    return json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["x"]


def test_classify_warns_on_an_image_that_is_not_a_galaxy(app, with_checkpoints):
    import numpy as np

    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_upload_0").set_value([("grey.png", png_bytes(np.full((64, 64, 3), 128, np.uint8)), "image/png")]).run()
    assert not at.exception, at.exception
    assert any("Out of distribution" in e.value for e in at.error)


def image_captions(at) -> list[str]:
    return [e.proto.imgs[0].caption for e in at.get("image") if e.proto.imgs]


def classify_dataset_image(at, checkpoints, rule="agreement"):
    at.switch_page(CLASSIFY).run()
    at.multiselect(key="classify_models").set_value([str(checkpoints / "cnn"), str(checkpoints / "efficientnet_b0")]).run()
    at.selectbox(key="classify_rule").select(rule).run()
    at.radio(key="classify_source").set_value("From the dataset").run()
    return at


def test_every_chosen_model_has_its_map_beside_the_ensembles(app, with_checkpoints):
    at = classify_dataset_image(app.run(), with_checkpoints)
    assert not at.exception, at.exception
    shown = image_captions(at)
    assert "cnn: layercam, 8×8 cells" in shown and "efficientnet_b0: layercam, 8×8 cells" in shown
    assert any(c.startswith("ensemble (agreement)") for c in shown)
    assert "weight in the ensemble's map" in captions(at)
    at.selectbox(key="item_0_method").select("gradcam++").run()
    at.selectbox(key="item_0_target").select("Merging").run()
    assert not at.exception, at.exception
    shown = image_captions(at)
    assert "cnn: gradcam++, 8×8 cells" in shown and "evidence for **Merging**" in captions(at)
    at.selectbox(key="item_0_method").select("eigencam").run()
    assert "class-agnostic" in captions(at)


def test_an_empty_map_is_said_in_words_and_another_method_offered(app, with_checkpoints, monkeypatch):
    from galaxy_core.dashboard import explanations
    from galaxy_core.evaluation.explain import ExplainedPrediction, Explanation

    def nothing_found(predictor, images, results, method=None, target=None):  # every cell below zero, as gradcam can be
        members = {m.name: Explanation(np.zeros((8, 8), np.float32), method or "gradcam", "x", 0, 0) for m in predictor.members}
        empty = np.zeros(images.shape[1:3], np.float32)
        return [ExplainedPrediction(0, 0, members, {n: empty for n in members}, {n: 0.5 for n in members}, empty)]

    monkeypatch.setattr(explanations, "explain_prediction", nothing_found)
    st.cache_data.clear()  # maps cached by an earlier test would hide the patched ones
    at = classify_dataset_image(app.run(), with_checkpoints)
    assert not at.exception, at.exception
    said = [i.value for i in at.info]
    assert sum("finds no positive evidence for Disturbed anywhere in this image" in s for s in said) == 2
    assert any("ensemble's map is empty" in s for s in said)
    retry = [b for b in at.button if b.label.startswith("Try ")]
    assert retry and retry[0].label == "Try layercam"
    retry[0].click().run()
    assert at.selectbox(key="item_0_method").value == "layercam"
    st.cache_data.clear()


def test_a_fits_upload_is_classified_with_the_stretch_as_set(app, with_checkpoints, tmp_path):
    from galaxy_core.data.fits import write_fits
    from galaxy_core.data.synthetic.observe import render_bands

    write_fits(tmp_path / "cutout.fits", render_bands(1, seed=0, index=3).bands)
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.file_uploader(key="classify_upload_0").set_value([("cutout.fits", (tmp_path / "cutout.fits").read_bytes(), "image/fits")]).run()
    assert not at.exception, at.exception
    assert "cutout.fits: FITS, the primary HDU: 3 planes of 256x256" in captions(at) and "asinh stretch: Q 20" in captions(at)
    assert at.number_input(key="fits_q").value == 20.0 and at.metric[0].label == "Predicted class"
    default_answer = probability_bars(at)
    at.number_input(key="fits_q").set_value(3.0).run()
    assert not at.exception, at.exception
    assert "asinh stretch: Q 3" in captions(at) and probability_bars(at) != default_answer, "another stretch, another picture"


def test_a_zip_of_images_becomes_a_filterable_table_whose_clicked_row_is_shown_in_detail(app, with_checkpoints, tmp_path):
    import io
    import zipfile

    from galaxy_core.data.labelled_images import real_sample

    files = real_sample().files[:6]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in files:
            zipped.write(path, f"paper/{path.name}")
        zipped.writestr("paper/notes.txt", "not an image")
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.multiselect(key="classify_models").set_value([str(with_checkpoints / "cnn"), str(with_checkpoints / "efficientnet_b0")]).run()
    at.file_uploader(key="classify_upload_0").set_value([("paper.zip", archive.getvalue(), "application/zip")]).run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == "6 images"
    table = at.dataframe[0].value
    assert list(table["file"]) == [f"paper.zip/paper/{p.name}" for p in files]
    assert {"class", "confidence", "right_when_this_confident", "right_of", "ood", "vote_cnn", "vote_efficientnet_b0"} <= set(table.columns)
    assert [m.label for m in at.metric] == ["Predicted class"] and at.subheader[1].value == table["file"].iloc[0], "the first row in detail"
    csv = at.get("download_button")[0]
    assert csv.proto.label == "Download the table as CSV"
    at.slider(key="batch_min_confidence").set_value(1.0).run()
    assert not at.exception and len(at.dataframe[0].value) == 0 and "0 of 6 images shown" in captions(at)
    at.slider(key="batch_min_confidence").set_value(0.0).run()
    chosen = at.dataframe[0].value["class"].iloc[2]
    at.multiselect(key="batch_classes").set_value([chosen]).run()
    assert not at.exception and set(at.dataframe[0].value["class"]) == {chosen}
