"""The sky-cutout client (issue 13) against a local HTTP server on 127.0.0.1 that serves fixture cutouts
and misbehaves on demand: 500 then success, 429 with Retry-After, a hang past the timeout, garbage
bytes, a blank image, 404. The real Legacy Surveys service is never touched."""
from __future__ import annotations

import http.server
import io
import json
import threading
import time
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_cli
from galaxy_core.data import cutouts
from galaxy_core.data.cutouts import USER_AGENT, CutoutClient, CutoutError, check_position, training_pixscale

GALAXY = (REPO / "galaxy_core/data/real_sample/g10_c5_curated.jpg").read_bytes()


def blank_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


class SkyServer:
    """Serves GALAXY for any position; `script` is a list of behaviours used one per request, then 'ok'."""

    def __init__(self):
        self.script, self.requests, self.hang_s = [], [], 3.0
        self.by_ra = {}  # the query's ra value -> a behaviour, for every request at that position
        self.fits = b""  # what cutout.fits serves (set by a test)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                server.requests.append({"query": {k: v[0] for k, v in query.items()}, "agent": self.headers.get("User-Agent"),
                                        "path": urllib.parse.urlsplit(self.path).path})
                behaviour = server.by_ra.get(query.get("ra", [""])[0]) or (server.script.pop(0) if server.script else "ok")
                if behaviour == "hang":
                    time.sleep(server.hang_s)
                    behaviour = "ok"
                if behaviour in ("500", "404", "400"):
                    self.send_error(int(behaviour))
                    return
                if behaviour == "429":
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = {"ok": GALAXY, "garbage": b"<html>not a cutout</html>", "blank": blank_jpeg()}[behaviour]
                if behaviour == "ok" and self.path.startswith("/viewer/cutout.fits"):
                    body = server.fits
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/viewer/cutout.jpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def sky():
    server = SkyServer()
    yield server
    server.close()


@pytest.fixture
def client(sky, tmp_path):
    return CutoutClient(sky.url, cache=tmp_path / "cutouts", timeout_s=1.0, retries=3, backoff_s=0.05)


def test_a_cutout_is_fetched_with_galaxy10s_parameters_and_cached(sky, client):
    first = client.fetch(180.5, 2.25)
    assert first.image.pixels.shape == (256, 256, 3) and not first.from_cache
    query = sky.requests[0]["query"]
    assert query == {"ra": "180.500000", "dec": "2.250000", "layer": "ls-dr10-grz", "pixscale": "0.262", "size": "256"}
    assert sky.requests[0]["agent"] == USER_AGENT and "galaxy_core" in USER_AGENT
    again = client.fetch(180.5, 2.25)
    assert again.from_cache and len(sky.requests) == 1 and np.array_equal(again.image.pixels, first.image.pixels)


def test_server_errors_and_rate_limits_are_retried(sky, client, monkeypatch):
    waits = []
    monkeypatch.setattr(cutouts.time, "sleep", waits.append)  # the waits the client chose, without waiting them
    sky.script = ["500", "429", "500"]
    assert client.fetch(10.0, 0.0).image.pixels.shape == (256, 256, 3)
    assert len(sky.requests) == 4 and len(waits) == 3
    assert waits[1] >= 1.0  # the 429's Retry-After: 1 was honoured


def test_a_hang_past_the_timeout_is_retried(sky, client):
    sky.script, sky.hang_s = ["hang"], 2.5
    assert client.fetch(10.0, 1.0).image.pixels.shape == (256, 256, 3)
    assert len(sky.requests) == 2


def test_giving_up_says_so_in_one_sentence(sky, client):
    sky.script = ["500"] * 10
    with pytest.raises(CutoutError, match="did not deliver RA 10.00000, Dec 2.00000 after 4 tries \\(last: 500"):
        client.fetch(10.0, 2.0)


@pytest.mark.parametrize("behaviour, message", [
    ("404", "has no image for RA 20.00000, Dec 3.00000 \\(404\\)"),
    ("garbage", "not an image"),
    ("blank", "outside the survey's footprint"),
    ("400", "refused"),
])
def test_failures_that_retrying_cannot_fix(sky, client, behaviour, message, tmp_path):
    sky.script = [behaviour]
    with pytest.raises(CutoutError, match=message):
        client.fetch(20.0, 3.0)
    assert len(sky.requests) == 1 and not list((tmp_path / "cutouts").rglob("*.jpg"))  # nothing bad is cached


@pytest.mark.parametrize("ra, dec", [(360.0, 0.0), (-0.1, 0.0), (10.0, 90.5), (10.0, -91.0), (float("nan"), 0.0), ("abc", 1.0)])
def test_positions_are_checked(ra, dec):
    with pytest.raises(CutoutError):
        check_position(ra, dec)


def test_no_network_is_one_sentence(tmp_path):
    client = CutoutClient("http://127.0.0.1:9/cutout.jpg", cache=tmp_path, timeout_s=0.5, retries=1, backoff_s=0.01)
    with pytest.raises(CutoutError, match="no connection"):
        client.fetch(1.0, 1.0)


def test_a_non_http_cutout_url_is_refused():
    with pytest.raises(CutoutError, match="not an http"):
        CutoutClient("file:///etc/passwd")


def test_cli_predict_at_a_sky_position(sky, tiny_checkpoints, tmp_path):
    env = {**__import__("os").environ, "GALAXY_CUTOUT_URL": sky.url, "GALAXY_CORE_CACHE": str(tmp_path)}
    run = run_cli("predict", "--checkpoint", tiny_checkpoints / "cnn", "--ra", "150.1", "--dec", "2.2", "--json", env=env)
    assert run.returncode == 0, run.stderr
    prediction = json.loads(run.stdout)["predictions"][0]
    assert prediction["ra"] == 150.1 and prediction["dec"] == 2.2 and prediction["url"].startswith(sky.url)
    assert {"label", "class", "confidence", "probabilities", "ood"} <= set(prediction)
    bad = run_cli("predict", "--checkpoint", tiny_checkpoints / "cnn", "--ra", "400", "--dec", "2", env=env)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: RA 400 is outside [0, 360) degrees: give RA in decimal degrees."


def test_the_pixel_scale_follows_the_models_training_data():
    assert training_pixscale([{"data": {"pxscale": 0.524}}, {"data": {"pxscale": 0.524}}]) == 0.524
    assert training_pixscale([{"data": {}}, {}]) == 0.262  # older checkpoints record none: the DECam pixel
    with pytest.raises(CutoutError, match=r'different pixel scales \(0.262", 0.524" per pixel\): choose one with --pixscale\.$'):
        training_pixscale([{"data": {"pxscale": 0.262}}, {"data": {"pxscale": 0.524}}])


def test_cli_fetches_at_the_checkpoints_pixel_scale_unless_told(sky, tiny_checkpoints, tmp_path):
    meta = json.loads((tiny_checkpoints / "cnn" / "meta.json").read_text())
    assert meta["data"]["pxscale"] == 0.262  # training records it (the synthetic generator draws at the DECam pixel)
    checkpoint = tmp_path / "cnn_half_resolution"
    __import__("shutil").copytree(tiny_checkpoints / "cnn", checkpoint)
    meta["data"]["pxscale"] = 0.524
    (checkpoint / "meta.json").write_text(json.dumps(meta))
    env = {**__import__("os").environ, "GALAXY_CUTOUT_URL": sky.url, "GALAXY_CORE_CACHE": str(tmp_path)}
    for extra, expected in (([], "0.524"), (["--pixscale", "0.3"], "0.3")):
        run = run_cli("predict", "--checkpoint", checkpoint, "--ra", "150.1", "--dec", "2.2", *extra, env=env)
        assert run.returncode == 0, run.stderr
        assert sky.requests[-1]["query"]["pixscale"] == expected


def test_the_client_can_ask_for_fits_and_stretches_the_bands_as_galaxy10_did(sky, tmp_path, tiny_checkpoints):
    from galaxy_core.data.fits import write_fits
    from galaxy_core.data.stretch import legacy_rgb
    from galaxy_core.data.synthetic.observe import render_bands

    bands = render_bands(5, seed=0, index=1).bands
    write_fits(tmp_path / "cutout.fits", bands)
    sky.fits = (tmp_path / "cutout.fits").read_bytes()
    client = CutoutClient(sky.url, cache=tmp_path / "cutouts", timeout_s=1.0, retries=1, backoff_s=0.05, fmt="fits")
    got = client.fetch(150.1, 2.2)
    assert sky.requests[-1]["path"] == "/viewer/cutout.fits" and sky.requests[-1]["query"]["bands"] == "grz"
    np.testing.assert_array_equal(got.image.pixels, legacy_rgb(bands))
    assert client.fetch(150.1, 2.2).from_cache and len(sky.requests) == 1
    done = run_cli("predict", "--checkpoint", tiny_checkpoints / "cnn", "--ra", "150.2", "--dec", "2.2", "--cutout-url", sky.url,
                   "--cutout-format", "fits", "--json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)["predictions"][0]
    assert "/viewer/cutout.fits?" in row["url"] and "FITS" in row["notes"][0]
    with pytest.raises(CutoutError, match="Unknown cutout format"):
        CutoutClient(sky.url, fmt="png")
