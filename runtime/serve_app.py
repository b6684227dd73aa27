"""The HTTP API of `mnistgen serve`: a Starlette app over one shared Generator.

Every refusal is a 4xx with a JSON body ``{"error": MESSAGE, "status": CODE}``; MESSAGE is the
one the CLI and the Python API give for the same mistake, because the values go through the
same checks in mnistgen.limits. Requests name digits, counts, seeds and formats, never a file:
the model is chosen when the server starts, and nothing is served from disk; the files it opened
are named, never where they lie on its disk (FileNames). The one body taken
is a picture POSTed to write in its hand (`mnistgen DIGITS --like PICTURE`); the hands read are
kept in memory, by the picture's sha256, so a picture sent again costs no reading.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Optional

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mnistgen.generator import Generator
from mnistgen.handwriting import Hand, Wording
from mnistgen.prepare import ACCEPTED, MAX_PICTURE_BYTES
from mnistgen.limits import (
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_SPREAD,
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
    check_spread,
    check_steps,
)
from mnistgen.outputs import Artifact, named_outputs
from mnistgen.serve_pool import InferencePool, Overloaded

DIGIT_FORMATS = ("png", "zip", "npy", "gif")
SEQUENCE_FORMATS = ("png", "npy", "gif")
MAX_BODY_BYTES = 1024
"""Only a POST takes a body; a GET's larger than this is refused before routing (413)."""
BODY_TIMEOUT_S = 30
"""How long a POSTed picture may take to arrive, by default (ServeLimits.body_timeout_s)."""
PICTURE_BUDGET_BYTES = 256 * 1024 * 1024
"""The POSTed pictures held at once (received, waiting or being read) declare at most this many
bytes in all: 16 of the largest, thousands of drawings."""
STYLE = ("stroke_width", "slant", "legibility")
"""Query parameters of every drawing endpoint: mnistgen.style's controls, by the API's names."""
PICTURE = Wording(picture="the request body", takes="the body must be", say_digit="the query parameter like_digit=D")
"""Refusals of a POSTed picture name the body and the query parameter, not the CLI's options."""
RETRY_AFTER_S = 1
MEDIA_TYPES = {"png": "image/png", "gif": "image/gif", "npy": "application/octet-stream", "zip": "application/zip"}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the same request gives the same bytes
HAND_HEADERS = ("X-Mnistgen-Hand-Digit", "X-Mnistgen-Hand-Confidence")
"""The digit a POSTed picture was read as, and the classifier's probability for it."""
ENDPOINTS = ("/v1/digits/{digits}", "/v1/morph/{digit}/{to}", "/v1/walk/{digit}", "/v1/info", "/healthz",
             "/openapi.json")

log = logging.getLogger("mnistgen.serve")
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class ServeLimits:
    """What one server accepts; `mnistgen serve` options set these."""

    workers: int
    queue: int
    max_images: int  # per request: count x digits, or frames
    hands: int  # hands read from POSTed pictures kept in memory; 0: read every picture
    cors_origins: tuple[str, ...] = ()
    body_timeout_s: float = BODY_TIMEOUT_S  # a POSTed picture not in by then gets 408


class SlowBody(Exception):
    """A POSTed body that did not arrive within ServeLimits.body_timeout_s (408)."""


class TooLarge(Exception):
    """The request asks for more images than this server returns at once (413)."""


@dataclass(frozen=True)
class Payload:
    body: bytes
    format: str
    filename: str  # what the CLI would name the file
    hand: Hand | None = None  # the hand it is written in, told in headers

    def response(self) -> Response:
        headers = {"Content-Disposition": f'inline; filename="{self.filename}"'}
        if self.hand is not None:
            digit, confidence = HAND_HEADERS
            headers[digit] = str(self.hand.digit)
            if self.hand.confidence is not None:  # read by the classifier, not given as like_digit
                headers[confidence] = f"{self.hand.confidence:.4f}"
        return Response(self.body, media_type=MEDIA_TYPES[self.format], headers=headers)


class Hands:
    """The hands read from POSTed pictures, by the sha256 of the picture's bytes and the digit
    given for it, the least recently used dropped past ``size``. The server's models never
    change while it runs, so a hand read once holds for as long as it is kept. Shared by the
    pool's threads."""

    def __init__(self, generator: Generator, size: int):
        self.generator, self.size = generator, size
        self._kept: OrderedDict[tuple[bytes, int | None], Hand] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, picture: bytes, like_digit: int | None) -> Hand:
        key = (hashlib.sha256(picture).digest(), like_digit)
        with self._lock:
            hand = self._kept.get(key)
            if hand is not None:
                self._kept.move_to_end(key)
                return hand
        hand = self.generator.hand(picture, like_digit, wording=PICTURE)  # outside the lock: others go on
        with self._lock:
            self._kept[key] = hand
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return hand


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
        text = self._values.get(name)
        return None if text is None else _integer(text)

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
        self.hands = Hands(generator, limits.hands)
        self.uploads = Uploads(limits.workers + limits.queue)
        encoder = info.get("encoder", {})
        self.hand_problem: Optional[str] = None if encoder.get("usable") else encoder.get(
            "problem", "this server has no encoder, so it cannot read a picture's hand: start it with --encoder PATH")

    def _check_size(self, images: int, what: str) -> None:
        if images > self.limits.max_images:
            raise TooLarge(
                f"{what} = {images} images; this server returns at most {self.limits.max_images} "
                f"per request (mnistgen serve --max-images)"
            )

    async def digits(self, request: Request) -> Response:
        query = Query(request, ("count", "seed", "format", "grid", "verify", "min_confidence", *STYLE))
        # checked in the CLI's order (mnistgen.cli.build_request), so the first mistake is named
        digits = check_number(request.path_params["digits"])
        verify = query.flag("verify")
        if verify and len(digits) != 1:
            raise InputError("verify works with a single digit 0-9")
        if query.given("min_confidence") and not verify:
            raise InputError("min_confidence applies only with verify=true")
        count, seed, format, grid = self._digit_options(query, digits)
        min_confidence = check_min_confidence(
            DEFAULT_MIN_CONFIDENCE if not query.given("min_confidence") else query.number("min_confidence"))
        style = self._style(query, digits)
        self._check_answer(digits, count, format, grid)

        def job() -> Payload:
            if len(digits) > 1:
                pictures = self.generator.number(digits, count, seed, **style)
            else:
                pictures = self.generator.generate(int(digits), count, seed, verify=verify,
                                                   min_confidence=min_confidence, **style)
            return _payload(pictures, digits, format, grid=grid)

        return (await self.pool.run(job)).response()

    async def digits_like(self, request: Request) -> Response:
        """POST: the digits written in the hand of the picture in the body (`--like`)."""
        query = Query(request, ("count", "seed", "spread", "like_digit", "format", "grid", *STYLE))
        digits = check_number(request.path_params["digits"])
        count, seed, format, grid = self._digit_options(query, digits)
        like_digit = self._like_digit(query)
        spread = check_spread(DEFAULT_SPREAD if not query.given("spread") else query.number("spread"))
        style = self._style(query, digits)
        self._check_answer(digits, count, format, grid)

        def write(hand: Hand) -> Payload:
            pictures = self.generator.in_hand(digits, hand, count, spread, seed, **style)
            return _payload(pictures, digits, format, grid=grid, hand=hand)

        return await self._in_hand(request, like_digit, write)

    @staticmethod
    def _digit_options(query: Query, digits: str) -> tuple[int, Optional[int], str, bool]:
        """(count, seed, format, grid) of a digits request, each checked."""
        grid = query.flag("grid")
        format = query.choice("format", DIGIT_FORMATS, "png")
        if grid and format != "png":
            raise InputError("grid applies only to format png (zip, npy and gif hold every sample)")
        raw_count = query.integer("count")
        count = 1 if raw_count is None else (
            check_count(raw_count) if len(digits) == 1 else check_number_count(raw_count, len(digits)))
        return count, check_seed(query.integer("seed")), format, grid

    def _check_answer(self, digits: str, count: int, format: str, grid: bool) -> None:
        """Last, as the CLI checks its output last: the answer fits this server and its format."""
        self._check_size(count * len(digits), f"count x digits = {count} x {len(digits)}")
        if format == "png" and count > 1 and not grid:
            raise InputError("format png returns one image: add grid=true, use count=1, or format zip, npy or gif")

    def _style(self, query: Query, digits: str) -> dict[str, Any]:
        """The style parameters as the API's keywords, checked against the model's ranges for ``digits``."""
        return self.generator.style(digits, *(query.number(name) for name in STYLE)).keywords()

    @staticmethod
    def _like_digit(query: Query) -> Optional[int]:
        return None if not query.given("like_digit") else check_digit(query.integer("like_digit"))

    async def morph(self, request: Request) -> Response:
        query = Query(request, ("steps", "seed", "format", *STYLE))
        digit = check_digit(_integer(request.path_params["digit"]))
        to = check_digit(_integer(request.path_params["to"]))
        steps, seed, format = self._sequence_options(query)
        style = self._style(query, str(digit))
        return await self._sequence(lambda: self.generator.morph(digit, to, steps, seed, **style), f"{digit}_to_{to}", format)

    async def morph_like(self, request: Request) -> Response:
        """POST: the picture's hand morphing from one digit into another (`--like --morph`)."""
        query = Query(request, ("steps", "like_digit", "format", *STYLE))
        digit = check_digit(_integer(request.path_params["digit"]))
        to = check_digit(_integer(request.path_params["to"]))
        steps, _, format = self._sequence_options(query)
        like_digit = self._like_digit(query)
        style = self._style(query, str(digit))

        def write(hand: Hand) -> Payload:
            frames = self.generator.morph(digit, to, steps, latent=hand.latent, **style)
            return _payload(frames, f"{digit}_to_{to}", format, sequence=True, hand=hand)

        return await self._in_hand(request, like_digit, write)

    async def _in_hand(self, request: Request, like_digit: Optional[int], write: Callable[[Hand], Payload]) -> Response:
        """Receive the POSTed picture, then in the pool read its hand (or recall it) and write in it.
        The picture is received apart from the pool, so slow uploads never hold a GET's place."""
        if self.hand_problem is not None:  # refused before a byte of the picture is read
            raise ModelError(self.hand_problem)
        async with self.uploads.hold(int(request.headers.get("content-length", "0"))):  # checked by BodyLimit
            picture = await _received(request, self.limits.body_timeout_s)
            return (await self.pool.run(lambda: write(self.hands.read(picture, like_digit)))).response()

    async def walk(self, request: Request) -> Response:
        query = Query(request, ("steps", "seed", "format", *STYLE))
        digit = check_digit(_integer(request.path_params["digit"]))
        steps, seed, format = self._sequence_options(query)
        style = self._style(query, str(digit))
        return await self._sequence(lambda: self.generator.style_walk(digit, steps, seed, **style), f"{digit}_walk", format)

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


async def _received(request: Request, timeout_s: float) -> bytes:
    """The request's body, within ``timeout_s``: a client that stalls frees its place (408)."""
    try:
        return await asyncio.wait_for(request.body(), timeout_s)
    except asyncio.TimeoutError:
        raise SlowBody(f"the request body did not arrive within {timeout_s:g} s; send the picture "
                       "at once, with its Content-Length") from None


class Uploads:
    """The POSTed pictures held at once, from their first byte until their answer: at most
    ``count`` of them (as many as the pool runs and queues) and ``budget`` bytes as their
    Content-Length declares, a bound on the memory bodies take. The next is refused at once
    (503), unread. Used from the event loop only."""

    def __init__(self, count: int, budget: int = PICTURE_BUDGET_BYTES):
        self.count, self.budget = count, budget
        self.held, self.bytes = 0, 0

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        if self.held >= self.count or self.bytes + size > self.budget:
            raise Overloaded(f"server busy: {self.held} pictures of {self.bytes:,} bytes already being received or "
                             f"read (at most {self.count}, mnistgen serve --workers/--queue, and "
                             f"{self.budget:,} bytes); retry shortly")
        self.held, self.bytes = self.held + 1, self.bytes + size
        try:
            yield
        finally:
            self.held, self.bytes = self.held - 1, self.bytes - size


def _integer(text: str) -> object:
    """A query or path value as an int when it spells one (as the CLI's integer options take it),
    else the text itself, which the limits check then refuses with its own message (e.g. "seed
    must be a non-negative integer ..., got 'x'"). At most 100 digits: far past every limit,
    and short of the length at which int() itself refuses (a ValueError, not a limit's message)."""
    stripped = text.strip()
    body = stripped[1:] if stripped[:1] in "+-" else stripped
    return int(stripped) if body.isascii() and body.isdigit() and len(body) <= 100 else text


def _payload(pictures: np.ndarray, stem: str, format: str, *, sequence: bool = False, grid: bool = False,
             hand: Hand | None = None) -> Payload:
    """The response body, named and encoded as `mnistgen DIGIT --out DIR` writes its files
    (mnistgen.outputs.named_outputs); zip holds the CLI's separate PNGs, and png without a grid is the
    first sample (the query check allows it for one sample only)."""
    if format == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
            for item in named_outputs(pictures, stem, "png"):
                archive.writestr(zipfile.ZipInfo(item.name, ZIP_DATE), _encoded(item))
        return Payload(buffer.getvalue(), "zip", f"{stem}.zip", hand)
    first = named_outputs(pictures, stem, format, sequence=sequence, grid=grid)[0]
    return Payload(_encoded(first), format, first.name, hand)


def _encoded(item: Artifact) -> bytes:
    buffer = io.BytesIO()
    item.write(buffer)
    return buffer.getvalue()


class FileNames:
    """Cuts the paths of the files this server opened to their names, in a message or in every
    string of a report: an answer may say which model file, never where it lies on the server's
    disk (a ModelError names its file with the path it was given)."""

    def __init__(self, paths: Iterable[Path | str | None]):
        self._paths = tuple({str(path): Path(path).name for path in paths if path is not None}.items())

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            for path, name in self._paths:
                value = value.replace(path, name)
            return value
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self(item) for item in value]
        return value


# --- errors: a status and the one-line message, as JSON -------------------------------------


def error_response(status: int, message: str, headers: Optional[dict[str, str]] = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split()), "status": status}, status_code=status, headers=headers)


def _handler(status: int, names: FileNames) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(_request: Request, exc: Exception) -> Response:
        return error_response(status, names(str(exc)))  # a ModelError names its file with its path
    return handle


async def _overloaded(_request: Request, exc: Exception) -> Response:
    return error_response(503, str(exc), {"Retry-After": str(RETRY_AFTER_S)})


async def _hung_up(_request: Request, _exc: Exception) -> Response:
    # the client left mid-body: nobody reads this answer, and it is no error of the server's
    log.debug("client hung up before its request body arrived")
    return Response(status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"unknown path {request.url.path!r}; the endpoints are {', '.join(ENDPOINTS)}"
    elif exc.status_code == 405:
        # Starlette's Allow joins a set: sorted here, so the header is the same on every run
        allowed = sorted(method.strip() for method in (exc.headers or {}).get("Allow", "").split(","))
        message = (f"method {request.method} is not allowed on {request.url.path}; "
                   f"use {'GET, or POST with a picture' if 'POST' in allowed else 'GET'}")
        return error_response(405, message, {"Allow": ", ".join(allowed)})
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, message, dict(exc.headers or {}))


async def _internal(_request: Request, exc: Exception) -> Response:
    # a bug, not a bad request: the traceback goes to the server's log, never to the client
    log.error("internal error", exc_info=exc)
    return error_response(500, "internal error; the server log has the details")


class BodyLimit:
    """Refuse request bodies over MAX_PICTURE_BYTES for a POST, MAX_BODY_BYTES otherwise (413),
    and bodies of unknown length (411), before any route sees them: the server never buffers
    more than that from a client."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                response = error_response(411, "request bodies must declare a Content-Length (chunked bodies are refused)")
                return await response(scope, receive, send)
            post = scope["method"] == "POST"
            limit = MAX_PICTURE_BYTES if post else MAX_BODY_BYTES
            if length is not None and (not length.isdigit() or int(length) > limit):
                what = "one picture" if post else "only a POST takes a body"
                response = error_response(
                    413, f"request body of {length.decode(errors='replace')} bytes; at most {limit} accepted ({what})")
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def _get_or_post(get: Endpoint, post: Endpoint) -> Endpoint:
    """One route for both methods, so that its 405 names them both in Allow."""
    async def endpoint(request: Request) -> Response:
        return await (post if request.method == "POST" else get)(request)
    return endpoint


def create_app(generator: Generator, limits: ServeLimits, info: dict[str, Any]) -> Starlette:
    """The ASGI app. ``info`` is what `mnistgen --info` reports for ``generator``'s model (its
    hand_cache left out); its paths are cut to file names here, as in every refusal."""
    pool = InferencePool(limits.workers, limits.queue)
    names = FileNames((generator.path, info.get("encoder", {}).get("path")))
    report = {**names(info), "server": {"max_images_per_request": limits.max_images, "workers": limits.workers,
                                        "queue": limits.queue, "hands": limits.hands,
                                        "formats": {"digits": list(DIGIT_FORMATS), "morph": list(SEQUENCE_FORMATS),
                                                    "walk": list(SEQUENCE_FORMATS)}}}
    api = Api(generator, pool, limits, report)
    routes = [
        Route("/v1/digits/{digits}", _get_or_post(api.digits, api.digits_like), methods=["GET", "POST"]),
        Route("/v1/morph/{digit}/{to}", _get_or_post(api.morph, api.morph_like), methods=["GET", "POST"]),
        Route("/v1/walk/{digit}", api.walk, methods=["GET"]),
        Route("/v1/info", api.info, methods=["GET"]),
        Route("/healthz", api.health, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
    ]
    middleware = [Middleware(BodyLimit)]
    if limits.cors_origins:  # off unless asked for: browsers then refuse other sites' pages
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(limits.cors_origins), allow_methods=["GET", "POST"],
                                      expose_headers=list(HAND_HEADERS)))
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        InputError: _handler(400, names), ModelError: _handler(400, names), SlowBody: _handler(408, names),
        TooLarge: _handler(413, names), ClientDisconnect: _hung_up,
        VerificationError: _handler(422, names), Overloaded: _overloaded, HTTPException: _http_error,
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
    to = _param("to", "path", {"type": "integer", "minimum": 0, "maximum": 9}, "The digit it becomes.")
    digits = _param("digits", "path", {"type": "string", "pattern": "^[0-9]{1,32}$"}, "A digit, or a number of up to 32 digits.")
    count = _param("count", "query", {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "default": 1},
                   f"Samples; count x digits at most {limits.max_images} on this server.")
    digit_format = _param("format", "query", {"enum": list(DIGIT_FORMATS), "default": "png"},
                          "png: one image (count 1, or grid=true); zip: one PNG per sample; npy: uint8 (count, 28, W); gif.")
    grid = _param("grid", "query", {"type": "boolean", "default": False}, "With png: all samples in one grid.")
    strip = _param("format", "query", {"enum": list(SEQUENCE_FORMATS), "default": "png"}, "png: one strip.")
    like_digit = _param("like_digit", "query", {"type": "integer", "minimum": 0, "maximum": 9},
                        "The digit the picture shows; omitted: the classifier reads it and must be sure.")
    style = [_param("stroke_width", "query", {"type": "number"}, "Every sample's stroke width in px, within the digit's "
                    "range (/v1/info's style); omitted: the model's own."),
             _param("slant", "query", {"type": "number"}, "Every sample's slant in degrees from vertical (positive: "
                    "leaning right), within the digit's range."),
             _param("legibility", "query", {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
                    "How close to the typical hand: 0 the model's own spread, 1 half of it.")]
    def errors(*codes: tuple[int, str]) -> dict[str, Any]:
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        return {str(code): {"description": text, "content": error} for code, text in
                ((400, "bad parameter; the message says what is accepted"), *codes, (503, "busy; see Retry-After"))}

    def images(summary: str, parameters: list[dict[str, Any]], formats: tuple[str, ...]) -> dict[str, Any]:
        content = {MEDIA_TYPES[f]: {} for f in formats}
        return {"summary": summary, "parameters": parameters,
                "responses": {"200": {"description": "the images", "content": content},
                              **errors((413, f"more than {limits.max_images} images, or a body over {MAX_BODY_BYTES} bytes"))}}

    def in_hand(operation: dict[str, Any]) -> dict[str, Any]:
        picture = {"content": {kind: {} for kind in ("image/png", "image/jpeg", "application/octet-stream")},
                   "required": True, "description": f"One picture, as `mnistgen --like` takes it: {ACCEPTED}."}
        operation["responses"]["200"]["headers"] = {
            HAND_HEADERS[0]: {"description": "the digit the picture was read as"},
            HAND_HEADERS[1]: {"description": "the classifier's probability for it (absent with like_digit)"}}
        operation["responses"].update(errors(
            (400, "bad parameter, or a picture --like would refuse; the message says which and what is accepted"),
            (408, f"the picture did not arrive within {limits.body_timeout_s:g} s"),
            (413, f"more than {limits.max_images} images, or a picture over {MAX_PICTURE_BYTES} bytes")))
        return {**operation, "requestBody": picture}

    return {
        "openapi": "3.1.0",
        "info": {"title": "mnistgen", "version": "1"},
        "paths": {
            "/v1/digits/{digits}": {
                "get": images("Samples of one digit, or numbers written in one hand", [
                    digits, count, seed, digit_format, grid,
                    _param("verify", "query", {"type": "boolean", "default": False}, "Keep only samples the classifier recognises (one digit)."),
                    _param("min_confidence", "query", {"type": "number", "minimum": 0, "maximum": 1,
                                                       "default": DEFAULT_MIN_CONFIDENCE}, "With verify."),
                    *style,
                ], DIGIT_FORMATS),
                "post": in_hand(images("The digits written in the hand of the picture in the body: the first sample "
                                       "in that hand, the others around it", [
                    digits, count, seed,
                    _param("spread", "query", {"type": "number", "minimum": 0, "maximum": 1, "default": DEFAULT_SPREAD},
                           "How far samples after the first stray from the hand: 0 the hand itself, 1 random hands."),
                    like_digit, digit_format, grid, *style,
                ], DIGIT_FORMATS)),
            },
            "/v1/morph/{digit}/{to}": {
                "get": images("One sample morphing from one digit into another",
                              [digit, to, steps, seed, strip, *style], SEQUENCE_FORMATS),
                "post": in_hand(images("The picture's hand morphing from one digit into another",
                                       [digit, to, steps, like_digit, strip, *style], SEQUENCE_FORMATS)),
            },
            "/v1/walk/{digit}": {"get": images("One digit drifting through handwriting styles",
                                               [digit, steps, seed, strip, *style], SEQUENCE_FORMATS)},
            "/v1/info": {"get": {"summary": "The model's metadata and capabilities (as mnistgen --info) and this server's limits",
                                 "responses": {"200": {"description": "JSON"}}}},
            "/healthz": {"get": {"summary": "Liveness, and the requests running and waiting",
                                 "responses": {"200": {"description": "JSON"}}}},
        },
        "components": {"schemas": {"Error": {"type": "object", "properties": {
            "error": {"type": "string"}, "status": {"type": "integer"}}}}},
    }
