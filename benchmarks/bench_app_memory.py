"""Peak memory of the dashboard with the demo checkpoints, driven through every page in Chromium.

    python benchmarks/bench_app_memory.py [--port 8655] [--imports-only]

Starts `streamlit run app.py` on the embedded default dataset (created first if missing), visits
every page, classifies three real galaxy JPEGs, opens the evaluation page (whose comparison table
scores every checkpoint) and the latent space, then reads the server process's VmHWM.
Target (issue 4): under 1 GB, so the app fits Streamlit Community Cloud.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no {field}")


# What the pages import before any model or data is loaded: the floor under the app's peak.
IMPORTS = ("streamlit", "plotly.graph_objects", "pandas", "sklearn.decomposition", "torch", "torchvision", "timm",
           "pytorch_grad_cam", "galaxy_core.dashboard.state", "galaxy_core.inference", "galaxy_core.evaluation.evaluate",
           "galaxy_core.evaluation.gradcam", "galaxy_core.evaluation.embeddings")


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8655)
    parser.add_argument("--imports-only", action="store_true", help="only the import floor, cumulative per module")
    args = parser.parse_args()
    if args.imports_only:
        import torch

        print(json.dumps({"benchmark": "app_imports", "torch": torch.__version__, "cuda_build": torch.version.cuda,
                          "peak_mb_after_import": imports_floor()}))
        return
    from playwright.sync_api import sync_playwright

    subprocess.run([sys.executable, "-m", "galaxy_core", "synth", "--default"], cwd=REPO, check=True, capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
                               str(args.port), "--browser.gatherUsageStats", "false"], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    checkpoints = sorted(str(p.parent) for p in (REPO / "checkpoints").glob("*/meta.json"))
    real = sorted((REPO.parent / "shared" / "galaxy10_real").glob("*.jpg"))
    visited, after_page = [], {"started": memory_mb(server.pid)}
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
            browser.close()
        peak = memory_mb(server.pid)
        final_rss = memory_mb(server.pid, "VmRSS")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps({"benchmark": "app_memory", "pages": visited, "checkpoints": len(checkpoints),
                      "peak_after_each_page_mb": after_page, "final_rss_mb": final_rss,
                      "peak_rss_mb": peak, "target_mb": 1024}))


if __name__ == "__main__":
    main()
