"""End-to-end: real API server processes (uvicorn) on loopback, real clients."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from api.embedded import free_port

SECRET = "test-signing-key-0123456789abcdef0123456789"


def environment(servers: dict[str, str], **env: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": servers["database_url"],
        "REDIS_URL": servers["redis_url"],
        "OMS_SECRET_KEY": SECRET,
        "OMS_AUTH_CACHE_SECONDS": "0",
        "OMS_LOG_LEVEL": "WARNING",
        "OMS_DATA_DIR": servers["tmp"],
        **env,
    }


class ServerProcess:
    def __init__(self, servers: dict[str, str], *, bind: str = "127.0.0.1", **env: str) -> None:
        self.port = free_port()
        self.url = f"http://{bind}:{self.port}"
        self.ws_url = f"ws://{bind}:{self.port}/graphql"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api", "serve", "--host", bind, "--port", str(self.port)],
            env=environment(servers, **env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
                )
            with suppress(OSError), urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_server(servers: dict[str, str]) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(servers, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class WorkerProcess:
    """`oms worker` (python -m api worker), its log in a file of its own."""

    def __init__(self, servers: dict[str, str], log_dir: Path, **env: str) -> None:
        self.log_file = log_dir / f"worker-{free_port()}.log"
        with self.log_file.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api", "worker"],
                env=environment(servers, OMS_LOG_JSON="false", **env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_worker(servers: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        worker = WorkerProcess(servers, tmp_path, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
