"""The HTTP service: `python -m galaxy_core serve`, a FastAPI application run by uvicorn.

It classifies through the same `Predictor`, image decoder and ensemble rules as the CLI and the
dashboard, and keeps no state between requests (replicas can sit behind any load balancer).
Requests name checkpoints by their folder name under the checkpoints root, never by path.
Every refusal is a 4xx with `{"error": "one sentence"}`; a busy server answers 503 with Retry-After.
"""
from __future__ import annotations

import asyncio
import base64
import hmac
import io
import os
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException

import galaxy_core
from galaxy_core.data.cutouts import (
    CutoutClient,
    CutoutError,
    check_position,
    training_pixscale,
)
from galaxy_core.data.images import MAX_BYTES, load_image
from galaxy_core.errors import UserError, one_sentence
from galaxy_core.evaluation.explain import explain_prediction, overlay
from galaxy_core.evaluation.metrics import check_set_interval
from galaxy_core.inference.default_answer import NoDefault, default_answer, read_default
from galaxy_core.inference.ensemble import RULES
from galaxy_core.inference.predictor import Predictor
from galaxy_core.models.checkpoint import find_checkpoints, load_checkpoint, read_meta
from galaxy_core.service.batching import Backlog, Batcher, Busy
from galaxy_core.settings import checkpoints_root, device_name, select_device

API_KEY_ENV = "GALAXY_API_KEY"
SETTINGS_ENV = "GALAXY_SERVE_"  # prefix: GALAXY_SERVE_MAX_BATCH=16 ... (how `serve --workers N` reaches each worker)
# The second study's routes: "Model Old" (B0), "Model New" (B2), and their agreement ensemble preferring B0.
MODEL_OLD, MODEL_NEW = "efficientnet_b0", "efficientnet_b2"
DEFAULT_HELP = ("checkpoint name, repeatable (default: the recorded default answer, checkpoints/default.json, as the command line "
                "and the pages take it; without one, the only checkpoint, else a 400 saying so)")
TTA_HELP = ("average each model's probabilities over the 8 rotations/flips of the image (8x the compute); default: as the "
            "recorded default answer does when no model is named, else off")


@dataclass(frozen=True)
class ServiceSettings:
    checkpoints: str = ""  # the checkpoints root ("" = settings.checkpoints_root())
    device: str = "auto"
    max_batch: int = 16  # images per forward pass
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for company
    max_queue: int = 256  # images waiting over the whole process before 503
    max_files: int = 16  # files per request
    max_request_mb: int = 0  # whole request body (0 = max_files x the per-image limit)
    cors_origins: str = ""  # comma-separated; empty = CORS off

    def to_env(self) -> dict:
        return {f"{SETTINGS_ENV}{k.upper()}": str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_env(cls) -> ServiceSettings:
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"{SETTINGS_ENV}{f.name.upper()}")
            if raw is not None:
                values[f.name] = type(getattr(cls, f.name))(raw) if not isinstance(getattr(cls, f.name), str) else raw
        return cls(**values)

    @property
    def request_limit(self) -> int:
        return self.max_request_mb * 2**20 if self.max_request_mb else self.max_files * MAX_BYTES + 2**20


class RequestError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class _Models:
    """Checkpoints loaded once per process and shared by every model set's Predictor and batcher."""

    def __init__(self, settings: ServiceSettings):
        self.root = Path(settings.checkpoints) if settings.checkpoints else checkpoints_root()
        self.device = select_device(settings.device)
        self.settings = settings
        self.backlog = Backlog(settings.max_queue)
        self.available = {folder.name: folder for folder in find_checkpoints(self.root)}
        self._loaded: dict[str, tuple] = {}
        self._batchers: dict[tuple, Batcher] = {}
        self._lock = threading.Lock()

    def _load(self, directory: str):
        name = Path(directory).name
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = load_checkpoint(self.available[name], self.device)
            return self._loaded[name]

    def resolve(self, names: list[str]) -> list[str]:
        """Checkpoint names as asked, each one found under the root, or a 404 naming what exists."""
        for name in names:
            if name not in self.available:
                shown = ", ".join(sorted(self.available)) or "none"
                raise RequestError(404, f"No model named {name[:60]!r} on this server: use one of {shown} (GET /models lists them).")
        return names

    def batcher(self, names: tuple[str, ...], rule: str | None, prefer: str | None = None, tta: bool = False) -> Batcher:
        key = (names, rule, prefer, tta)
        with self._lock:
            batcher = self._batchers.get(key)
        if batcher is None:
            predictor = Predictor([str(self.available[n]) for n in names], rule, device=str(self.device), load=self._load, prefer=prefer,
                                  tta=tta)
            with self._lock:
                batcher = self._batchers.setdefault(key, Batcher(predictor, self.backlog, self.settings.max_batch, self.settings.max_wait_ms))
        return batcher

    def default_route(self, ensemble: str | None = None, tta: bool | None = None) -> tuple[list[str], str | None, bool, bool]:
        """The models a request that names none gets: the default answer (`default_answer`, as the command line and the
        pages take it), with the request's ensemble rule and averaging where it gives them. (names, rule, tta, whether
        the answer is exactly the recorded default)"""
        try:
            choice = default_answer(self.root, self.available)
        except NoDefault:  # its message names the server's folder: a visitor gets the sentence without it
            raise UserError(f"This server holds {len(self.available)} models and no recorded default answer: name the model "
                            "with ?model=NAME (GET /models lists them), or record a default with scripts/choose_default.py.") from None
        rule = ensemble or choice.rule
        tta = choice.tta if tta is None else tta
        return [Path(c).name for c in choice.checkpoints], rule, tta, choice.is_exactly(choice.checkpoints, rule, tta)

    def health(self) -> dict:
        """What /health reports: the version, the device, the models available and loaded, the queue and the batches run."""
        with self._lock:
            batchers = list(self._batchers.items())
            loaded = sorted(self._loaded)
        return {"status": "ok", "version": galaxy_core.__version__, "device": device_name(self.device), "torch": torch.__version__,
                "models_available": sorted(self.available), "models_loaded": loaded, "waiting_images": self.backlog.waiting,
                "batches": {" + ".join(names) + (f" ({rule})" if rule else "") + (" (tta)" if tta else ""):
                            {"forward_passes": b.batches_run, "images": b.images_run} for (names, rule, _, tta), b in batchers}}

    def check(self, names: list[str], rule: str | None) -> None:
        if rule is not None and rule not in RULES:
            raise RequestError(422, f"Unknown ensemble rule {rule[:30]!r}: use one of {', '.join(RULES)}.")
        if len(names) > 1 and rule is None:
            raise RequestError(422, f"Several models need an ensemble rule: add ensemble={'|'.join(RULES)}.")
        if len(names) == 1 and rule is not None:
            raise RequestError(422, "An ensemble needs at least two models: repeat model=NAME, or leave out ensemble.")
        if len(set(names)) != len(names):
            raise RequestError(422, "A model is named twice: name each model once.")
        self.resolve(names)

    async def classify_decoded(self, decoded: list, names: list[str], rule: str | None, with_gradcam: bool = False,
                               prefer: str | None = None, tta: bool = False) -> list[dict]:
        """Classify (label, DecodedImage) pairs; each result names its `file` and the decoder's notes."""
        batcher = await asyncio.to_thread(self.batcher, tuple(names), rule, prefer, tta)  # the first use loads the checkpoints
        results = await batcher.predict(np.stack([d.pixels for _, d in decoded]))
        for (filename, image), result in zip(decoded, results):
            result["file"] = filename
            result["notes"] = image.notes
            if with_gradcam:
                result["gradcam_png"] = await _gradcam_png(batcher.predictor, image.pixels, result)
        return results

    async def classify(self, files: list[UploadFile], names: list[str], rule: str | None, with_gradcam: bool = False,
                       prefer: str | None = None, tta: bool = False) -> list[dict]:
        if not files:
            raise RequestError(422, "Send at least one image as multipart form data in a field named 'file'.")
        if len(files) > self.settings.max_files:
            raise RequestError(413, f"{len(files)} files in one request; at most {self.settings.max_files} are accepted: split the request.")
        self.check(names, rule)
        decoded = []
        for upload in files:
            data = await upload.read(MAX_BYTES + 1)
            await upload.close()
            decoded.append((upload.filename or "image", load_image(data, name=(upload.filename or "the image")[:80])))
            del data
        return await self.classify_decoded(decoded, names, rule, with_gradcam, prefer, tta)

    def describe(self) -> list[dict]:
        described = []
        for name, folder in sorted(self.available.items()):
            try:
                meta = read_meta(folder)
            except UserError as exc:
                described.append({"name": name, "error": one_sentence(exc)})
                continue
            data, metrics = meta.get("data") or {}, meta.get("metrics") or {}
            real = metrics.get("real_sample") or {}
            described.append({
                "name": name, "model": meta["model"], "classes": meta["classes"], "input_size": meta["preprocessing"]["input_size"],
                "trained_on": {"synthetic": data.get("synthetic"), "images": data.get("count"), "fingerprint": data.get("fingerprint")},
                "synthetic_test": {k: metrics.get("test", {}).get(k) for k in ("accuracy", "macro_f1", "cross_entropy")},
                "real_check_set_accuracy": real.get("accuracy"),
                # 60 images: the 95% interval is about ±12 points wide, so say it beside the figure
                "real_check_set_interval": list(interval) if (interval := check_set_interval(real)) else None,
                # fine-tuned on the check set: the figure is a cross-validated estimate (meta.json says how)
                "real_check_set_cross_validated": bool(real.get("cross_validated")),
                "loaded": name in self._loaded,
            })
        return described


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The application: the guard (key, size), one-sentence errors, the information routes and the classifying routes."""
    settings = settings or ServiceSettings.from_env()
    models = _Models(settings)
    app = FastAPI(title="Galaxy10 DECaLS classifier", version=galaxy_core.__version__,
                  description="Galaxy morphology (Galaxy10 DECaLS classes) from JPEG, PNG or FITS cutouts: one model or an ensemble.")
    app.state.models = models
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
                           allow_methods=["GET", "POST"], allow_headers=["X-API-Key", "Content-Type"])
    _add_guard(app, settings)
    _add_error_handlers(app)
    _add_information_routes(app, models)
    _add_classifying_routes(app, models)
    return app


def _add_guard(app: FastAPI, settings: ServiceSettings) -> None:
    @app.middleware("http")
    async def guard(request: Request, call_next):
        """API key and request size, before any byte of the body is read."""
        expected = os.environ.get(API_KEY_ENV)
        if expected and request.url.path not in ("/docs", "/openapi.json", "/health"):
            given = request.headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return _error(401, "A valid X-API-Key header is required: ask the operator for the key.")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.request_limit):
            return _error(413, f"The request is larger than {settings.request_limit // 2**20} MB: send fewer or smaller images.")
        if request.method == "POST" and length is None:
            return _error(411, "Send a Content-Length header (a streamed body without one is not accepted).")
        return await call_next(request)


def _add_error_handlers(app: FastAPI) -> None:
    """Every failure is one sentence in {"error": ...}, with the status that says whose it is."""
    @app.exception_handler(RequestError)
    async def request_error(request, exc: RequestError):
        return _error(exc.status, str(exc), exc.headers)

    @app.exception_handler(UserError)
    async def user_error(request, exc: UserError):
        return _error(400, one_sentence(exc))

    @app.exception_handler(Busy)
    async def busy(request, exc: Busy):
        return _error(503, str(exc), {"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        if first.get("type") == "missing" and where == "file":
            return _error(422, "Send the image as multipart form data in a field named 'file'.")
        return _error(422, f"Invalid {where or 'request'}: {first.get('msg', 'not understood')}.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):
        if exc.status_code in (404, 405):
            return _error(exc.status_code, f"There is no {request.method} {request.url.path[:60]} here: see /docs for the routes.")
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request, exc: Exception):  # a bug: no traceback leaves the server
        return _error(500, "The server failed on this request: report it to the operator.")


def _add_information_routes(app: FastAPI, models: _Models) -> None:
    @app.get("/health")
    def health() -> dict:
        return models.health()

    @app.get("/models")
    def list_models() -> dict:
        try:
            names, rule, tta, recorded = models.default_route()
        except UserError as exc:  # several models and none recorded: listed, and the default said to be missing
            return {"models": models.describe(), "ensemble_rules": list(RULES),
                    "default": {"models": [], "ensemble": None, "tta": False, "recorded": False, "measured": None, "missing": one_sentence(exc)}}
        return {"models": models.describe(), "ensemble_rules": list(RULES),
                "default": {"models": names, "ensemble": rule, "tta": tta, "recorded": recorded,
                            "measured": read_default(models.root).measured if recorded else None}}


def _add_classifying_routes(app: FastAPI, models: _Models) -> None:
    @app.post("/predict", summary="Classify one or several images with a model or an ensemble")
    async def predict(file: list[UploadFile] = File(..., description="one or several JPEG, PNG or FITS images"),
                      model: list[str] = Query(default=[], description=DEFAULT_HELP),
                      ensemble: str | None = Query(default=None, description="agreement, soft or f1_weighted"),
                      gradcam: bool = Query(default=False, description="add a Grad-CAM overlay per image, base64 PNG"),
                      tta: bool | None = Query(default=None, description=TTA_HELP)) -> dict:
        names, rule, tta, by_default = (model, ensemble, bool(tta), False) if model else models.default_route(ensemble, tta)
        results = await models.classify(file, names, rule, gradcam, tta=tta)
        return {"model": names if len(names) > 1 else names[0], "ensemble": rule, "default": by_default, "predictions": results}

    async def study_route(file: list[UploadFile], names: list[str], rule: str | None) -> dict:
        if len(file) != 1:
            raise RequestError(422, "This route classifies one image per request: send exactly one 'file', or use /predict for several.")
        result = (await models.classify(file, names, rule, prefer=MODEL_OLD if rule else None))[0]
        return {**result, "model": names if len(names) > 1 else names[0]}

    @app.post("/predict1", summary="The second study's 'Model Old': EfficientNet-B0")
    async def predict1(file: list[UploadFile] = File(...)) -> dict:
        return await study_route(file, [MODEL_OLD], None)

    @app.post("/predict2", summary="The second study's ensemble: agreement of B0 and B2, B0 preferred when they disagree")
    async def predict2(file: list[UploadFile] = File(...)) -> dict:
        return await study_route(file, [MODEL_OLD, MODEL_NEW], "agreement")

    @app.get("/predict/sky", summary="Classify the Legacy Surveys cutout at a sky position (grz, 256 px, at the models' training pixel scale)")
    async def predict_sky(ra: float = Query(..., description="right ascension in degrees, [0, 360)"),
                          dec: float = Query(..., description="declination in degrees, [-90, 90]"),
                          model: list[str] = Query(default=[], description=DEFAULT_HELP),
                          ensemble: str | None = Query(default=None, description="agreement, soft or f1_weighted"),
                          gradcam: bool = Query(default=False, description="add a Grad-CAM overlay, base64 PNG"),
                          tta: bool | None = Query(default=None, description=TTA_HELP)) -> dict:
        names, ensemble, tta, by_default = (model, ensemble, bool(tta), False) if model else models.default_route(ensemble, tta)
        try:
            ra, dec = check_position(ra, dec)
        except CutoutError as exc:
            raise RequestError(422, str(exc)) from None
        models.check(names, rule=ensemble)
        metas = [read_meta(Path(models.available[name])) for name in names]
        client = CutoutClient(pixscale=training_pixscale(metas, "name models trained at one scale"), timeout_s=15, retries=2)
        try:  # the cutout service is another server: its failures are a bad gateway, not a bad request
            cutout = await asyncio.to_thread(client.fetch, ra, dec)
        except CutoutError as exc:
            raise RequestError(502, str(exc)) from None
        result = (await models.classify_decoded([(f"RA {ra:.5f}, Dec {dec:.5f}", cutout.image)], names, ensemble, gradcam, tta=tta))[0]
        return {**result, "model": names if len(names) > 1 else names[0], "ensemble": ensemble, "default": by_default, "ra": ra, "dec": dec,
                "url": cutout.url}


async def _gradcam_png(predictor: Predictor, pixels: np.ndarray, result: dict) -> str:
    """The explanation of the answer (each model's family default; an ensemble's map weighs its members as its rule
    does), as base64 PNG."""
    def draw() -> str:
        explained = explain_prediction(predictor, pixels[None], [result])[0]
        buffer = io.BytesIO()
        Image.fromarray(overlay(pixels, explained.combined, 0.45)).save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()

    return await asyncio.to_thread(draw)


def app_from_env() -> FastAPI:
    """uvicorn's factory for `serve --workers N`: each worker process builds its app from GALAXY_SERVE_*."""
    return create_app(ServiceSettings.from_env())
