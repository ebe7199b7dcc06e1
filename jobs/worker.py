"""The arq worker: its settings, startup and the jobs it runs.

Jobs take ids, not objects, and are safe to run twice (arq may retry a job whose
worker died mid-way).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from arq import cron
from arq.connections import RedisSettings

from domain.db import UnitOfWork, create_engine, create_sessionmaker
from domain.idempotency import purge_expired

log = logging.getLogger("oms.jobs")


async def startup(ctx: dict[str, Any]) -> None:
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=5)
    ctx["engine"] = engine
    ctx["sessionmaker"] = create_sessionmaker(engine)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["engine"].dispose()


async def purge_expired_idempotency_keys(ctx: dict[str, Any]) -> int:
    """Idempotency keys live 24 hours; drop the expired ones."""
    async with UnitOfWork(ctx["sessionmaker"]) as uow:
        count = await purge_expired(uow.session, dt.datetime.now(dt.UTC))
    log.info("purged expired idempotency keys", extra={"count": count})
    return count


def redis_settings() -> RedisSettings:
    return RedisSettings.from_dsn(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


class WorkerSettings:
    functions = [purge_expired_idempotency_keys]
    cron_jobs = [cron(purge_expired_idempotency_keys, minute={7}, run_at_startup=False)]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    health_check_interval = 10
    max_jobs = 20
