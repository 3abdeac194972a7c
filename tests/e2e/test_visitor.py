"""A hostile visitor in Chromium (issue 14), against `streamlit run app.py` locally and in public mode:
traversal and overwrite names, three training starts, a long path, a file declaring 10^8 images and a
49-megapixel PNG. Checks what the page shows and that nothing is written outside the allowed folders."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from browser import REPO, chromium_page, require_browser, settled, streamlit_server
from conftest import wait_until
from hostile_files import declares_a_hundred_million_images, pixel_bomb_png

pytestmark = pytest.mark.e2e
require_browser()


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.is_dir() else []


@pytest.fixture(scope="module")
def visitor_files(tmp_path_factory) -> dict:
    data = tmp_path_factory.mktemp("visitor-data")
    huge = declares_a_hundred_million_images(data / "huge.h5")
    bomb = pixel_bomb_png(data / "bomb.png")
    return {"data": data, "huge": huge, "bomb": bomb}


DEFAULT_N = 40


@pytest.fixture(scope="module")
def default_file(tmp_path_factory) -> Path:
    """The servers' default dataset, made once here: the visitor's tests are not about creating it (test_app.py and
    test_default_dataset.py are), and each server would otherwise spend a fresh interpreter and a generation on it."""
    from galaxy_core.data.default import DEFAULT_SEED
    from galaxy_core.data.synthetic import GENERATOR_VERSION, generate

    name = f"galaxy10_synthetic_v{GENERATOR_VERSION}_n{DEFAULT_N}_seed{DEFAULT_SEED}.h5"  # default_dataset_path()'s name
    return generate(tmp_path_factory.mktemp("visitor-default") / name, DEFAULT_N, seed=DEFAULT_SEED, workers=1)


@pytest.fixture(scope="module", params=["local", "public"])
def visitor_server(request, tmp_path_factory, visitor_files, default_file):
    checkpoints = tmp_path_factory.mktemp(f"{request.param}-checkpoints")
    shutil.copytree(REPO / "checkpoints" / "cnn", checkpoints / "cnn")
    cache = tmp_path_factory.mktemp(f"{request.param}-cache")
    shutil.copy(default_file, cache / default_file.name)
    env = {"GALAXY_CORE_CACHE": str(cache), "GALAXY10_DEFAULT_N": str(DEFAULT_N), "GALAXY_CHECKPOINTS": str(checkpoints),
           "GALAXY_DATA_ROOTS": str(visitor_files["data"]), "GALAXY_PUBLIC": "1" if request.param == "public" else "0"}
    with streamlit_server(env, tmp_path_factory.mktemp("visitor-log"), drop=("GALAXY10_H5", "GALAXY_DATASETS", "GALAXY_UI_TRAINING")) as url:
        yield {"mode": request.param, "url": url, "checkpoints": checkpoints, "cache": cache}
    from galaxy_core.training import jobs

    for run in jobs.runs(checkpoints):  # training runs outlive the server (their own session): stop them
        jobs.cancel(run)


@pytest.fixture(scope="module")
def page(visitor_server):
    with chromium_page() as page:
        yield page


def open_page(page, url: str, title: str):
    page.goto(url)
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=180_000)
    settled(page)


def no_exception(page):
    assert not page.locator("[data-testid='stException']").count()


def test_training_names_and_starts(visitor_server, page):
    server, checkpoints = visitor_server, visitor_server["checkpoints"]
    shipped = (checkpoints / "cnn" / "model.safetensors").read_bytes()
    outside = Path("/tmp/x")
    outside_before = listing(outside) if outside.is_dir() else outside.exists()
    open_page(page, f"{server['url']}/train", "Train a model")
    if server["mode"] == "public":
        page.get_by_text("Training is switched off on this public deployment").wait_for(timeout=30_000)
        assert not page.get_by_role("button", name="Start training").count()
    else:
        name_box = page.get_by_role("textbox", name="Checkpoint name")
        start = page.get_by_role("button", name="Start training")
        page.get_by_role("spinbutton", name="Image size (px)").fill("16")
        page.get_by_role("spinbutton", name="Epochs").fill("500")  # still running when the next clicks come (cancelled at the end)
        for name, expected in (("../../../tmp/x", "only hold letters, digits"), ("/tmp/x", "only hold letters, digits"),
                               ("cnn", "already used by a checkpoint this page did not train")):
            name_box.fill(name)
            start.click()
            page.get_by_text(expected).first.wait_for(timeout=30_000)
        name_box.fill("visitor0")
        start.click()
        wait_until(lambda: (checkpoints / "visitor0" / "job.json").exists(), 60, "the first training run to start")
        for click in (1, 2):
            name_box.fill(f"visitor{click}")
            start.click()
            page.get_by_text("already going on this server").first.wait_for(timeout=30_000)
        runs = [p.parent.name for p in checkpoints.glob("*/job.json")]
        assert runs == ["visitor0"], runs
    no_exception(page)
    assert (checkpoints / "cnn" / "model.safetensors").read_bytes() == shipped
    assert sorted(p.name for p in checkpoints.iterdir()) == (["cnn"] if server["mode"] == "public" else ["cnn", "visitor0"])
    assert (listing(outside) if outside.is_dir() else outside.exists()) == outside_before


def test_sidebar_paths(visitor_server, page, visitor_files):
    open_page(page, visitor_server["url"], "Galaxy10 DECaLS workbench")
    box = page.get_by_role("textbox", name="Galaxy10 file")
    if visitor_server["mode"] == "public":
        assert not box.count(), "public mode has no path box"
        return
    for typed, expected in (("/tmp/" + "y" * 300, "Cannot use this file"), ("/proc/self/environ", "Cannot use this file"),
                            (str(visitor_files["huge"]), "declares 100,000,000 images")):
        box.fill(typed)
        box.press("Enter")
        page.get_by_text(expected).first.wait_for(timeout=60_000)
        no_exception(page)
        assert "/proc/" not in page.locator("[data-testid='stSidebar']").inner_text().replace(typed, "")
    box.fill("")
    box.press("Enter")


def test_a_49_megapixel_png_is_refused(visitor_server, page, visitor_files):
    open_page(page, f"{visitor_server['url']}/classify", "Classify galaxies")
    page.locator("input[type='file']").set_input_files(str(visitor_files["bomb"]))
    page.get_by_text("at most 9 megapixels").first.wait_for(timeout=60_000)
    no_exception(page)


def test_a_visitor_labels_in_the_browser_session_only(visitor_server, page):
    """Public mode's Label page: uploads, a queue and answers in the visitor's session; nothing is written on the server
    (results/ is as it was) and adapting is refused in one sentence."""
    if visitor_server["mode"] != "public":
        pytest.skip("the local Label page, with its files, is tests/test_labelling.py's")
    from galaxy_core.data.labelled_images import real_sample

    results = REPO / "results"
    before = listing(results)
    page.goto(f"{visitor_server['url']}/label")
    page.get_by_role("heading", name="Label galaxies", level=1).wait_for(timeout=120_000)
    page.get_by_text("which a public deployment does not do").wait_for(timeout=60_000)
    page.locator("input[type='file']").first.set_input_files([str(p) for p in real_sample().files[:3]])
    page.get_by_text("What is it?").wait_for(timeout=120_000)
    settled(page)
    page.get_by_role("button", name="2 · Round Smooth").click()
    page.get_by_text("1 labelled").wait_for(timeout=60_000)
    settled(page)
    assert not page.locator("[data-testid='stException']").count()
    assert listing(results) == before, "a visitor's answers are never written on the server"
