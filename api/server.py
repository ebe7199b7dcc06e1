"""Serving the API with uvicorn, on one process or several.

Several processes each bind their own listening socket to the port with SO_REUSEPORT,
so that the kernel spreads new connections evenly between them. (uvicorn's own
`--workers` shares one socket: with keep-alive clients, whichever process wakes first
takes most connections of a burst and keeps them; bench/availability.py saw two
processes use 0.95 cores between them.) The parent only supervises: it restarts a
process that dies (with a growing delay, api/supervise.py) and stops them all on SIGINT
or SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from typing import Any

from api.supervise import Child

log = logging.getLogger("oms.server")

APP = "api.app:create_app"


def uvicorn_options() -> dict[str, Any]:
    return {
        "factory": True,
        "loop": "uvloop",
        "http": "httptools",
        "log_config": None,
        # X-Forwarded-For is trusted from FORWARDED_ALLOW_IPS (uvicorn's setting,
        # 127.0.0.1 by default): per-address limits see the client, not the proxy.
        "proxy_headers": True,
        # WebSocket messages are GraphQL operations (a few kB); uvicorn's default
        # accepts 16 MiB, which the document limits would refuse only after reading.
        "ws_max_size": 1024 * 1024,
        "timeout_graceful_shutdown": 10,
    }


def serve(host: str, port: int, workers: int, log_level: str, log_json: bool) -> None:
    import uvicorn

    from api.logs import configure_logging

    configure_logging(log_level, log_json)
    if workers <= 1:
        uvicorn.run(APP, host=host, port=port, **uvicorn_options())
        return
    _supervise(host, port, workers, log_level, log_json)


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _serve_one(host: str, port: int, log_level: str, log_json: bool) -> None:
    """One API process (the target of a spawned child)."""
    import uvicorn

    from api.logs import configure_logging

    configure_logging(log_level, log_json)
    sock = _reuse_port_socket(host, port)
    uvicorn.Server(uvicorn.Config(APP, **uvicorn_options())).run(sockets=[sock])


def _shared_metrics_directory() -> tuple[str, bool]:
    """Where the API processes write their metrics for /metrics to add up
    (prometheus-client's multiprocess mode): PROMETHEUS_MULTIPROC_DIR if set, else a
    fresh directory of this supervisor's. Set before the children start, since they
    read it when they define their metrics. Returns it, and whether it is ours."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in os.listdir(given):  # figures of processes of an earlier run
            if stale.endswith(".db"):
                os.unlink(os.path.join(given, stale))
        return given, False
    directory = tempfile.mkdtemp(prefix="oms-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory, True


def _exit_code(process: multiprocessing.process.BaseProcess) -> int | None:
    if process.is_alive():
        return None
    if process.pid is not None:
        # Its live gauges (sockets open, pool in use) no longer count.
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(process.pid)
    return process.exitcode


def _supervise(host: str, port: int, workers: int, log_level: str, log_json: bool) -> None:
    context = multiprocessing.get_context("spawn")
    stopping = False
    metrics_directory, ours = _shared_metrics_directory()

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_serve_one, args=(host, port, log_level, log_json), daemon=False
        )
        process.start()
        return process

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # One that dies is started again, after a delay that grows while it keeps dying
    # (database unreachable at startup...): api/supervise.py.
    children = [Child(f"API process {i + 1}", start, _exit_code) for i in range(workers)]
    for child in children:
        child.launch(time.monotonic())
    log.info("serving on %s:%d with %d processes", host, port, workers)
    while not stopping:
        time.sleep(0.5)
        for child in children:
            if not stopping:
                child.tend(time.monotonic())
    processes = [c.handle for c in children if c.handle is not None]
    for process in processes:
        if process.is_alive() and process.pid is not None:
            # uvicorn shuts down gracefully on SIGTERM (open requests finish).
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(15)
        if process.is_alive():
            process.kill()
            process.join()
    if ours:
        shutil.rmtree(metrics_directory, ignore_errors=True)
