"""What the browser tests share: a `streamlit run app.py` server on 127.0.0.1 and a headless Chromium.

Needs Debian's Chromium at /usr/bin/chromium (CI installs it) and the Python playwright package;
never downloads a browser. A test module calls `require_browser()` first, which skips it, saying why,
when either is missing.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def require_browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict, log_folder: Path, drop: tuple[str, ...] = (), script: str = "app.py") -> Iterator[str]:
    """Run the app with these environment variables (on top of ours, less `drop`); yield its URL."""
    port = free_port()
    environment = {key: value for key, value in {**os.environ, **env}.items() if key not in drop}
    log = open(Path(log_folder) / "streamlit.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                                "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
                               cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("streamlit did not answer /_stcore/health within 90 s")
    try:
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=20)
        log.close()


@contextlib.contextmanager
def chromium_page():
    sync_api = require_browser()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        try:
            yield page
        finally:
            browser.close()


# True once every image has loaded and every plotly chart has drawn its plot area.
_DRAWN = """() => Array.from(document.images).every(image => image.complete)
              && Array.from(document.querySelectorAll('.js-plotly-plot')).every(plot => plot.querySelector('.main-svg'))"""


def settled(page, timeout: float = 180_000) -> None:
    """Wait until the script run has ended (Streamlit's running indicator is gone) and what it drew is on screen: the
    condition a screenshot or a click on a chart needs, instead of a fixed pause."""
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=timeout)
    page.wait_for_function(_DRAWN, timeout=timeout)
