"""Drive the HTTP service with concurrent clients: throughput, latency percentiles, errors, server memory.

    python benchmarks/bench_service.py [--route /predict2] [--clients 16] [--requests 1000] [--sequential]
                                       [--url http://HOST:PORT | --checkpoints DIR --device cpu --workers 1]
                                       [--max-batch 16] [--max-wait-ms 5] [--image FILE] [--memory-check]

Without --url it starts `python -m galaxy_core serve` on 127.0.0.1 itself (and can read its memory).
Every request posts one real 256x256 galaxy JPEG (the check set's curated Barred Spiral unless --image).
--sequential first sends the same number of requests from one client, one after another, for the
speed-up of batching. --memory-check sends 2,000 requests and compares the server's RSS after 200 and
after 2,000 (target: within 5%). Issue 12's targets: 16 clients x 1,000 requests to /predict2 with zero
errors and at least 2x the throughput of one sequential client.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = REPO / "galaxy_core" / "data" / "real_sample" / "g10_c5_curated.jpg"


def memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def drive(url: str, route: str, image: bytes, clients: int, requests: int, on_done=None) -> dict:
    """`requests` POSTs shared by `clients` threads, each with its own connection; latencies in ms."""
    latencies, errors, lock, counter = [], [], threading.Lock(), [0]

    def client():
        with httpx.Client(base_url=url, timeout=120) as http:
            while True:
                with lock:
                    if counter[0] >= requests:
                        return
                    counter[0] += 1
                    number = counter[0]
                started = time.perf_counter()
                try:
                    response = http.post(route, files={"file": ("galaxy.jpg", image, "image/jpeg")})
                    ok = response.status_code == 200
                    detail = f"{response.status_code} {response.text[:120]}"
                except httpx.HTTPError as exc:
                    ok, detail = False, type(exc).__name__
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        errors.append(detail)
                if on_done:
                    on_done(number)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return {"clients": clients, "requests": requests, "seconds": round(seconds, 2), "throughput_per_s": round(requests / seconds, 2),
            "p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "p99_ms": round(p99, 1), "errors": len(errors), "first_errors": errors[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one here)")
    parser.add_argument("--route", default="/predict2")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--sequential", action="store_true", help="also one client, one request after another")
    parser.add_argument("--memory-check", action="store_true", help="RSS after 200 and after 2,000 requests")
    parser.add_argument("--image", default=str(DEFAULT_IMAGE))
    parser.add_argument("--checkpoints", default=str(REPO / "checkpoints"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    image = Path(args.image).read_bytes()
    server = None
    url = args.url
    if not url:
        url = f"http://127.0.0.1:{args.port}"
        server = subprocess.Popen([sys.executable, "-m", "galaxy_core", "serve", "--port", str(args.port), "--checkpoints", args.checkpoints,
                                   "--device", args.device, "--workers", str(args.workers), "--max-batch", str(args.max_batch),
                                   "--max-wait-ms", str(args.max_wait_ms), "--max-queue", "4096"], cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(240):
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
    result = {"benchmark": "service", "route": args.route, "max_batch": args.max_batch, "max_wait_ms": args.max_wait_ms,
              "workers": args.workers, "device": httpx.get(f"{url}/health").json()["device"]}
    try:
        drive(url, args.route, image, 1, 20)  # warm up: load the models, fill the caches
        if args.sequential:
            result["sequential"] = drive(url, args.route, image, 1, args.requests)
        result["concurrent"] = drive(url, args.route, image, args.clients, args.requests)
        if args.sequential:
            result["speedup"] = round(result["concurrent"]["throughput_per_s"] / result["sequential"]["throughput_per_s"], 2)
        if args.memory_check and server:
            marks = {}
            drive(url, args.route, image, args.clients, 2000,
                  on_done=lambda n: marks.setdefault(n, memory_mb(server.pid, "VmRSS")) if n in (200, 2000) else None)
            result["rss_after_200_mb"], result["rss_after_2000_mb"] = marks.get(200), marks.get(2000)
            result["rss_growth_percent"] = round(100 * (marks[2000] - marks[200]) / marks[200], 2) if 200 in marks and 2000 in marks else None
        if server:
            result["server_peak_rss_mb"] = memory_mb(server.pid, "VmHWM")
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
