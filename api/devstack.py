"""`oms dev` (what `make run` runs): the whole service on one machine.

Starts a private PostgreSQL and Redis under OMS_DATA_DIR unless DATABASE_URL and
REDIS_URL point elsewhere, migrates, loads demo data on first start, then runs the API
and the worker as child processes until Ctrl-C (or SIGTERM), restarting either if it
dies (api/supervise.py), and stops everything it started. Data lives in OMS_DATA_DIR
and survives restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from types import FrameType

from api.settings import Settings, forget_dev_servers, write_dev_servers
from api.supervise import Child
from domain.access.keys import chosen_secret_problem

PG_PORT_DEFAULT = 55432
REDIS_PORT_DEFAULT = 56379


def _port_free(port: int) -> bool:
    """Nothing listens on the port. SO_REUSEADDR as the servers themselves bind: the
    connections a stopped server leaves in TIME_WAIT do not make its port busy (without
    it, `make run` just restarted moved PostgreSQL and Redis to random ports)."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (our own loopback URL)
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def _stop(procs: list[subprocess.Popen[bytes]], timeout: float = 15) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            proc.wait(remaining)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_dev(settings: Settings) -> int:
    from api.cli import migrate
    from api.demo import DEMO_KEYS, seed

    if settings.admin_key is not None:
        problem = chosen_secret_problem(settings.admin_key)
        if problem is not None:
            # Refused before anything starts: a key that could never authenticate would
            # otherwise be stored and announced as the admin key.
            print(f"OMS_ADMIN_KEY is not usable as an API key: {problem}", file=sys.stderr)
            return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stack = contextlib.ExitStack()
    env = dict(os.environ)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with stack:
        # Servers given in the environment, else private ones (never the URLs a previous
        # `oms dev` left in the data directory: it may have been killed).
        if env.get("DATABASE_URL"):
            database_url = env["DATABASE_URL"]
        else:
            from api.embedded import EmbeddedPostgres

            port = int(env.get("OMS_PG_PORT", PG_PORT_DEFAULT))
            pg = EmbeddedPostgres(
                settings.data_dir / "postgres", port if _port_free(port) else None
            )
            database_url = pg.start()
            stack.callback(pg.stop)
        if env.get("REDIS_URL"):
            redis_url = env["REDIS_URL"]
        else:
            from api.embedded import EmbeddedRedis

            port = int(env.get("OMS_REDIS_PORT", REDIS_PORT_DEFAULT))
            redis = EmbeddedRedis(settings.data_dir / "redis", port if _port_free(port) else None)
            redis_url = redis.start()
            stack.callback(redis.stop)
        env.update(DATABASE_URL=database_url, REDIS_URL=redis_url)
        # `oms` commands run in another terminal find these servers through the data
        # directory (Settings.from_env), whatever ports they got.
        write_dev_servers(settings.data_dir, database_url, redis_url)
        stack.callback(forget_dev_servers, settings.data_dir)
        # Links in customer emails point at this development server.
        env.setdefault("OMS_PUBLIC_URL", f"http://{settings.host}:{settings.port}")

        migrate(database_url)
        summary = asyncio.run(seed(database_url, force=False))
        if settings.admin_key:
            asyncio.run(_ensure_admin_key(database_url, settings.admin_key))

        port = settings.port
        python = sys.executable

        def child(name: str, command: str) -> Child[subprocess.Popen[bytes]]:
            # Children get Ctrl-C from the terminal too; we wait for them either way.
            return Child(
                name,
                lambda: subprocess.Popen([python, "-m", "api", command], env=env),  # noqa: S603
                lambda proc: proc.poll(),
            )

        children = [child("the API", "serve"), child("the worker", "worker")]
        api = children[0].launch(time.monotonic())
        children[1].launch(time.monotonic())
        stack.callback(lambda: _stop([c.handle for c in children if c.handle is not None]))

        base = f"http://{settings.host}:{port}"
        if not _wait_healthy(f"{base}/healthz", api):
            print("the API did not start; see the log above", file=sys.stderr)
            return 1
        print(
            "\n".join(
                [
                    "",
                    f"OMS is running. GraphQL: {base}/graphql  (GraphiQL in a browser)",
                    f"  PostgreSQL: {database_url}",
                    f"  Redis:      {redis_url}",
                    f"  Demo data:  {summary}",
                    "  Demo API keys (development only):",
                    *(
                        f"    {label:<28} {secret}  ({role})"
                        for label, (role, secret) in DEMO_KEYS.items()
                    ),
                    *(
                        ["    OMS_ADMIN_KEY              (your secret)  (admin)"]
                        if settings.admin_key
                        else []
                    ),
                    "Ctrl-C stops everything.",
                    "",
                ]
            ),
            flush=True,
        )
        # Until Ctrl-C: a child that dies is started again (api/supervise.py); the
        # other keeps running meanwhile.
        while not stopping:
            time.sleep(0.2)
            for c in children:
                c.tend(time.monotonic())
    return 0


async def _ensure_admin_key(database_url: str, secret: str) -> None:
    from domain.access.keys import ensure_admin_key
    from domain.db import UnitOfWork, create_engine, create_sessionmaker

    engine = create_engine(database_url, pool_size=1)
    try:
        async with UnitOfWork(create_sessionmaker(engine)) as uow:
            await ensure_admin_key(uow.session, secret)
    finally:
        await engine.dispose()
