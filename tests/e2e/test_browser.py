"""The dashboard as a person uses it: `streamlit run app.py` in headless Chromium, every page.

Needs Debian's Chromium at /usr/bin/chromium (CI installs it) and the Python playwright package;
never downloads a browser. With GALAXY_SCREENSHOTS=docs/screenshots it also refreshes the README's
screenshots of every page; without it, a test run leaves the repository untouched.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser import chromium_page, require_browser, settled, streamlit_server
from galaxy_core.data.labelled_images import real_sample

pytestmark = pytest.mark.e2e
require_browser()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"GALAXY_CORE_CACHE": str(tmp_path_factory.mktemp("e2e-cache")), "GALAXY10_DEFAULT_N": "80"}
    drop = () if os.environ.get("GALAXY_SCREENSHOTS") else ("GALAXY10_H5",)  # screenshots may show a real-size file
    with streamlit_server(env, tmp_path_factory.mktemp("e2e-log"), drop=drop) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with chromium_page() as page:
        yield page


def open_page(page, url: str, title: str, timeout: float = 180_000):
    page.goto(url)
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=timeout)
    settled(page, timeout)
    assert not page.locator("[data-testid='stException']").count(), f"exception on {title}"


def shoot(page, name: str):
    folder = os.environ.get("GALAXY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(folder) / f"{name}.png") if folder else None, full_page=False)


# The screen centre of the real point (a trace named "real: ...") farthest from every other drawn point.
LONELIEST_REAL_POINT = """() => {
  const plot = document.querySelector('.js-plotly-plot');
  const traces = Array.from(plot.querySelectorAll('.scatterlayer .trace'));
  const real = [], all = [];
  plot.data.forEach((trace, i) => traces[i].querySelectorAll('path.point').forEach(point => {
    const box = point.getBoundingClientRect(), centre = [box.x + box.width / 2, box.y + box.height / 2];
    all.push(centre);
    if (trace.name.startsWith('real')) real.push(centre);
  }));
  let best = null, bestGap = -1;
  for (const [x, y] of real) {
    const gap = Math.min(...all.filter(([u, v]) => u !== x || v !== y).map(([u, v]) => Math.hypot(u - x, v - y)));
    if (gap > bestGap) { best = [x, y]; bestGap = gap; }
  }
  return best;
}"""


def test_every_page_and_the_main_interactions(server, page):
    open_page(page, server, "Galaxy10 DECaLS workbench")  # also creates the default dataset
    assert page.get_by_text("Synthetic data.").count()
    shoot(page, "overview")

    open_page(page, f"{server}/dataset", "Dataset browser")
    page.locator("[data-testid='stImage']").nth(1).wait_for(timeout=120_000)  # thumbnails can lag the heading on a busy machine
    shoot(page, "dataset")

    open_page(page, f"{server}/classify", "Classify galaxies")
    real = list(real_sample().files)  # the real check set ships in the package
    page.locator("input[type='file']").set_input_files(str(real[0]))
    page.get_by_text("Predicted class").first.wait_for(timeout=120_000)
    page.get_by_text("Maps of the evidence for").first.wait_for(timeout=120_000)
    settled(page)
    assert page.get_by_text("cells").count(), "every map says its layer's cell count"
    assert not page.locator("[data-testid='stException']").count(), "exception on Classify"
    shoot(page, "classify")
    page.get_by_text("Maps of the evidence for").first.scroll_into_view_if_needed()
    shoot(page, "classify_maps")
    # Another method reruns only the maps (a fragment): eigencam says it ignores the class.
    method_box = page.locator(".st-key-item_0_method [role='combobox']")
    method_box.click()
    method_box.fill("eigen")  # a searchable selectbox: type, then pick
    page.get_by_role("option", name="eigencam").click()
    page.get_by_text("eigencam is class-agnostic").first.wait_for(timeout=120_000)
    settled(page)
    assert not page.locator("[data-testid='stException']").count(), "exception after changing the explanation method"
    # A batch: the table, a clicked row in detail.
    page.locator("input[type='file']").set_input_files([str(p) for p in real[:4]])
    page.get_by_text("4 images").first.wait_for(timeout=120_000)
    settled(page)
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.locator("canvas").first.wait_for(timeout=60_000)  # the grid is drawn on a canvas once its data has arrived
    detail = page.locator("h3", has_text=real[2].name)
    for _ in range(3):  # a click that lands while the grid is still laying out selects nothing: click again
        grid.evaluate("element => element.scrollIntoView({block: 'center'})")  # every row on screen, not just the header
        grid.click(position={"x": 12, "y": 35 * 3.5})  # the row marker of the third row (a header, then 35-px rows)
        try:
            detail.wait_for(timeout=40_000)
            break
        except Exception:  # playwright's TimeoutError: try the click once more
            settled(page)
    detail.wait_for(timeout=10_000)
    settled(page)
    assert not page.locator("[data-testid='stException']").count(), "exception after clicking a row of the batch table"
    page.locator("[data-testid='stDataFrame']").first.scroll_into_view_if_needed()
    shoot(page, "classify_batch")

    open_page(page, f"{server}/evaluation", "Evaluation")
    page.get_by_text("Click a cell").wait_for(timeout=120_000)
    settled(page)  # the cell's position is only final once the whole page is drawn
    # Press and release the mouse on the first cell's marker (true disturbed, predicted disturbed), as a
    # person does: plotly's drag layer over the markers turns that into a point selection.
    cell = page.locator(".js-plotly-plot .scatterlayer .point").nth(0)
    cell.scroll_into_view_if_needed()
    box = cell.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator(".hoverlayer .hovertext").first.wait_for(timeout=30_000)  # plotly has the point under the mouse
    page.mouse.down()
    page.mouse.up()
    page.get_by_text("most confident first").wait_for(timeout=60_000)
    settled(page)
    shoot(page, "evaluation")

    open_page(page, f"{server}/latent", "Latent space")
    page.locator(".js-plotly-plot").first.wait_for(timeout=180_000)  # the PCA scatter, once the features are computed
    settled(page)
    assert not page.locator("[data-testid='stException']").count(), "exception on Latent space"
    shoot(page, "latent")
    # Click a real galaxy (a diamond of the check set's layer), the one farthest on screen from any other point so
    # that plotly's closest-point hover picks it, and see it beside its nearest synthetic and real neighbours.
    for _ in range(2):  # a click that lands while the chart is still being laid out selects nothing: click again
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        x, y = page.evaluate(LONELIEST_REAL_POINT)
        page.mouse.move(x, y)
        page.locator(".hoverlayer .hovertext").first.wait_for(timeout=30_000)
        page.mouse.down()
        page.mouse.up()
        try:  # the captions arrive before the images they head: wait for the images (the galaxy, 8 + 8 neighbours)
            page.get_by_text("Nearest real galaxies").wait_for(timeout=60_000)
            page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stImage'] img\").length >= 17", timeout=60_000)
            break
        except Exception:  # playwright's TimeoutError
            settled(page)
    shown = page.locator("[data-testid='stImage'] img").count()
    assert page.get_by_text("Nearest synthetic galaxies").count(), "the selected galaxy's neighbours are shown"
    settled(page)
    assert page.get_by_text("predicted:").count() and not page.locator("[data-testid='stException']").count()
    assert shown >= 17, f"the galaxy, 8 synthetic and 8 real neighbours: {shown} images"

    open_page(page, f"{server}/train", "Train a model")
    shoot(page, "train")
