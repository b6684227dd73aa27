"""The HTTP API of `mnistgen serve`: a Starlette app over one shared Generator.

Every refusal is a 4xx with a JSON body ``{"error": MESSAGE, "status": CODE}``; MESSAGE is the
one the CLI and the Python API give for the same mistake, because the values go through the
same checks in mnistgen.limits. Requests name digits, counts, seeds and formats, never a file:
the model is chosen when the server starts, and nothing is served from disk.
"""
from __future__ import annotations

import contextlib
import io
import logging
import zipfile
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mnistgen.generator import Generator
from mnistgen.limits import (
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_STEPS,
    MAX_COUNT,
    MAX_STEPS,
    MIN_STEPS,
    InputError,
    ModelError,
    VerificationError,
    check_count,
    check_digit,
    check_min_confidence,
    check_number,
    check_number_count,
    check_seed,
    check_steps,
)
from mnistgen.outputs import Artifact, named_outputs
from mnistgen.serve_pool import InferencePool, Overloaded

DIGIT_FORMATS = ("png", "zip", "npy", "gif")
SEQUENCE_FORMATS = ("png", "npy", "gif")
MAX_BODY_BYTES = 1024
"""No endpoint takes a body; anything larger is refused before routing (413)."""
RETRY_AFTER_S = 1
MEDIA_TYPES = {"png": "image/png", "gif": "image/gif", "npy": "application/octet-stream", "zip": "application/zip"}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the same request gives the same bytes
ENDPOINTS = ("/v1/digits/{digits}", "/v1/morph/{digit}/{to}", "/v1/walk/{digit}", "/v1/info", "/healthz",
             "/openapi.json")

log = logging.getLogger("mnistgen.serve")


@dataclass(frozen=True)
class ServeLimits:
    """What one server accepts; `mnistgen serve` options set these."""

    workers: int
    queue: int
    max_images: int  # per request: count x digits, or frames
    cors_origins: tuple[str, ...] = ()


class TooLarge(Exception):
    """The request asks for more images than this server returns at once (413)."""


@dataclass(frozen=True)
class Payload:
    body: bytes
    format: str
    filename: str  # what the CLI would name the file

    def response(self) -> Response:
        headers = {"Content-Disposition": f'inline; filename="{self.filename}"'}
        return Response(self.body, media_type=MEDIA_TYPES[self.format], headers=headers)


# --- query strings: only the parameters an endpoint takes, each at most once -----------------


class Query:
    def __init__(self, request: Request, accepted: tuple[str, ...]):
        items = request.query_params.multi_items()
        seen: set[str] = set()
        for key, _ in items:
            if key not in accepted:
                raise InputError(f"unknown query parameter {key!r}; {request.url.path} accepts {', '.join(accepted)}")
            if key in seen:
                raise InputError(f"query parameter {key!r} given more than once; give it once")
            seen.add(key)
        self._values = dict(items)

    def given(self, name: str) -> bool:
        return name in self._values

    def integer(self, name: str) -> object:
        """The value as an int when it spells one, else the text itself, which the limits check
        then refuses with its own message (e.g. "seed must be a non-negative integer ..., got 'x'")."""
        text = self._values.get(name)
        if text is None:
            return None
        stripped = text.strip()
        body = stripped[1:] if stripped[:1] in "+-" else stripped
        return int(stripped) if body.isascii() and body.isdigit() and len(body) <= 100 else text

    def number(self, name: str) -> object:
        text = self._values.get(name)
        if text is None:
            return None
        try:
            return float(text)
        except ValueError:
            return text

    def flag(self, name: str) -> bool:
        text = self._values.get(name)
        if text is None:
            return False
        if text.lower() in ("true", "1"):
            return True
        if text.lower() in ("false", "0"):
            return False
        raise InputError(f"{name} must be true or false, got {text!r}")

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self._values.get(name, default)
        if value not in choices:
            raise InputError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value


# --- the endpoints ---------------------------------------------------------------------------


class Api:
    """The route handlers, over one Generator and one pool."""

    def __init__(self, generator: Generator, pool: InferencePool, limits: ServeLimits, info: dict[str, Any]):
        self.generator, self.pool, self.limits, self.info_report = generator, pool, limits, info

    def _check_size(self, images: int, what: str) -> None:
        if images > self.limits.max_images:
            raise TooLarge(
                f"{what} = {images} images; this server returns at most {self.limits.max_images} "
                f"per request (mnistgen serve --max-images)"
            )

    async def digits(self, request: Request) -> Response:
        query = Query(request, ("count", "seed", "format", "grid", "verify", "min_confidence"))
        # checked in the CLI's order (mnistgen.cli.build_request), so the first mistake is named
        digits = check_number(request.path_params["digits"])
        verify, grid = query.flag("verify"), query.flag("grid")
        if verify and len(digits) != 1:
            raise InputError("verify works with a single digit 0-9")
        if query.given("min_confidence") and not verify:
            raise InputError("min_confidence applies only with verify=true")
        format = query.choice("format", DIGIT_FORMATS, "png")
        if grid and format != "png":
            raise InputError("grid applies only to format png (zip, npy and gif hold every sample)")
        raw_count = query.integer("count")
        count = 1 if raw_count is None else (
            check_count(raw_count) if len(digits) == 1 else check_number_count(raw_count, len(digits)))
        seed = check_seed(query.integer("seed"))
        min_confidence = check_min_confidence(
            DEFAULT_MIN_CONFIDENCE if not query.given("min_confidence") else query.number("min_confidence"))
        self._check_size(count * len(digits), f"count x digits = {count} x {len(digits)}")
        if format == "png" and count > 1 and not grid:
            raise InputError("format png returns one image: add grid=true, use count=1, or format zip, npy or gif")

        def job() -> Payload:
            if len(digits) > 1:
                pictures = self.generator.number(digits, count, seed)
            else:
                pictures = self.generator.generate(int(digits), count, seed, verify=verify,
                                                   min_confidence=min_confidence)
            return _payload(pictures, digits, format, grid=grid)

        return (await self.pool.run(job)).response()

    async def morph(self, request: Request) -> Response:
        query = Query(request, ("steps", "seed", "format"))
        digit = check_digit(_path_int(request, "digit"))
        to = check_digit(_path_int(request, "to"))
        steps, seed, format = self._sequence_options(query)
        return await self._sequence(lambda: self.generator.morph(digit, to, steps, seed), f"{digit}_to_{to}", format)

    async def walk(self, request: Request) -> Response:
        query = Query(request, ("steps", "seed", "format"))
        digit = check_digit(_path_int(request, "digit"))
        steps, seed, format = self._sequence_options(query)
        return await self._sequence(lambda: self.generator.style_walk(digit, steps, seed), f"{digit}_walk", format)

    def _sequence_options(self, query: Query) -> tuple[int, Optional[int], str]:
        steps = check_steps(DEFAULT_STEPS if not query.given("steps") else query.integer("steps"))
        seed = check_seed(query.integer("seed"))
        format = query.choice("format", SEQUENCE_FORMATS, "png")
        self._check_size(steps, "steps")
        return steps, seed, format

    async def _sequence(self, frames: Callable[[], np.ndarray], stem: str, format: str) -> Response:
        def job() -> Payload:
            return _payload(frames(), stem, format, sequence=True)  # png: one strip, as the CLI writes it

        return (await self.pool.run(job)).response()

    async def info(self, request: Request) -> Response:
        Query(request, ())
        return JSONResponse(self.info_report)

    async def health(self, request: Request) -> Response:
        Query(request, ())
        load = self.pool.load
        return JSONResponse({"status": "ok", "running": load.running, "waiting": load.waiting})

    async def openapi(self, request: Request) -> Response:
        Query(request, ())
        return JSONResponse(openapi_document(self.limits))


def _path_int(request: Request, name: str) -> object:
    text = request.path_params[name]
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 100 else text


def _payload(pictures: np.ndarray, stem: str, format: str, *, sequence: bool = False, grid: bool = False) -> Payload:
    """The response body, named and encoded as `mnistgen DIGIT --out DIR` writes its files
    (mnistgen.outputs.named_outputs); zip holds the CLI's separate PNGs, and png without a grid is the
    first sample (the query check allows it for one sample only)."""
    if format == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
            for item in named_outputs(pictures, stem, "png"):
                archive.writestr(zipfile.ZipInfo(item.name, ZIP_DATE), _encoded(item))
        return Payload(buffer.getvalue(), "zip", f"{stem}.zip")
    first = named_outputs(pictures, stem, format, sequence=sequence, grid=grid)[0]
    return Payload(_encoded(first), format, first.name)


def _encoded(item: Artifact) -> bytes:
    buffer = io.BytesIO()
    item.write(buffer)
    return buffer.getvalue()


# --- errors: a status and the one-line message, as JSON -------------------------------------


def error_response(status: int, message: str, headers: Optional[dict[str, str]] = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split()), "status": status}, status_code=status, headers=headers)


def _handler(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(_request: Request, exc: Exception) -> Response:
        return error_response(status, str(exc))
    return handle


async def _overloaded(_request: Request, exc: Exception) -> Response:
    return error_response(503, str(exc), {"Retry-After": str(RETRY_AFTER_S)})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"unknown path {request.url.path!r}; the endpoints are {', '.join(ENDPOINTS)}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}; use GET"
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, message, dict(exc.headers or {}))


async def _internal(_request: Request, exc: Exception) -> Response:
    # a bug, not a bad request: the traceback goes to the server's log, never to the client
    log.error("internal error", exc_info=exc)
    return error_response(500, "internal error; the server log has the details")


class BodyLimit:
    """Refuse request bodies over MAX_BODY_BYTES (413) and bodies of unknown length (411)
    before any route sees them: the server never buffers more than that from a client."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                response = error_response(411, "request bodies must declare a Content-Length (chunked bodies are refused)")
                return await response(scope, receive, send)
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                response = error_response(
                    413, f"request body of {length.decode(errors='replace')} bytes; at most {MAX_BODY_BYTES} accepted "
                         "(no endpoint takes a body)")
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def create_app(generator: Generator, limits: ServeLimits, info: dict[str, Any]) -> Starlette:
    """The ASGI app. ``info`` is what `mnistgen --info` reports for ``generator``'s model."""
    pool = InferencePool(limits.workers, limits.queue)
    report = {**info, "server": {"max_images_per_request": limits.max_images, "workers": limits.workers,
                                 "queue": limits.queue, "formats": {"digits": list(DIGIT_FORMATS),
                                                                    "morph": list(SEQUENCE_FORMATS),
                                                                    "walk": list(SEQUENCE_FORMATS)}}}
    api = Api(generator, pool, limits, report)
    routes = [
        Route("/v1/digits/{digits}", api.digits, methods=["GET"]),
        Route("/v1/morph/{digit}/{to}", api.morph, methods=["GET"]),
        Route("/v1/walk/{digit}", api.walk, methods=["GET"]),
        Route("/v1/info", api.info, methods=["GET"]),
        Route("/healthz", api.health, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
    ]
    middleware = [Middleware(BodyLimit)]
    if limits.cors_origins:  # off unless asked for: browsers then refuse other sites' pages
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(limits.cors_origins), allow_methods=["GET"]))
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        InputError: _handler(400), ModelError: _handler(400), TooLarge: _handler(413),
        VerificationError: _handler(422), Overloaded: _overloaded, HTTPException: _http_error,
        Exception: _internal,
    }

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        pool.close()  # uvicorn has let the requests in flight finish; now their threads end

    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)


# --- the OpenAPI description ------------------------------------------------------------------


def _param(name: str, where: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": text}


def openapi_document(limits: ServeLimits) -> dict[str, Any]:
    seed = _param("seed", "query", {"type": "integer", "minimum": 0}, "Same seed, same pixels; omitted: fresh randomness.")
    steps = _param("steps", "query", {"type": "integer", "minimum": MIN_STEPS, "maximum": MAX_STEPS,
                                      "default": DEFAULT_STEPS}, "Frames.")
    digit = _param("digit", "path", {"type": "integer", "minimum": 0, "maximum": 9}, "A digit 0-9.")
    errors = {str(code): {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
              for code, text in ((400, "bad parameter; the message says what is accepted"),
                                 (413, f"more than {limits.max_images} images"), (503, "busy; see Retry-After"))}

    def images(summary: str, parameters: list[dict[str, Any]], formats: tuple[str, ...]) -> dict[str, Any]:
        content = {MEDIA_TYPES[f]: {} for f in formats}
        return {"get": {"summary": summary, "parameters": parameters,
                        "responses": {"200": {"description": "the images", "content": content}, **errors}}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "mnistgen", "version": "1"},
        "paths": {
            "/v1/digits/{digits}": images("Samples of one digit, or numbers written in one hand", [
                _param("digits", "path", {"type": "string", "pattern": "^[0-9]{1,32}$"}, "A digit, or a number of up to 32 digits."),
                _param("count", "query", {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "default": 1},
                       f"Samples; count x digits at most {limits.max_images} on this server."),
                seed,
                _param("format", "query", {"enum": list(DIGIT_FORMATS), "default": "png"},
                       "png: one image (count 1, or grid=true); zip: one PNG per sample; npy: uint8 (count, 28, W); gif."),
                _param("grid", "query", {"type": "boolean", "default": False}, "With png: all samples in one grid."),
                _param("verify", "query", {"type": "boolean", "default": False}, "Keep only samples the classifier recognises (one digit)."),
                _param("min_confidence", "query", {"type": "number", "minimum": 0, "maximum": 1,
                                                   "default": DEFAULT_MIN_CONFIDENCE}, "With verify."),
            ], DIGIT_FORMATS),
            "/v1/morph/{digit}/{to}": images("One sample morphing from one digit into another", [
                digit, _param("to", "path", {"type": "integer", "minimum": 0, "maximum": 9}, "The digit it becomes."),
                steps, seed, _param("format", "query", {"enum": list(SEQUENCE_FORMATS), "default": "png"}, "png: one strip."),
            ], SEQUENCE_FORMATS),
            "/v1/walk/{digit}": images("One digit drifting through handwriting styles", [
                digit, steps, seed, _param("format", "query", {"enum": list(SEQUENCE_FORMATS), "default": "png"}, "png: one strip."),
            ], SEQUENCE_FORMATS),
            "/v1/info": {"get": {"summary": "The model's metadata and capabilities (as mnistgen --info) and this server's limits",
                                 "responses": {"200": {"description": "JSON"}}}},
            "/healthz": {"get": {"summary": "Liveness, and the requests running and waiting",
                                 "responses": {"200": {"description": "JSON"}}}},
        },
        "components": {"schemas": {"Error": {"type": "object", "properties": {
            "error": {"type": "string"}, "status": {"type": "integer"}}}}},
    }
