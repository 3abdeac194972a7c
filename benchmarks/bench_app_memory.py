"""Peak memory of the dashboard with the demo checkpoints, driven through every page in Chromium.

    python benchmarks/bench_app_memory.py [--port 8655] [--imports-only] [--abuse] [--public]

Starts `streamlit run app.py` on the embedded default dataset (created first if missing), visits
every page, classifies three real galaxy JPEGs, opens the evaluation page (whose comparison table
scores every checkpoint) and the latent space, then reads the server process's VmHWM. It also
measures the import floor (a fresh Python importing what the pages import) and reports what the app
itself adds beyond it: target (issue 14) under 300 MB with all demo models used.

--abuse then does what issue 14's hostile visitor did, reading the peak after each step: a sidebar
path to a 2.7 kB file declaring 10^8 images, three 150 MB uploads, a 143 kB PNG of 49 megapixels, and
three training starts (only one may run; its process is not the server's memory and is cancelled).
--public runs the server with GALAXY_PUBLIC=1 (no path box, no training).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no {field}")


# What the pages import before any model or data is loaded: the floor under the app's peak.
IMPORTS = ("streamlit", "plotly.graph_objects", "pandas", "sklearn.decomposition", "torch", "torchvision", "timm",
           "pytorch_grad_cam", "galaxy_core.dashboard.loaded_models", "galaxy_core.inference", "galaxy_core.evaluation.evaluate",
           "galaxy_core.evaluation.explain", "galaxy_core.evaluation.embeddings")


def imports_floor() -> dict:
    """Peak memory of a fresh Python that imports what the app imports, cumulatively, one module at a time."""
    code = ("import importlib, json, sys\n"
            "out = {}\n"
            "for name in sys.argv[1:]:\n"
            "    importlib.import_module(name)\n"
            "    out[name] = [round(int(l.split()[1]) / 1024, 1) for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "print(json.dumps(out))\n")
    result = subprocess.run([sys.executable, "-c", code, *IMPORTS], cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def make_abuse_files(folder: Path) -> dict:
    sys.path.insert(0, str(REPO / "tests"))
    from hostile_files import declares_a_hundred_million_images, pixel_bomb_png

    huge = declares_a_hundred_million_images(folder / "huge.h5")
    bomb = pixel_bomb_png(folder / "bomb.png")
    big = []
    for i in range(3):
        path = folder / f"big{i}.jpg"
        with open(path, "wb") as handle:
            handle.write(b"\xff\xd8\xff\xe0" + os.urandom(1 << 20) * 150)
        big.append(str(path))
    return {"huge": str(huge), "bomb": str(bomb), "big": big}


def abuse(page, url: str, files: dict, public: bool, server_pid: int) -> dict:
    """Issue 14's hostile visitor; the server's peak after each step."""
    peaks = {}
    page.goto(url)
    page.get_by_role("heading", name="Galaxy10 DECaLS workbench", level=1).wait_for(timeout=300_000)
    if not public:
        box = page.get_by_role("textbox", name="Galaxy10 file")
        box.fill(files["huge"])
        box.press("Enter")
        page.get_by_text("declares 100,000,000 images").first.wait_for(timeout=120_000)
        box.fill("")
        box.press("Enter")
        page.wait_for_timeout(3000)
    peaks["path to a file declaring 10^8 images"] = memory_mb(server_pid)
    page.goto(f"{url}/classify")
    page.get_by_role("heading", name="Classify galaxies", level=1).wait_for(timeout=300_000)
    page.locator("input[type='file']").set_input_files(files["big"])
    page.wait_for_timeout(10_000)
    peaks["three 150 MB uploads"] = memory_mb(server_pid)
    page.goto(f"{url}/classify")
    page.get_by_role("heading", name="Classify galaxies", level=1).wait_for(timeout=300_000)
    page.locator("input[type='file']").set_input_files(files["bomb"])
    page.get_by_text("at most 9 megapixels").first.wait_for(timeout=120_000)
    peaks["49-megapixel PNG"] = memory_mb(server_pid)
    page.goto(f"{url}/train")
    page.get_by_role("heading", name="Train a model", level=1).wait_for(timeout=300_000)
    if not public:
        for click in range(3):
            page.get_by_role("textbox", name="Checkpoint name").fill(f"abuse{click}")
            page.get_by_role("button", name="Start training").click()
            page.wait_for_timeout(2000)
    peaks["three training starts"] = memory_mb(server_pid)
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8655)
    parser.add_argument("--imports-only", action="store_true", help="only the import floor, cumulative per module")
    parser.add_argument("--abuse", action="store_true", help="then the hostile visitor's inputs, peak after each")
    parser.add_argument("--public", action="store_true", help="run the server in public mode")
    args = parser.parse_args()
    floor = imports_floor()
    if args.imports_only:
        import torch

        print(json.dumps({"benchmark": "app_imports", "torch": torch.__version__, "cuda_build": torch.version.cuda,
                          "peak_mb_after_import": floor}))
        return
    from playwright.sync_api import sync_playwright

    subprocess.run([sys.executable, "-m", "galaxy_core", "synth", "--default"], cwd=REPO, check=True, capture_output=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-app-"))
    runs_root = scratch / "checkpoints"
    shutil.copytree(REPO / "checkpoints", runs_root)  # the demo models; abuse runs land here, not in the repository
    env = {**os.environ, "GALAXY_CHECKPOINTS": str(runs_root), "GALAXY_PUBLIC": "1" if args.public else "0",
           "GALAXY_DATA_ROOTS": str(scratch)}
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
                               str(args.port), "--browser.gatherUsageStats", "false"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    checkpoints = sorted(str(p.parent) for p in runs_root.glob("*/meta.json"))
    real = sorted((REPO / "galaxy_core" / "data" / "real_sample").glob("*.jpg"))
    visited, after_page, abuse_peaks = [], {"started": memory_mb(server.pid)}, {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu",
                                        "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            for path, heading in (("", "Galaxy10 DECaLS workbench"), ("dataset", "Dataset browser"), ("classify", "Classify galaxies"),
                                  ("evaluation", "Evaluation"), ("latent", "Latent space"), ("train", "Train a model")):
                page.goto(f"{url}/{path}")
                page.get_by_role("heading", name=heading, level=1).wait_for(timeout=300_000)
                if path == "classify" and real:
                    page.locator("input[type='file']").set_input_files([str(f) for f in real[:3]])
                    page.get_by_text("Predicted class").first.wait_for(timeout=300_000)
                if path in ("evaluation", "latent"):
                    page.wait_for_selector(".js-plotly-plot", timeout=600_000)
                    page.wait_for_timeout(3000)
                visited.append(path or "overview")
                after_page[path or "overview"] = memory_mb(server.pid)  # the peak so far, page by page
            if args.abuse:
                abuse_peaks = abuse(page, url, make_abuse_files(scratch), args.public, server.pid)
            browser.close()
        peak = memory_mb(server.pid)
        final_rss = memory_mb(server.pid, "VmRSS")
    finally:
        server.terminate()
        server.wait(timeout=30)
        from galaxy_core.training import jobs

        for run in jobs.runs(runs_root):
            jobs.cancel(run)
        shutil.rmtree(scratch, ignore_errors=True)
    floor_mb = list(floor.values())[-1]
    print(json.dumps({"benchmark": "app_memory", "public": args.public, "pages": visited, "checkpoints": len(checkpoints),
                      "peak_after_each_page_mb": after_page, "abuse_peak_after_each_mb": abuse_peaks, "final_rss_mb": final_rss,
                      "peak_rss_mb": peak, "imports_floor_mb": floor_mb, "app_beyond_imports_mb": round(peak - floor_mb, 1),
                      "target_beyond_imports_mb": 300}))


if __name__ == "__main__":
    main()
