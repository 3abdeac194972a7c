"""Every dashboard page runs under Streamlit's AppTest on the embedded default (20 images here)."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO, write_galaxy10

APP = str(REPO / "app.py")


@pytest.fixture
def app():
    return AppTest.from_file(APP, default_timeout=120)


def captions(at) -> str:
    return " ".join(c.value for c in at.caption) + " " + " ".join(m.value for m in at.markdown)


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
