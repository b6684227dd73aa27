"""`mnistgen serve`: the generator over HTTP (Starlette on uvicorn), from the `serve` extra.

Everything is checked and opened before the socket is: a bad option or model file is one line
on stderr with exit 2, as for `mnistgen DIGIT`. SIGTERM or Ctrl-C stops accepting connections,
lets the requests in flight finish (up to GRACE_S), and exits 0.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import sys
from typing import Any, List, Optional

import typer

from mnistgen.cli import info_report  # /v1/info is what --info prints, from the same code
from mnistgen.console import fail, number, one_line, run
from mnistgen.generator import Generator
from mnistgen.limits import MAX_COUNT, InputError, ModelError, check_count, check_threads

PROG = "mnistgen serve"
EXTRA = ("starlette", "uvicorn")
DEFAULT_MAX_IMAGES = 1024
DEFAULT_QUEUE = 64
MAX_WORKERS = 64
MAX_QUEUE = 10_000
DEFAULT_HANDS = 256
MAX_HANDS_KEPT = 10_000
"""The most --hands a server keeps in memory; a remembered hand is about 1 kB (its latent and
prepared image). Not mnistgen.hand_cache's bound, which is on the command's files."""
MAX_CONNECTIONS = 1024
"""Open connections uvicorn takes before it answers 503 itself: bounds the server's memory."""
GRACE_S = 30
"""On SIGTERM, how long requests in flight may take to finish before they are cancelled."""
KEEP_ALIVE_S = 5

app = typer.Typer(add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


@app.command(help="Serve the generator over HTTP: GET /v1/digits/{digits}, /v1/morph/{digit}/{to}, "
                  "/v1/walk/{digit}, /v1/info, /healthz, /openapi.json; POST a picture to the first two to "
                  "write in its hand (docs/serve.md).")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 0.0.0.0 opens it to the network."),
    # numeric options arrive as text, so a value that is no number gets our one line, as mnistgen's do
    port: str = typer.Option("8000", "--port", metavar="P", help="TCP port, 0-65535 (0: any free one, printed at start)."),
    model: Optional[str] = typer.Option(None, "--model", help="Generator .onnx; default: the shipped model."),
    classifier: Optional[str] = typer.Option(None, "--classifier", help="Classifier .onnx for verify=true and POSTed pictures; default: the shipped one."),
    encoder: Optional[str] = typer.Option(None, "--encoder", help="Encoder .onnx for POSTed pictures; default: the shipped one."),
    threads: str = typer.Option("1", "--threads", metavar="T", help="onnxruntime threads per inference, > 0."),
    workers: Optional[str] = typer.Option(None, "--workers", metavar="W", help=f"Inferences at once, 1-{MAX_WORKERS}; default: the CPU count."),
    queue: str = typer.Option(str(DEFAULT_QUEUE), "--queue", metavar="Q", help=f"Requests that may wait for a worker, 0-{MAX_QUEUE}; more get 503."),
    max_images: str = typer.Option(str(DEFAULT_MAX_IMAGES), "--max-images", metavar="N", help=f"Images one request may ask for, 1-{MAX_COUNT}; more get 413."),
    hands: str = typer.Option(str(DEFAULT_HANDS), "--hands", metavar="H", help=f"Hands read from POSTed pictures kept in memory, 0-{MAX_HANDS_KEPT}; 0: read each picture anew."),
    cors_origin: List[str] = typer.Option([], "--cors-origin", help="Let pages from this origin call the API (repeatable); default: none."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request to stderr."),
) -> None:
    try:
        from mnistgen.serve_app import ServeLimits

        limits = ServeLimits(
            workers=check_count((os.cpu_count() or 1) if workers is None else number(workers, int), MAX_WORKERS,
                                "--workers"),
            queue=_check_up_to(number(queue, int), MAX_QUEUE, "--queue"),
            max_images=check_count(number(max_images, int), MAX_COUNT, "--max-images"),
            cors_origins=tuple(cors_origin),
            hands=_check_up_to(number(hands, int), MAX_HANDS_KEPT, "--hands"),
        )
        port_number = _check_up_to(number(port, int), 65535, "--port")
        generator = Generator(model, threads=check_threads(number(threads, int), "--threads"), classifier=classifier,
                              encoder=encoder)
        generator.classifier()  # opened now: a bad --classifier fails at start, not on the first verify=true
        _open_encoder(generator, given=encoder is not None)
        info = info_report(generator, encoder, hand_cache=False)
        listener = listen(host, port_number)
    except (InputError, ModelError) as exc:
        raise fail(PROG, str(exc), 2) from None
    _serve(listener, generator, limits, info, access_log)


def _open_encoder(generator: Generator, given: bool) -> None:
    """The encoder opened now, so the first POSTed picture does not pay for it: a bad --encoder
    fails at start. Without --encoder, a shipped encoder made for another generator (a custom
    --model) only leaves POST unanswered: 400 with that line, and /v1/info says so."""
    try:
        generator.encoder()
    except ModelError:
        if given:
            raise


def _check_up_to(value: object, top: int, option: str) -> int:
    """An option that may be 0 (--port, --queue, --hands); limits.check_count covers those from 1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise InputError(f"{option} must be an integer 0-{top}, got {value!r}")
    return value


def listen(host: str, port: int) -> socket.socket:
    """The bound, listening socket, made here so that a port in use is one line before anything
    starts and --port 0 can say which port it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # socket.create_server leaves it 0; without it every response waits ~40 ms for a delayed ACK
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name == "posix":  # a restart need not wait out TIME_WAIT; on Windows the option would let a
            # second server bind a port in use (asyncio sets it on POSIX only, for the same reason)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(MAX_CONNECTIONS)
    except OSError as exc:
        listener.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; --host takes a local address "
                         "and --port a free port (0 picks one)") from None
    return listener


def uvicorn_config(app: Any, access_log: bool = False) -> Any:
    """How `mnistgen serve` runs uvicorn (the benchmark's ceiling server runs it the same way)."""
    import uvicorn

    return uvicorn.Config(
        app, http="h11", loop="asyncio", lifespan="on",
        log_level="info" if access_log else "warning", access_log=access_log,
        limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=GRACE_S, server_header=False, proxy_headers=False,
    )


def _serve(listener: socket.socket, generator: Generator, limits: Any, info: dict[str, Any], access_log: bool) -> None:
    import uvicorn

    from mnistgen.serve_app import create_app

    server = uvicorn.Server(uvicorn_config(create_app(generator, limits, info), access_log))
    # uvicorn takes SIGINT/SIGTERM over only once it runs, shuts down gracefully, then raises the
    # signal again for the handler that was there before it. Its own handler there too: a signal
    # between the listening line and server.run still stops it (a no-op here lost it, and the
    # server ran on), and the one raised again after shutdown only sets a flag, so it exits 0
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, server.handle_exit)
    host, port = listener.getsockname()[:2]
    address = f"[{host}]" if ":" in host else host
    sys.stderr.write(f"{PROG}: listening on http://{address}:{port} (workers {limits.workers}, queue {limits.queue}, "
                     f"at most {limits.max_images} images a request); Ctrl-C stops\n")
    sys.stderr.flush()
    server.run(sockets=[listener])


def main(argv: Optional[list[str]] = None) -> None:
    missing = [name for name in EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        one_line(PROG, f"needs the serve extra ({', '.join(missing)} not installed): pip install 'mnistgen[serve]'")
        sys.exit(2)
    run(app, PROG, argv)
