"""Sky cutouts from the Legacy Surveys viewer: the images Galaxy10 DECaLS was cut from, for any RA/Dec.

One client for the CLI, the dashboard and the API. It is polite and robust: an on-disk cache keyed by
the full request URL, at most `max_concurrent` requests at once (per process), a timeout per request,
retries with exponential backoff on timeouts, connection errors, 429 (honouring Retry-After) and
5xx, and a User-Agent naming the project. A 404, bytes that are not an image and a blank cutout (a
position outside the survey footprint) each get one sentence.

The defaults match Galaxy10 DECaLS: grz colours (`ls-dr10-grz`), 0.262"/pixel (the DECam pixel),
256 x 256 pixels.
"""
from __future__ import annotations

import hashlib
import http.client
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import galaxy_core
from galaxy_core.data.images import MAX_BYTES, DecodedImage, load_image
from galaxy_core.errors import UserError
from galaxy_core.fileio import write_bytes_atomic
from galaxy_core.settings import cache_dir

DEFAULT_CUTOUT_URL = "https://www.legacysurvey.org/viewer/cutout.jpg"
FORMATS = ("jpg", "fits")  # the service's cutout.jpg and cutout.fits: the same cutout as a picture, or as g, r, z fluxes
CUTOUT_URL_ENV = "GALAXY_CUTOUT_URL"
DEFAULT_LAYER, DEFAULT_PIXSCALE, DEFAULT_SIZE = "ls-dr10-grz", 0.262, 256
USER_AGENT = f"galaxy_core/{galaxy_core.__version__} (Galaxy10 DECaLS workbench; one cutout per galaxy, cached)"
MAX_RETRY_AFTER_S = 60.0
ACCEPT = {"jpg": "image/jpeg,image/*", "fits": "application/fits,image/fits,*/*"}
_SLOTS: dict[int, threading.BoundedSemaphore] = {}
_SLOTS_LOCK = threading.Lock()


class CutoutError(UserError):
    """A cutout that cannot be had: the position, the service or the bytes; one sentence."""


def check_position(ra, dec) -> tuple[float, float]:
    """RA in [0, 360) and Dec in [-90, 90] degrees, as floats, or one sentence."""
    try:
        ra, dec = float(ra), float(dec)
    except (TypeError, ValueError):
        raise CutoutError(f"RA {ra!r} and Dec {dec!r} must be numbers in degrees.") from None
    if not (math.isfinite(ra) and 0.0 <= ra < 360.0):
        raise CutoutError(f"RA {ra:g} is outside [0, 360) degrees: give RA in decimal degrees.")
    if not (math.isfinite(dec) and -90.0 <= dec <= 90.0):
        raise CutoutError(f"Dec {dec:g} is outside [-90, 90] degrees: give Dec in decimal degrees.")
    return ra, dec


def training_pixscale(metas: list[dict], remedy: str = "choose one with --pixscale") -> float:
    """The pixel scale to fetch cutouts at for these checkpoints: the one their training data was at
    (meta.json's `data.pxscale`), else the DECam pixel. Models trained at different scales need an explicit one."""
    recorded = {round(float(scale), 4) for meta in metas
                if isinstance(scale := (meta.get("data") or {}).get("pxscale"), (int, float)) and 0.01 <= scale <= 10.0}
    if len(recorded) > 1:
        scales = ", ".join(f'{scale:g}"' for scale in sorted(recorded))
        raise CutoutError(f"These models were trained at different pixel scales ({scales} per pixel): {remedy}.")
    return recorded.pop() if recorded else DEFAULT_PIXSCALE


@dataclass(frozen=True)
class Cutout:
    ra: float
    dec: float
    url: str
    image: DecodedImage  # 256 x 256 RGB, as the models take it
    from_cache: bool


class CutoutClient:
    def __init__(self, base_url: str | None = None, layer: str = DEFAULT_LAYER, pixscale: float = DEFAULT_PIXSCALE,
                 size: int = DEFAULT_SIZE, cache: Path | None = None, max_concurrent: int = 4, timeout_s: float = 20.0,
                 retries: int = 4, backoff_s: float = 0.5, fmt: str = "jpg"):
        """`fmt` "fits" asks for the g, r, z flux planes (cutout.fits, bands=grz), which get the Legacy Surveys stretch
        here (data/fits.py); "jpg" for the service's own picture."""
        if fmt not in FORMATS:
            raise CutoutError(f"Unknown cutout format {fmt!r}: use one of {', '.join(FORMATS)}.")
        self.format = fmt
        self.base_url = base_url or os.environ.get(CUTOUT_URL_ENV) or DEFAULT_CUTOUT_URL
        if fmt == "fits" and self.base_url.endswith("/cutout.jpg"):
            self.base_url = self.base_url.removesuffix(".jpg") + ".fits"
        if urllib.parse.urlsplit(self.base_url).scheme not in ("http", "https"):
            raise CutoutError(f"The cutout URL {self.base_url[:80]!r} is not an http(s) URL: fix --cutout-url or ${CUTOUT_URL_ENV}.")
        if not (0.01 <= pixscale <= 10.0) or not (16 <= size <= 3000):
            raise CutoutError("The pixel scale must be 0.01-10 arcsec/pixel and the size 16-3000 pixels.")
        self.layer, self.pixscale, self.size = layer, float(pixscale), int(size)
        self.cache = cache if cache is not None else cache_dir() / "cutouts"
        self.timeout, self.retries, self.backoff = timeout_s, retries, backoff_s
        with _SLOTS_LOCK:  # one limit per process and setting, whatever the number of clients
            self._slots = _SLOTS.setdefault(max_concurrent, threading.BoundedSemaphore(max_concurrent))

    def url(self, ra: float, dec: float) -> str:
        query = urllib.parse.urlencode({"ra": f"{ra:.6f}", "dec": f"{dec:.6f}", "layer": self.layer, "pixscale": f"{self.pixscale:g}",
                                        "size": self.size, **({"bands": "grz"} if self.format == "fits" else {})})
        return f"{self.base_url}?{query}"

    def _cache_path(self, url: str) -> Path:
        key = hashlib.sha256(url.encode()).hexdigest()
        return self.cache / key[:2] / f"{key}.{self.format}"

    def fetch(self, ra, dec) -> Cutout:
        ra, dec = check_position(ra, dec)
        url = self.url(ra, dec)
        cached = self._cache_path(url)
        if cached.is_file():
            return Cutout(ra, dec, url, self._decode(cached.read_bytes(), ra, dec), True)
        data = self._download(url, ra, dec)
        image = self._decode(data, ra, dec)  # only a usable cutout is cached
        write_bytes_atomic(cached, data)
        return Cutout(ra, dec, url, image, False)

    def _download(self, url: str, ra: float, dec: float) -> bytes:
        where = f"RA {ra:.5f}, Dec {dec:.5f}"
        last = "no answer"
        for attempt in range(self.retries + 1):
            wait = self.backoff * 2**attempt
            try:
                with self._slots:
                    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": ACCEPT[self.format]})
                    with urllib.request.urlopen(request, timeout=self.timeout) as response:
                        data = response.read(MAX_BYTES + 1)
                if len(data) > MAX_BYTES:
                    raise CutoutError(f"The cutout service sent more than {MAX_BYTES // 2**20} MB for {where}: ask for a smaller --size.")
                return data
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    raise CutoutError(f"The cutout service has no image for {where} (404): check the position and the layer.") from None
                if exc.code != 429 and exc.code < 500:
                    raise CutoutError(f"The cutout service refused {where} ({exc.code} {exc.reason}): check --cutout-url and the options.") from None
                last = f"{exc.code} {exc.reason}"
                if exc.code == 429:
                    wait = max(wait, _retry_after(exc.headers.get("Retry-After")))
            except (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError) as exc:
                last = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in str(exc) else "no connection"
            if attempt < self.retries:
                time.sleep(wait)
        raise CutoutError(f"The cutout service did not deliver {where} after {self.retries + 1} tries (last: {last}): "
                          "check the network or try again later.")

    def _decode(self, data: bytes, ra: float, dec: float) -> DecodedImage:
        where = f"RA {ra:.5f}, Dec {dec:.5f}"
        try:
            image = load_image(data, name=f"the cutout at {where}")
        except UserError:
            raise CutoutError(f"The cutout service sent something that is not an image for {where}: check --cutout-url.") from None
        if int(np.ptp(image.pixels)) <= 2:
            raise CutoutError(f"The cutout at {where} is blank: the position is outside the survey's footprint "
                              "(Legacy Surveys DR10 covers about 20,000 square degrees; check the position).")
        return image


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_S)
    except (TypeError, ValueError):
        return 1.0
