"""A catalogue run end to end against a local cutout server: rows/s, and how much of the time went to
waiting for the network versus computing (fetching the next batch overlaps classifying this one).

    python benchmarks/bench_catalogue.py [--rows 1000] [--checkpoint checkpoints/efficientnet_b2] [--latency-ms 80]

The server (the tests' SkyServer on 127.0.0.1) answers every position with a real 256x256 JPEG after
--latency-ms, standing in for the Legacy Surveys viewer over the internet; the cutout cache starts empty.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from galaxy_core import catalogue  # noqa: E402
from galaxy_core.data.cutouts import CutoutClient  # noqa: E402
from galaxy_core.inference.predictor import Predictor  # noqa: E402
from galaxy_core.settings import select_device  # noqa: E402
from test_cutouts import SkyServer  # noqa: E402


class TimedPredictor:
    """The Predictor, with the time spent classifying added up."""

    def __init__(self, predictor: Predictor):
        self.predictor, self.seconds = predictor, 0.0

    def predict(self, images):
        started = time.perf_counter()
        try:
            return self.predictor.predict(images)
        finally:
            self.seconds += time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "efficientnet_b2"))
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="where the model runs (a GPU: cuda)")
    args = parser.parse_args()
    server = SkyServer()
    original = server.httpd.RequestHandlerClass.do_GET

    def slow_get(handler):
        time.sleep(args.latency_ms / 1000)
        original(handler)

    server.httpd.RequestHandlerClass.do_GET = slow_get
    try:
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            targets = folder / "targets.csv"
            targets.write_text("id,ra,dec\n" + "".join(f"g{i},{(i * 0.37) % 360:.5f},{(i % 170) * 0.2 - 17:.4f}\n" for i in range(args.rows)))
            predictor = TimedPredictor(Predictor([args.checkpoint], device=str(select_device(args.device))))
            client = CutoutClient(server.url, cache=folder / "cutouts")
            started = time.perf_counter()
            counts = catalogue.run_catalogue(predictor, client, targets, folder / "out.csv")
            seconds = time.perf_counter() - started
    finally:
        server.close()
    print(json.dumps({"benchmark": "catalogue", "rows": args.rows, "checkpoint": Path(args.checkpoint).name,
                      "latency_ms": args.latency_ms, "ok": counts["ok"], "failed": counts["failed"], "seconds": round(seconds, 1),
                      "rows_per_s": round(args.rows / seconds, 1), "computing_share": round(predictor.seconds / seconds, 3),
                      "waiting_for_network_share": round(1 - predictor.seconds / seconds, 3),
                      "network_time_if_serial_s": round(args.rows * args.latency_ms / 1000, 1)}, indent=2))


if __name__ == "__main__":
    main()
