"""The HTTP service (issue 12): every route and refusal through FastAPI's TestClient, batching and the
bounded queue with concurrent clients, and one real `serve` process on 127.0.0.1 driven with httpx."""
from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import run_cli, REPO, free_port_for_tests
from hostile_files import pixel_bomb_png
from galaxy_core.service.app import API_KEY_ENV, ServiceSettings, create_app

GALAXY = (REPO / "galaxy_core/data/real_sample/g10_c0_r0.jpg").read_bytes()


@pytest.fixture(scope="module")
def served(tiny_checkpoints, tmp_path_factory):
    """A checkpoints root with the study's names: the tiny efficientnet_b0, and the tiny cnn standing in for B2."""
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(tiny_checkpoints / "efficientnet_b0", root / "efficientnet_b0")
    shutil.copytree(tiny_checkpoints / "cnn", root / "efficientnet_b2")
    shutil.copytree(tiny_checkpoints / "cnn", root / "cnn")
    from galaxy_core.inference.default_answer import write_default

    write_default(root, ["efficientnet_b2"], None, False, {}, [], [])  # the study's Model New answers unnamed requests
    return root


def client(root, **settings) -> TestClient:
    return TestClient(create_app(ServiceSettings(checkpoints=str(root), device="cpu", **settings)), raise_server_exceptions=False)


def image_file(name="galaxy.jpg", data=GALAXY):
    return ("file", (name, data, "image/jpeg"))


def test_health_and_models(served):
    api = client(served)
    health = api.get("/health").json()
    assert health["status"] == "ok" and health["models_available"] == ["cnn", "efficientnet_b0", "efficientnet_b2"]
    models = api.get("/models").json()["models"]
    first = models[0]
    assert first["name"] == "cnn" and first["input_size"] == 32 and first["trained_on"]["synthetic"] is True
    assert set(first["synthetic_test"]) == {"accuracy", "macro_f1", "cross_entropy"} and "real_check_set_accuracy" in first
    assert first["real_check_set_cross_validated"] is False
    low, high = first["real_check_set_interval"]  # 60 images: the figure comes with its 95% interval
    assert low <= first["real_check_set_accuracy"] <= high and high - low > 0.15
    assert api.get("/docs").status_code == 200 and "/predict2" in api.get("/openapi.json").json()["paths"]


def test_predict_without_a_recorded_default_says_so_and_has_the_cli_fields(served, tmp_path):
    """The service decides the default as the command line does (default_answer): three checkpoints and nothing
    recorded is one sentence (naming no server path), not a silent fallback to one model."""
    bare = tmp_path / "bare"
    shutil.copytree(served, bare, ignore=shutil.ignore_patterns("default.json"))
    api = client(bare)
    refused = api.post("/predict", files=[image_file()])
    assert str(tmp_path) not in refused.text
    assert refused.status_code == 400 and "no recorded default answer" in refused.json()["error"] and "?model=" in refused.json()["error"]
    assert api.get("/models").json()["default"]["recorded"] is False
    answer = api.post("/predict", files=[image_file()], params={"model": "efficientnet_b2"}).json()
    assert answer["model"] == "efficientnet_b2" and answer["ensemble"] is None and answer["default"] is False
    prediction = answer["predictions"][0]
    assert {"label", "class", "confidence", "probabilities", "members", "source", "ood", "ood_score", "file", "notes"} <= set(prediction)
    assert prediction["file"] == "galaxy.jpg" and abs(sum(prediction["probabilities"].values()) - 1) < 1e-4


def test_the_studys_routes(served):
    api = client(served)
    old = api.post("/predict1", files=[image_file()]).json()
    assert old["model"] == "efficientnet_b0" and old["source"] == "efficientnet_b0"
    both = api.post("/predict2", files=[image_file()]).json()
    assert {"label", "confidence", "source"} <= set(both) and both["source"] in ("both", "efficientnet_b0")
    members = both["members"]
    expected = "both" if members["efficientnet_b0"]["label"] == members["efficientnet_b2"]["label"] else "efficientnet_b0"
    assert both["source"] == expected and both["label"] == members["efficientnet_b0"]["label"]  # B0 preferred


def test_several_files_an_ensemble_and_gradcam(served):
    answer = client(served).post("/predict", files=[image_file("a.jpg"), image_file("b.jpg")],
                                 params={"model": ["cnn", "efficientnet_b0"], "ensemble": "soft", "gradcam": "true"}).json()
    assert answer["model"] == ["cnn", "efficientnet_b0"] and [p["file"] for p in answer["predictions"]] == ["a.jpg", "b.jpg"]
    overlay = Image.open(io.BytesIO(__import__("base64").b64decode(answer["predictions"][0]["gradcam_png"])))
    assert overlay.size == (256, 256)


def test_tta_averages_the_eight_views_on_request(served):
    api = client(served)
    turned = io.BytesIO()
    Image.open(io.BytesIO(GALAXY)).transpose(Image.Transpose.ROTATE_90).save(turned, format="PNG")
    files = [image_file(), ("file", ("turned.png", turned.getvalue(), "image/png"))]
    plain = api.post("/predict", files=files, params={"model": "cnn"}).json()["predictions"]
    averaged = api.post("/predict", files=files, params={"model": "cnn", "tta": "true"}).json()["predictions"]
    assert [p["tta"] for p in plain] == [False, False] and [p["tta"] for p in averaged] == [True, True]
    upright, rotated = (np.array(list(p["probabilities"].values())) for p in averaged)
    assert np.allclose(upright, rotated, atol=1e-3), "averaged over the 8 views, a turned galaxy gets the same answer"
    assert averaged[0]["ood_score"] == pytest.approx(plain[0]["ood_score"], abs=1e-4)
    assert "cnn (tta)" in api.get("/health").json()["batches"]


def png_bytes(side=64) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((side, side, 3), 90, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name, data, status, message", [
    ("notes.txt", b"not an image at all", 400, "is not an image"),
    ("empty.jpg", b"", 400, "is empty"),
    ("cut.jpg", GALAXY[: len(GALAXY) // 3], 400, "damaged"),
])
def test_bad_uploads_get_one_sentence(served, name, data, status, message):
    response = client(served).post("/predict", files=[image_file(name, data)])
    assert response.status_code == status and message in response.json()["error"]
    assert list(response.json()) == ["error"] and "\n" not in response.json()["error"]


def test_a_decompression_bomb_is_refused(served, tmp_path):
    bomb = pixel_bomb_png(tmp_path / "bomb.png").read_bytes()
    response = client(served).post("/predict", files=[("file", ("bomb.png", bomb, "image/png"))])
    assert response.status_code == 400 and "at most 9 megapixels" in response.json()["error"]


def test_size_and_file_count_limits(served):
    small = client(served, max_request_mb=1, max_files=2)
    big = small.post("/predict", files=[image_file("big.jpg", GALAXY + b"\0" * (2 * 2**20))])
    assert big.status_code == 413 and "larger than 1 MB" in big.json()["error"]
    many = small.post("/predict", files=[image_file(f"{i}.jpg") for i in range(3)])
    assert many.status_code == 413 and "at most 2 are accepted" in many.json()["error"]


@pytest.mark.parametrize("params, status, message", [
    ({"model": "../../etc/passwd"}, 404, "No model named"),
    ({"model": "/etc/passwd"}, 404, "No model named"),
    ({"model": ["cnn", "efficientnet_b0"]}, 422, "need an ensemble rule"),
    ({"model": "cnn", "ensemble": "soft"}, 422, "at least two models"),
    ({"model": ["cnn", "efficientnet_b0"], "ensemble": "vote"}, 422, "Unknown ensemble rule"),
    ({"model": ["cnn", "cnn"], "ensemble": "soft"}, 422, "named twice"),
    ({"gradcam": "perhaps"}, 422, "Invalid gradcam"),
])
def test_bad_parameters_get_one_sentence(served, params, status, message):
    response = client(served).post("/predict", files=[image_file()], params=params)
    assert response.status_code == status and message in response.json()["error"], response.json()


def test_missing_file_wrong_route_and_study_route_with_two_files(served):
    api = client(served)
    assert "field named 'file'" in api.post("/predict").json()["error"]
    assert api.get("/predict").status_code == 405 and "/docs" in api.get("/predict").json()["error"]
    two = api.post("/predict2", files=[image_file("a.jpg"), image_file("b.jpg")])
    assert two.status_code == 422 and "one image per request" in two.json()["error"]


def test_api_key(served, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "s3cret")
    api = client(served)
    assert api.get("/health").status_code == 200  # load balancers probe it without the key
    refused = api.post("/predict", files=[image_file()])
    assert refused.status_code == 401 and "X-API-Key" in refused.json()["error"]
    assert api.post("/predict", files=[image_file()], headers={"X-API-Key": "wrong"}).status_code == 401
    assert api.post("/predict", files=[image_file()], headers={"X-API-Key": "s3cret"}).status_code == 200


def test_cors_is_off_unless_origins_are_configured(served):
    origin = {"Origin": "https://example.org"}
    assert "access-control-allow-origin" not in client(served).get("/health", headers=origin).headers
    allowed = client(served, cors_origins="https://example.org").get("/health", headers=origin)
    assert allowed.headers["access-control-allow-origin"] == "https://example.org"


async def _concurrently(app, count: int, route: str = "/predict1") -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as api:
        return await asyncio.gather(*[api.post(route, files=[image_file(f"{i}.jpg")]) for i in range(count)])


def test_requests_that_arrive_together_share_a_forward_pass(served):
    app = create_app(ServiceSettings(checkpoints=str(served), device="cpu", max_batch=8, max_wait_ms=300))
    responses = asyncio.run(_concurrently(app, 8))
    assert [r.status_code for r in responses] == [200] * 8
    batcher = next(iter(app.state.models._batchers.values()))
    assert batcher.batches_run < 8, "eight simultaneous requests should not take eight forward passes"
    labels = {r.json()["label"] for r in responses}
    assert len(labels) == 1  # the same image gets the same answer, whatever its batch


def test_requests_queued_behind_a_running_batch_join_the_next_one(served):
    app = create_app(ServiceSettings(checkpoints=str(served), device="cpu", max_batch=16, max_wait_ms=0))
    responses = asyncio.run(_concurrently(app, 8))
    assert [r.status_code for r in responses] == [200] * 8
    batches = TestClient(app).get("/health").json()["batches"]["efficientnet_b0"]
    assert batches["images"] == 8 and batches["forward_passes"] <= 3  # not one pass per request


def test_a_full_queue_answers_503_with_retry_after(served):
    app = create_app(ServiceSettings(checkpoints=str(served), device="cpu", max_batch=64, max_wait_ms=500, max_queue=2))
    responses = asyncio.run(_concurrently(app, 6))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) >= 2 and 503 in codes and set(codes) <= {200, 503}
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["error"]


def test_a_real_serve_process_on_localhost(served):
    port = free_port_for_tests()
    process = subprocess.Popen([sys.executable, "-m", "galaxy_core", "serve", "--port", str(port), "--checkpoints", str(served),
                                "--device", "cpu"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail(f"serve did not answer: {process.stderr.read1().decode()[-2000:] if process.poll() is not None else 'still starting'}")
        answer = httpx.post(f"{url}/predict2", files=[image_file()], timeout=60).json()
        assert answer["model"] == ["efficientnet_b0", "efficientnet_b2"] and answer["source"] in ("both", "efficientnet_b0")
        assert httpx.post(f"{url}/predict1", files=[image_file()], timeout=60).json()["source"] == "efficientnet_b0"
        new = httpx.post(f"{url}/predict", files=[image_file()], timeout=60).json()
        assert new["model"] == "efficientnet_b2" and {"label", "confidence", "source"} <= set(new["predictions"][0])
        assert [m["name"] for m in httpx.get(f"{url}/models", timeout=30).json()["models"]] == ["cnn", "efficientnet_b0", "efficientnet_b2"]
        assert httpx.post(f"{url}/predict", files=[image_file("x.png", b"garbage")], timeout=60).status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serve_refuses_a_missing_checkpoints_folder(tmp_path):
    run = run_cli("serve", "--checkpoints", tmp_path / "none")  # refused before uvicorn starts: no process needed
    assert run.returncode == 2 and run.stderr.startswith("error: ") and "is not a folder of checkpoints" in run.stderr


def test_predict_at_a_sky_position(served, monkeypatch, tmp_path):
    from test_cutouts import SkyServer

    sky = SkyServer()
    try:
        monkeypatch.setenv("GALAXY_CUTOUT_URL", sky.url)
        monkeypatch.setenv("GALAXY_CORE_CACHE", str(tmp_path))
        api = client(served)
        answer = api.get("/predict/sky", params={"ra": 150.1, "dec": 2.2, "model": "cnn"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ra"] == 150.1 and body["dec"] == 2.2 and body["url"].startswith(sky.url) and body["model"] == "cnn"
        assert {"label", "class", "confidence", "ood", "ood_score"} <= set(body)
        assert sky.requests[-1]["query"]["pixscale"] == "0.262"
        ensemble = api.get("/predict/sky", params=[("ra", 150.1), ("dec", 2.2), ("model", "cnn"), ("model", "efficientnet_b0"),
                                                   ("ensemble", "soft")]).json()
        assert ensemble["model"] == ["cnn", "efficientnet_b0"] and len(sky.requests) == 1  # the cutout came from the cache
        refused = api.get("/predict/sky", params={"ra": 400, "dec": 2})
        assert refused.status_code == 422 and refused.json() == {"error": "RA 400 is outside [0, 360) degrees: give RA in decimal degrees."}
        sky.by_ra["10.000000"] = "garbage"
        upstream = api.get("/predict/sky", params={"ra": 10, "dec": 2})
        assert upstream.status_code == 502 and "not an image" in upstream.json()["error"]
        assert api.get("/predict/sky", params={"ra": 10, "dec": 2, "model": "nope"}).status_code == 404
    finally:
        sky.close()
