"""The stack's ceiling for the serve benchmark: Starlette on uvicorn, configured as `mnistgen serve`
configures it, answering /v1/digits/... with bytes made once at start (the same bytes the real
server sends for the benchmark's two requests). Prints its port like the real server.

Usage: python serve_ceiling.py GENERATOR.onnx
"""
from __future__ import annotations

import io
import sys

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mnistgen import Generator
from mnistgen import images as encode
from mnistgen.serve_cli import listen, uvicorn_config

DIGIT, SEED, MANY = 5, 1, 64


def main() -> None:
    generator = Generator(sys.argv[1], threads=1)
    one = encode.png_bytes(generator.generate(DIGIT, 1, SEED)[0])
    buffer = io.BytesIO()
    np.save(buffer, generator.generate(DIGIT, MANY, SEED), allow_pickle=False)
    many = buffer.getvalue()

    async def constant(request: Request) -> Response:
        if request.query_params.get("count") == str(MANY):
            return Response(many, media_type="application/octet-stream")
        return Response(one, media_type="image/png")

    app = Starlette(routes=[Route("/v1/digits/{digits}", constant, methods=["GET"])])
    listener = listen("127.0.0.1", 0)
    sys.stderr.write(f"ceiling: listening on http://127.0.0.1:{listener.getsockname()[1]}\n")
    sys.stderr.flush()
    uvicorn.Server(uvicorn_config(app)).run(sockets=[listener])


if __name__ == "__main__":
    main()
