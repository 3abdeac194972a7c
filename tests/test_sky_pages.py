"""The sky in the dashboard (issue 13), under AppTest against the local sky server: positions on the
Classify page (with bad lines and no network as one sentence each), and galaxies like a classified one."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from test_cutouts import SkyServer

APP = str(REPO / "app.py")


@pytest.fixture
def app(tiny_checkpoints, monkeypatch):
    monkeypatch.setenv("GALAXY_CHECKPOINTS", str(tiny_checkpoints))
    return AppTest.from_file(APP, default_timeout=180)


@pytest.fixture
def sky(monkeypatch):
    server = SkyServer()
    server.by_ra["10.000000"] = "blank"
    monkeypatch.setenv("GALAXY_CUTOUT_URL", server.url)
    yield server
    server.close()


def test_classify_sky_positions_with_bad_lines_and_a_blank_cutout(app, sky):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.radio(key="classify_source").set_value("Sky position").run()
    at.text_area(key="classify_positions").input("185.7286, 15.8223\n400 2\nnot a position\n10 0").run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "RA 400 is outside" in errors and "is not 'RA, Dec'" in errors and "outside the survey's footprint" in errors
    assert [m.label for m in at.metric] == ["Predicted class"]
    assert any("Legacy Surveys viewer" in c.value for c in at.caption)
    assert [h.value for h in at.subheader][-1] == "RA 185.7286, Dec 15.8223"


def test_without_network_the_page_says_so_and_keeps_working(app, monkeypatch):
    monkeypatch.setenv("GALAXY_CUTOUT_URL", "http://127.0.0.1:9/cutout.jpg")
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.radio(key="classify_source").set_value("Sky position").run()
    at.text_area(key="classify_positions").input("150.0, 2.0").run()
    assert not at.exception
    assert any("no connection" in e.value for e in at.error)
    at.radio(key="classify_source").set_value("From the dataset").run()
    assert not at.exception and [m.label for m in at.metric] == ["Predicted class"]


def test_galaxies_like_a_classified_one_and_like_a_browsed_one(app):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.radio(key="classify_source").set_value("From the dataset").run()
    at.toggle(key="similar_0").set_value(True).run()
    assert not at.exception, at.exception
    captions = [shown.caption for element in at.get("image") for shown in element.proto.imgs]
    similar = [c for c in captions if "(d=" in c]
    assert len(similar) == min(8, 19), captions  # the 20-image default less the query itself
    assert not any(c.startswith("#0 ") for c in similar)  # the query (dataset image 0) is left out
    at.switch_page("app_pages/dataset.py").run()
    at.toggle(key="browse_similar").set_value(True).run()
    assert not at.exception, at.exception
    assert any("(d=" in shown.caption for element in at.get("image") for shown in element.proto.imgs)


def _upload_catalogue(app, csv_text: str, name: str = "targets.csv"):
    """The Classify page's sky source with a catalogue uploaded and started."""
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.radio(key="classify_source").set_value("Sky position").run()
    at.file_uploader(key="catalogue_upload").set_value([(name, csv_text.encode(), "text/csv")]).run()
    at.button(key="catalogue_start").click().run()
    assert not at.exception, at.exception
    return at


def _wait_for(at, done, seconds=240):
    import time

    deadline = time.time() + seconds
    while time.time() < deadline:
        at.run()
        if done(at):
            return
        time.sleep(1)
    raise AssertionError([p.proto.text for p in at.get("progress")])


def _finished(at) -> bool:
    return bool(at.get("download_button")) and not any("(running)" in p.proto.text for p in at.get("progress"))


def test_a_catalogue_upload_runs_in_the_background_can_be_stopped_resumed_and_downloaded(app, sky):
    """One background run for all of it (each costs a fresh interpreter): an off-survey and an impossible row too."""
    sky.hang_s = 60.0  # longer than the client's timeout: the run stays busy until stopped
    sky.by_ra["20.000000"] = "hang"
    at = _upload_catalogue(app, "id,ra,dec\na,185.7286,15.8223\nslow,20,0\noff,10,0\nbad,500,0\n", "slow.csv")
    _wait_for(at, lambda at: any(b.key == "catalogue_stop" for b in at.button))
    at.button(key="catalogue_stop").click().run()
    _wait_for(at, lambda at: any(b.key == "catalogue_resume" for b in at.button), 30)
    assert not at.exception and any("0 of 4 rows" in p.proto.text for p in at.get("progress"))
    del sky.by_ra["20.000000"]
    at.button(key="catalogue_resume").click().run()
    _wait_for(at, _finished)
    assert not at.exception and any("4 of 4 rows" in p.proto.text for p in at.get("progress"))


def test_a_catalogue_without_positions_is_one_sentence(app):
    at = app.run()
    at.switch_page("app_pages/classify.py").run()
    at.radio(key="classify_source").set_value("Sky position").run()
    at.file_uploader(key="catalogue_upload").set_value([("names.csv", b"name\nm100\n", "text/csv")]).run()
    at.button(key="catalogue_start").click().run()
    assert not at.exception
    assert any("needs the columns ra and dec" in e.value for e in at.error)
