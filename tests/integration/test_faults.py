"""Bounded waits on real connections, and how each real failure is classified
(domain/faults.py): what the API retries, answers as retryable, or lets through."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from domain.db import UnitOfWork, Waits, create_engine, create_sessionmaker, driver_connection
from domain.faults import Fault, fault_of, retry_in_request


@pytest.fixture
async def short_waits(pg_server: str) -> Any:
    engine = create_engine(
        pg_server,
        pool_size=3,
        waits=Waits(lock_timeout_ms=300, statement_timeout_ms=500, idle_in_transaction_ms=800),
    )
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_every_connection_starts_with_its_waits(short_waits: Any) -> None:
    async with UnitOfWork(short_waits) as uow:
        conn = await driver_connection(uow.session)
        settings = await conn.fetchrow(
            "SELECT current_setting('lock_timeout') AS lock,"
            " current_setting('statement_timeout') AS statement,"
            " current_setting('idle_in_transaction_session_timeout') AS idle,"
            " current_setting('tcp_keepalives_idle') AS keepalive"
        )
    assert dict(settings) == {
        "lock": "300ms",
        "statement": "500ms",
        "idle": "800ms",
        "keepalive": "30",
    }


async def test_a_lock_held_elsewhere_is_a_lock_timeout_answered_at_once(
    short_waits: Any, sessionmaker: Any
) -> None:
    async with UnitOfWork(sessionmaker) as holder:
        conn = await driver_connection(holder.session)
        await conn.execute("SELECT pg_advisory_xact_lock(4242)")
        started = time.monotonic()
        with pytest.raises(Exception) as caught:
            async with UnitOfWork(short_waits) as uow:
                await (await driver_connection(uow.session)).execute(
                    "SELECT pg_advisory_xact_lock(4242)"
                )
        waited = time.monotonic() - started
    assert fault_of(caught.value) is Fault.LOCK_TIMEOUT
    assert retry_in_request(caught.value, 0) is None  # answered, not waited for again
    assert 0.25 < waited < 2.0


async def test_a_long_statement_is_a_timeout(short_waits: Any) -> None:
    with pytest.raises(Exception) as caught:
        async with UnitOfWork(short_waits) as uow:
            await (await driver_connection(uow.session)).execute("SELECT pg_sleep(3)")
    assert fault_of(caught.value) is Fault.TIMEOUT


async def test_a_session_idle_in_its_transaction_is_ended_and_its_locks_freed(
    short_waits: Any, sessionmaker: Any
) -> None:
    stuck = UnitOfWork(short_waits)
    await stuck.__aenter__()
    conn = await driver_connection(stuck.session)
    await conn.execute("SELECT pg_advisory_xact_lock(4243)")
    await asyncio.sleep(1.5)  # a stopped process: nothing sent
    # The server ended the session: its lock is free for others...
    async with UnitOfWork(sessionmaker) as other:
        assert await (await driver_connection(other.session)).fetchval(
            "SELECT pg_try_advisory_xact_lock(4243)"
        )
    # ...and the stuck one finds out when it wakes: its connection is gone, retryable.
    with pytest.raises(Exception) as caught:
        await conn.execute("SELECT 1")
    assert fault_of(caught.value) is Fault.UNAVAILABLE
    with pytest.raises(Exception):  # noqa: B017 (the rollback of a dead connection)
        await stuck.__aexit__(None, None, None)


async def test_a_terminated_connection_is_unavailable_and_retried(
    short_waits: Any, sessionmaker: Any
) -> None:
    with pytest.raises(Exception) as caught:
        async with UnitOfWork(short_waits) as uow:
            conn = await driver_connection(uow.session)
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            async with UnitOfWork(sessionmaker) as admin:
                await (await driver_connection(admin.session)).execute(
                    "SELECT pg_terminate_backend($1)", pid
                )
            await conn.execute("SELECT 1")
    assert fault_of(caught.value) is Fault.UNAVAILABLE
    assert retry_in_request(caught.value, 0) is not None


async def test_a_deadlock_is_a_conflict_run_again_at_once(sessionmaker: Any) -> None:
    async def one(first: int, second: int, ready: asyncio.Barrier) -> None:
        async with UnitOfWork(sessionmaker) as uow:
            conn = await driver_connection(uow.session)
            await conn.execute("SELECT pg_advisory_xact_lock($1)", first)
            await ready.wait()
            await conn.execute("SELECT pg_advisory_xact_lock($1)", second)

    ready = asyncio.Barrier(2)
    results = await asyncio.gather(one(1, 2, ready), one(2, 1, ready), return_exceptions=True)
    [failure] = [r for r in results if isinstance(r, BaseException)]
    assert fault_of(failure) is Fault.CONFLICT
    assert retry_in_request(failure, 0) == 0.0


def test_what_is_not_a_database_fault_is_not_transient() -> None:
    assert fault_of(ValueError("bad input")) is None
    assert fault_of(FileNotFoundError(2, "no such file")) is None
    assert retry_in_request(RuntimeError("bug"), 0) is None
