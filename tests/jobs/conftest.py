"""Fixtures for worker tests: a real Redis for arq and a burst worker that runs the
queued jobs to completion with the worker's own startup (database engine)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from arq import Worker
from arq.connections import ArqRedis, RedisSettings, create_pool

from jobs.queue import ArqQueue


@pytest.fixture(autouse=True)
def worker_feed_root(feed_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs read the feed root from the environment, as the worker does: the app's."""
    monkeypatch.setenv("OMS_FEED_ROOT", str(feed_root))


@pytest.fixture
async def arq_redis(servers: dict[str, str]) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(servers["redis_url"]))
    await pool.flushdb()
    yield pool
    await pool.aclose()


@pytest.fixture
def queue(arq_redis: ArqRedis) -> ArqQueue:
    return ArqQueue(arq_redis)


@pytest.fixture
def run_jobs(
    arq_redis: ArqRedis, servers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """Run every queued job (and jobs they queue) until the queue is empty."""
    monkeypatch.setenv("DATABASE_URL", servers["database_url"])
    monkeypatch.setenv("REDIS_URL", servers["redis_url"])

    async def run(**overrides: Any) -> int:
        from jobs.worker import WorkerSettings

        settings = {
            "functions": WorkerSettings.functions,
            "on_startup": WorkerSettings.on_startup,
            "on_shutdown": WorkerSettings.on_shutdown,
            **overrides,
        }
        # The worker closes the pool it is given, so it gets one of its own.
        pool = await create_pool(RedisSettings.from_dsn(servers["redis_url"]))
        worker = Worker(
            redis_pool=pool, burst=True, poll_delay=0, max_jobs=20, handle_signals=False, **settings
        )
        try:
            await worker.main()
        finally:
            await worker.close()
        return worker.jobs_complete

    return run
