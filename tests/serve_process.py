"""A server in a child process that prints "listening on http://127.0.0.1:PORT" on its first
stderr line once bound (`mnistgen serve --port 0`, and the benchmark's ceiling server): started,
spoken to over a real socket, measured and stopped. Used by tests/test_serve.py and the serve
benchmark alike. AppServer serves an app built in the test's own process the same way, for tests
that look inside it or give it limits the command has no option for.
"""
from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 60
LISTENING = "listening on http://127.0.0.1:"


class Client:
    """Requests to a server listening on 127.0.0.1:``port``."""

    port: int

    def request(self, path: str, method: str = "GET", body: Optional[bytes] = None,
                headers: Optional[dict[str, str]] = None) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, body), on a fresh connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def load(self) -> dict:
        """/healthz: the requests running and waiting."""
        status, _, body = self.request("/healthz")
        if status != 200:
            raise RuntimeError(f"/healthz answered {status}: {body[:200]!r}")
        return json.loads(body)

    def wait_idle(self, timeout_s: float = TIMEOUT_S) -> None:
        """Until no request is running or waiting."""
        deadline = time.monotonic() + timeout_s
        while (load := self.load())["running"] or load["waiting"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server still busy after {timeout_s} s: {load}")
            time.sleep(0.05)


class ServerProcess(Client):
    def __init__(self, argv: Sequence[str]):
        self.process = subprocess.Popen(list(argv), cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        first = self.process.stderr.readline()  # model loaded and socket bound by the time this comes
        self.lines = [first]
        # read the rest as it comes, so a chatty server never blocks on a full pipe
        threading.Thread(target=self._drain, daemon=True).start()
        if LISTENING not in first:
            self.process.kill()
            raise RuntimeError(f"server did not start: {first.strip()!r}")
        self.port = int(first.split(LISTENING)[1].split()[0])
        self.url = f"http://127.0.0.1:{self.port}"

    def _drain(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def stderr_text(self) -> str:
        return "".join(self.lines)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # reported in KiB
        raise RuntimeError(f"no VmRSS for process {self.process.pid}")

    def stop(self, signum: int = signal.SIGTERM) -> Optional[int]:
        """Send ``signum`` and return the exit status (None if it had to be killed after TIMEOUT_S)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None


class AppServer(Client):
    """``app`` served by uvicorn, as `mnistgen serve` runs it, on a thread of this process and a
    free port; a context manager that stops it on leaving."""

    def __init__(self, app: Any):
        import uvicorn

        from mnistgen.serve_cli import listen, uvicorn_config

        listener = listen("127.0.0.1", 0)
        self.port = listener.getsockname()[1]
        self.server = uvicorn.Server(uvicorn_config(app))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [listener]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app's server did not start")
            time.sleep(0.01)

    def __enter__(self) -> "AppServer":
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(TIMEOUT_S)
