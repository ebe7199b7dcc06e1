"""The embedded PostgreSQL and Redis that `make run` and `make test` start.

Real processes, real ports: each test gets its own servers under tmp_path.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest
import redis

from api.embedded import EmbeddedPostgres, EmbeddedRedis, free_port


def _gone(pid: int) -> bool:
    # Our servers are children of this process and stop() reaps them, so a
    # finished server leaves no pid behind at all (not even a zombie).
    return not psutil.pid_exists(pid)


def _exited(pid: int) -> bool:
    # A leftover server started by another object of this process stays a
    # zombie until that object's stop() reaps it; its parent process in real
    # life (a crashed `make run`) is dead, and nobody waits for it there.
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _tree(pid: int) -> list[int]:
    return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]


def _pg(url: str, sql: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(tmp_path / "pg") as pg:
        yield pg


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path / "redis") as server:
        yield server


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_postgres_serves_survives_restart_and_stops(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    url = pg.start()
    try:
        assert url == f"postgresql://postgres@127.0.0.1:{pg.port}/oms"
        assert pg.url == url
        assert _pg(url, "SELECT 1") == 1
        assert _pg(url, "SELECT current_database()") == "oms"
        # Durable defaults are kept; the settings we impose are applied.
        assert _pg(url, "SHOW fsync") == "on"
        assert _pg(url, "SHOW max_connections") == "200"
        assert _pg(url, "SHOW shared_buffers") == "128MB"
        assert _pg(url, "SHOW listen_addresses") == "127.0.0.1"
        assert (tmp_path / "pg" / "postgres.log").stat().st_size > 0

        _pg(url, "CREATE TABLE kept (id int PRIMARY KEY, note text)")
        _pg(url, "INSERT INTO kept VALUES (1, 'survives')")

        first = _tree(pg.pid or 0)
        pg.restart()
        assert pg.url == url  # same port: clients just reconnect
        assert all(_gone(pid) for pid in first)
        assert _pg(url, "SELECT note FROM kept WHERE id = 1") == "survives"

        # start() on a running server is a no-op.
        pid = pg.pid
        assert pg.start() == url
        assert pg.pid == pid
    finally:
        tree = _tree(pg.pid) if pg.pid else []
        pg.stop()
    assert pg.pid is None
    assert tree and all(_gone(pid) for pid in tree)
    pg.stop()  # idempotent

    # A new instance on the same data_dir (the next `make run`) finds the data.
    with EmbeddedPostgres(tmp_path / "pg") as again:
        assert _pg(again.url, "SELECT note FROM kept WHERE id = 1") == "survives"


def test_postgres_fast_mode_and_extra_databases(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "pg", durable=False, max_connections=50) as pg:
        assert _pg(pg.url, "SHOW fsync") == "off"
        assert _pg(pg.url, "SHOW synchronous_commit") == "off"
        assert _pg(pg.url, "SHOW full_page_writes") == "off"
        assert _pg(pg.url, "SHOW max_connections") == "50"

        url = pg.create_database('odd "name"')
        assert url.endswith("/odd%20%22name%22")
        assert _pg(url, "SELECT current_database()") == 'odd "name"'
        assert pg.create_database('odd "name"') == url  # exists: no error


def test_postgres_runs_in_its_own_session(postgres: EmbeddedPostgres) -> None:
    # A Ctrl-C in the terminal signals our process group only.
    pid = postgres.pid
    assert pid is not None
    assert os.getsid(pid) != os.getsid(0)
    assert os.getpgid(pid) != os.getpgid(0)


def test_postgres_start_replaces_leftover_server(tmp_path: Path) -> None:
    # An earlier run whose parent died without stopping its server.
    leftover = EmbeddedPostgres(tmp_path / "pg", durable=False)
    leftover.start()
    leftover_tree = _tree(leftover.pid or 0)
    _pg(leftover.url, "CREATE TABLE t (x int)")

    with EmbeddedPostgres(tmp_path / "pg", durable=False) as pg:
        assert all(_exited(pid) for pid in leftover_tree)
        assert _pg(pg.url, "SELECT count(*) FROM t") == 0
    leftover.stop()  # harmless on a server that is already gone
    assert leftover.pid is None
    assert all(_gone(pid) for pid in leftover_tree)


def test_postgres_start_ignores_stale_postmaster_pid(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "pg", durable=False) as pg:
        port = pg.port
    # A crash left postmaster.pid behind and its PID now belongs to another
    # process (common after a container restart): here, this test process.
    pid_file = tmp_path / "pg" / "pgdata" / "postmaster.pid"
    pid_file.write_text(
        f"{os.getpid()}\n{tmp_path / 'pg' / 'pgdata'}\n0\n{port}\n\n127.0.0.1\n0 0\nready\n"
    )
    with EmbeddedPostgres(tmp_path / "pg", port=port, durable=False) as pg:
        assert _pg(pg.url, "SELECT 1") == 1


def test_redis_serves_survives_restart_and_stops(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    try:
        assert url == f"redis://127.0.0.1:{server.port}/0"
        with redis.Redis.from_url(url) as client:
            assert client.ping()
            client.set("key", "value")
        first = server.pid
        assert first is not None
        assert os.getsid(first) != os.getsid(0)

        server.restart()
        assert server.url == url
        assert _gone(first)
        with redis.Redis.from_url(url) as client:
            assert client.get("key") == b"value"
        assert (tmp_path / "redis" / "appendonly.aof").exists()
        assert server.start() == url and server.pid is not None
    finally:
        pid = server.pid
        server.stop()
    assert pid is not None and _gone(pid)
    assert server.pid is None
    server.stop()  # idempotent

    with EmbeddedRedis(tmp_path / "redis") as again, redis.Redis.from_url(again.url) as client:
        assert client.get("key") == b"value"


def test_redis_fast_mode_keeps_nothing(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis", durable=False) as server:
        with redis.Redis.from_url(server.url) as client:
            client.set("key", "value")
        server.restart()
        with redis.Redis.from_url(server.url) as client:
            assert client.get("key") is None
    assert not (tmp_path / "redis" / "appendonly.aof").exists()
    assert not (tmp_path / "redis" / "dump.rdb").exists()


def test_redis_start_replaces_leftover_server(tmp_path: Path) -> None:
    leftover = EmbeddedRedis(tmp_path / "redis")
    leftover.start()
    with redis.Redis.from_url(leftover.url) as client:
        client.set("key", "value")
    leftover_pid = leftover.pid
    assert leftover_pid is not None

    # A different port, same data: the leftover was shut down cleanly (AOF
    # flushed) before the new server opened the same files.
    with EmbeddedRedis(tmp_path / "redis") as server:
        assert _exited(leftover_pid)
        with redis.Redis.from_url(server.url) as client:
            assert client.get("key") == b"value"
    leftover.stop()
    assert _gone(leftover_pid)


def test_fixtures_work_together(postgres: EmbeddedPostgres, redis_server: EmbeddedRedis) -> None:
    assert _pg(postgres.url, "SELECT 1") == 1
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.ping()


def test_postgres_long_data_dir_uses_short_socket_dir(tmp_path: Path) -> None:
    # Too long for a unix socket path (107 bytes): the socket goes elsewhere.
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "pg"
    with EmbeddedPostgres(deep, durable=False) as pg:
        assert _pg(pg.url, "SELECT 1") == 1
        socket_dir = Path(_pg(pg.url, "SHOW unix_socket_directories"))
        assert socket_dir != deep / "run"
        assert (socket_dir / f".s.PGSQL.{pg.port}").is_socket()
        assert len(str(socket_dir / f".s.PGSQL.{pg.port}")) <= 107
