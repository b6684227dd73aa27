"""`mnistgen serve` under load, driven by wrk against 127.0.0.1 (section "serve", run on its own:
`python -m tests.bench --only serve`; it needs wrk and the serve extra).

- throughput: requests/s and p50/p99 latency at concurrency 1, 8 and 64, for one digit a
  request (PNG) and 64 digits a request (npy), beside the same stack answering with constant
  bytes (tests/bench/serve_ceiling.py: the stack's ceiling), and images/s beside
  Generator.generate in this process on as many threads as the server has workers;
- memory: the server's resident memory sampled across 100,000 requests, segments of small,
  64-image and 1,024-image requests taking turns;
- faults, each while wrk keeps loading the server: malformed requests, clients that reset the
  connection mid-response, slow clients sending their request a byte at a time. wrk's errors
  count the good requests that failed; afterwards the server must still answer. Two rounds.

Every load is bounded in time and stops by itself; nothing is sent anywhere but 127.0.0.1.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from tests.bench.cold_start import mnistgen_command
from tests.bench.options import Options
from tests.bench.stats import ratio
from tests.serve_process import ServerProcess

LUA = Path(__file__).with_name("serve_wrk.lua")
CEILING = Path(__file__).with_name("serve_ceiling.py")
DIGIT, SEED, MANY = 5, 1, 64
PAYLOADS = {  # name -> (path, images per request)
    "1 digit, png": (f"/v1/digits/{DIGIT}?seed={SEED}", 1),
    f"{MANY} digits, npy": (f"/v1/digits/{DIGIT}?seed={SEED}&count={MANY}&format=npy", MANY),
}
CONCURRENCY = (1, 8, 64)
SERVER_OPTIONS = ("--max-images", "1024")  # otherwise the defaults: --workers = CPUs, --threads 1, --queue 64
START_TIMEOUT_S = 120
HEAVY = f"/v1/digits/{DIGIT}?seed=3&count=1024&format=npy"  # ~800 KB: far more than a small receive buffer
MEMORY_PATHS = (PAYLOADS["1 digit, png"][0], PAYLOADS[f"{MANY} digits, npy"][0], HEAVY)
FAULT_ROUNDS = 2
MALFORMED = [  # each a whole request (or not even that), sent on its own connection
    b"GET /v1/digits/x HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /v1/digits/5?count=0 HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /v1/digits/5?count=999999&format=npy HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /v1/digits/5?count=2000&format=npy HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /v1/digits/5?seed=-4 HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /v1/digits/5?format=exe HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /v1/morph/3/x?steps=1 HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /../../etc/passwd HTTP/1.1\r\nHost: b\r\n\r\n",
    b"GET /v1/digits/..%2f..%2fmodels%2fgenerator.onnx HTTP/1.1\r\nHost: b\r\n\r\n",
    b"DELETE /v1/info HTTP/1.1\r\nHost: b\r\n\r\n",
    b"POST /v1/digits/5 HTTP/1.1\r\nHost: b\r\nContent-Length: 20000000\r\n\r\nxxxx",  # past 16 MiB: refused unread
    b"POST /v1/digits/5 HTTP/1.1\r\nHost: b\r\nContent-Length: 4\r\n\r\nxxxx",  # a body, not a picture
    b"GET /v1/digits/5 HTTP/1.1\r\nHost: b\r\nContent-Length: 5000\r\n\r\nxxxx",  # a GET takes no body
    b"GET /v1/digits/5 HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),  # a TLS hello: not HTTP at all
    b"GET /v1/digits/5 HTTP/1.1\r\nHost b\r\n\r\n",  # header without a colon
    b"GET /v1/digits/5?seed=" + b"9" * 20_000 + b" HTTP/1.1\r\nHost: b\r\n\r\n",  # a 20 KB request line
]


@dataclass(frozen=True)
class ServeSizes:
    window_s: int  # each throughput run
    memory_requests: int
    memory_segment_s: int  # RSS is read after each segment of load
    memory_max_s: int  # bound on the memory run, whatever the rate
    malformed: int
    disconnects: int
    slow_clients: int
    slow_gap_s: float  # between the bytes of a slow client's request
    inprocess_window_s: float


FULL = ServeSizes(window_s=5, memory_requests=100_000, memory_segment_s=10, memory_max_s=360, malformed=1000,
                  disconnects=100, slow_clients=3, slow_gap_s=0.01, inprocess_window_s=2.0)
QUICK = ServeSizes(window_s=1, memory_requests=1000, memory_segment_s=1, memory_max_s=30, malformed=60,
                   disconnects=4, slow_clients=1, slow_gap_s=0.002, inprocess_window_s=0.2)


def run(options: Options) -> dict:
    sizes = QUICK if options.quick else FULL
    result: dict[str, Any] = {"sizes": asdict(sizes), "server_options": list(SERVER_OPTIONS), "error": None}
    wrk = shutil.which("wrk")
    if wrk is None:
        return {**result, "error": "wrk not found on PATH (apt-get install wrk)"}
    try:
        server = ServerProcess(mnistgen_command() + ["serve", "--port", "0", "--model", str(options.generator), *SERVER_OPTIONS])
        try:
            _load(wrk, server.url, "/v1/digits/5?seed=1", 8, 1)  # warm-up, not recorded
            served = {}
            for name, (path, _) in PAYLOADS.items():
                for c in CONCURRENCY:
                    server.wait_idle()  # wrk hangs up on requests in flight when it stops; their work goes on
                    served[name, c] = _load(wrk, server.url, path, c, sizes.window_s)
            result["memory"] = _memory(wrk, server, sizes)
            # twice: what the first round adds to resident memory (buffers for the large answers,
            # the allocator's per-thread arenas) should not be added again by the second
            result["faults"] = [_faults(wrk, server, sizes, options.generator) for _ in range(FAULT_ROUNDS)]
        finally:
            result["shutdown_exit_code"] = server.stop()
            result["server_tracebacks"] = server.stderr_text.count("Traceback")
        ceiling_server = ServerProcess([sys.executable, str(CEILING), str(options.generator)])
        try:
            _load(wrk, ceiling_server.url, "/v1/digits/5?seed=1", 8, 1)
            ceiling = {(name, c): _load(wrk, ceiling_server.url, path, c, sizes.window_s)
                       for name, (path, _) in PAYLOADS.items() for c in CONCURRENCY}
        finally:
            ceiling_server.stop()
        workers = os.cpu_count() or 1  # the server's default --workers
        result["in_process"] = {
            "threads": workers,
            "images_per_s": _in_process(options.generator, sizes.inprocess_window_s, workers),
            "one_thread_images_per_s": _in_process(options.generator, sizes.inprocess_window_s, 1),
        }
        result["throughput"] = [_row(name, c, served[name, c], ceiling[name, c], result["in_process"]["images_per_s"])
                                for name in PAYLOADS for c in CONCURRENCY]
    except (OSError, RuntimeError, ValueError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result


# --- wrk -----------------------------------------------------------------------------------


def start_wrk(wrk: str, url: str, connections: int, seconds: int, script: Path = LUA,
              env: Optional[dict[str, str]] = None) -> subprocess.Popen:
    """wrk loading ``url`` for ``seconds``, reporting through ``script`` (serve_wrk.lua's JSON line)."""
    # one wrk thread: it keeps 64 connections busy on its own and leaves the other core to the server
    argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script), url]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def wrk_report(process: subprocess.Popen, timeout: float) -> dict:
    out, err = process.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed (exit {process.returncode}): {err.strip()[-300:]}")
    report = json.loads(lines[-1])
    seconds = report["duration_us"] / 1e6
    return {"requests": report["requests"], "seconds": seconds, "requests_per_s": report["requests"] / seconds,
            "p50_ms": report["p50_us"] / 1e3, "p99_ms": report["p99_us"] / 1e3, "max_ms": report["max_us"] / 1e3,
            "errors": report["errors"], "failed": sum(report["errors"].values())}


def _load(wrk: str, url: str, path: str, connections: int, seconds: int) -> dict:
    return wrk_report(start_wrk(wrk, url + path, connections, seconds), timeout=seconds + 60)


def _row(name: str, concurrency: int, served: dict, ceiling: dict, in_process: dict) -> dict:
    images = PAYLOADS[name][1]
    images_per_s = served["requests_per_s"] * images
    return {"payload": name, "path": PAYLOADS[name][0], "concurrency": concurrency, "server": served,
            "ceiling": ceiling, "server_over_ceiling": ratio(served["requests_per_s"], ceiling["requests_per_s"]),
            "images_per_s": images_per_s, "in_process_images_per_s": in_process[str(images)],
            "server_over_in_process": ratio(images_per_s, in_process[str(images)])}


def _in_process(generator_path: Path, window_s: float, parallel: int) -> dict[str, float]:
    """Generator.generate in this process, ``parallel`` threads calling it at once on one shared
    Generator with one onnxruntime thread each: the server's workers without HTTP."""
    from mnistgen import Generator

    generator = Generator(generator_path, threads=1)
    rates = {}
    for images in (1, MANY):
        generator.generate(DIGIT, images, SEED)  # warm-up
        start = time.perf_counter()
        deadline = start + window_s

        def calls(_: int, images: int = images) -> int:
            done = 0
            while time.perf_counter() < deadline:
                generator.generate(DIGIT, images, SEED)
                done += 1
            return done

        with ThreadPoolExecutor(parallel) as pool:
            total = sum(pool.map(calls, range(parallel)))
        rates[str(images)] = total * images / (time.perf_counter() - start)
    return rates


# --- memory across many requests ------------------------------------------------------------


def _memory(wrk: str, server: ServerProcess, sizes: ServeSizes) -> dict:
    samples = [(0, server.rss_mib())]
    done, failed, start = 0, 0, time.monotonic()
    server.wait_idle()
    while done < sizes.memory_requests and time.monotonic() - start < sizes.memory_max_s:
        path = MEMORY_PATHS[(len(samples) - 1) % len(MEMORY_PATHS)]  # segments take turns
        report = _load(wrk, server.url, path, 8, sizes.memory_segment_s)
        done, failed = done + report["requests"], failed + report["failed"]
        samples.append((done, server.rss_mib()))
    half = next(rss for count, rss in samples if count >= done / 2)
    return {"requests": done, "failed": failed, "seconds": time.monotonic() - start, "samples": samples,
            "rss_first_segment_mib": samples[1][1] if len(samples) > 1 else None, "rss_half_mib": half,
            "rss_end_mib": samples[-1][1], "rss_max_mib": max(rss for _, rss in samples),
            "growth_second_half_mib": samples[-1][1] - half}


# --- faults under load ---------------------------------------------------------------------


def _faults(wrk: str, server: ServerProcess, sizes: ServeSizes, generator_path: Path) -> dict:
    from mnistgen import Generator

    expected = Generator(generator_path, threads=1).generate(DIGIT, 1, 7)
    server.wait_idle()
    rss_before = server.rss_mib()
    load = start_wrk(wrk, server.url + PAYLOADS["1 digit, png"][0], 8, sizes.memory_max_s)  # stopped below, when faults end
    time.sleep(0.5)
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(4) as pool:
            malformed = pool.submit(_malformed, server.port, sizes.malformed)
            disconnects = [pool.submit(_disconnects, server.port, sizes.disconnects // 2) for _ in range(2)]
            slow = pool.submit(_slow_clients, server.port, sizes.slow_clients, sizes.slow_gap_s, expected)
            statuses = malformed.result()
            resets = sum(future.result() for future in disconnects)
            slow_ok = slow.result()
    finally:
        faults_s = time.monotonic() - started
        load.send_signal(signal.SIGINT)  # wrk stops and reports what it did so far
    under_load = wrk_report(load, timeout=60)
    after = _status(server.port, b"GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
    good_after = _slow_client(server.port, 0.0, expected)
    return {
        "seconds": faults_s,
        "malformed_sent": sizes.malformed,
        "malformed_by_status": dict(sorted(Counter(str(s) for s in statuses).items())),
        "malformed_not_4xx": sum(1 for s in statuses if not (isinstance(s, int) and 400 <= s < 500)),
        "disconnects": resets,
        "slow_clients": sizes.slow_clients,
        "slow_clients_served_correctly": slow_ok,
        "load": under_load,
        "good_requests_failed": under_load["failed"],
        "healthz_after": after,
        "good_request_after_ok": good_after,
        "rss_before_mib": rss_before,
        "rss_after_mib": server.rss_mib(),
    }


def _status(port: int, request: bytes) -> Optional[int]:
    """The status code of the server's answer to ``request``, or None if it gave none."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(request)
        head = b""
        while b"\r\n" not in head:
            chunk = connection.recv(4096)
            if not chunk:
                return None
            head += chunk
    parts = head.split(b"\r\n", 1)[0].split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


def _malformed(port: int, count: int) -> list[Optional[int]]:
    statuses = []
    for index in range(count):
        try:
            statuses.append(_status(port, MALFORMED[index % len(MALFORMED)]))
        except OSError as exc:
            statuses.append(f"{type(exc).__name__}")  # type: ignore[arg-type]
    return statuses


def _disconnects(port: int, count: int) -> int:
    """Clients that ask for ~800 KB, read the first few KB and reset the connection."""
    done = 0
    for _ in range(count):
        connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the server's writes back up
        connection.settimeout(30)
        connection.connect(("127.0.0.1", port))
        connection.sendall(f"GET {HEAVY} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
        connection.recv(4096)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
        connection.close()
        done += 1
    return done


def _slow_client(port: int, gap_s: float, expected: np.ndarray) -> bool:
    """Send a good request a byte at a time; True if the answer is the right array."""
    request = f"GET /v1/digits/{DIGIT}?seed=7&format=npy HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        for byte in request.encode():
            connection.sendall(bytes([byte]))
            time.sleep(gap_s)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return False
    return bool(np.array_equal(np.load(io.BytesIO(body), allow_pickle=False), expected))


def _slow_clients(port: int, count: int, gap_s: float, expected: np.ndarray) -> int:
    with ThreadPoolExecutor(count) as pool:
        return sum(pool.map(lambda _: _slow_client(port, gap_s, expected), range(count)))

