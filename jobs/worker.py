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

from domain.db import (
    UnitOfWork,
    Waits,
    create_engine,
    create_read_sessionmaker,
    create_sessionmaker,
)
from domain.idempotency import purge_expired
from jobs.alerts import FUNCTIONS as ALERT_FUNCTIONS
from jobs.notifications import CRON_JOBS as NOTIFICATION_CRON_JOBS
from jobs.notifications import FUNCTIONS as NOTIFICATION_FUNCTIONS
from jobs.outbound import guard_from_env
from jobs.publishing import CRON_JOBS as PUBLISHING_CRON_JOBS
from jobs.publishing import FUNCTIONS as PUBLISHING_FUNCTIONS
from jobs.resilience import Destinations
from jobs.webhooks import CRON_JOBS as WEBHOOK_CRON_JOBS
from jobs.webhooks import FUNCTIONS as WEBHOOK_FUNCTIONS
from jobs.webhooks import http_client as webhook_http_client

log = logging.getLogger("oms.jobs")

DEFAULT_MAX_JOBS = 100


async def startup(ctx: dict[str, Any]) -> None:
    # The same bounded waits as the API's (OMS_DB_*): the jobs' own transactions that
    # need other bounds say so where they start (domain.db.set_local).
    waits = Waits.from_env(os.environ)
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=5, waits=waits)
    ctx["waits"] = waits
    ctx["engine"] = engine
    ctx["sessionmaker"] = create_sessionmaker(engine)
    # Claims and outcomes of deliveries: statements atomic on their own, so no BEGIN and
    # COMMIT around them, and their commits do not wait for the disk (synchronous_commit
    # off): a crash of PostgreSQL may lose the last fraction of a second of them, which
    # sends those deliveries again (they are at least once, receivers dedupe on the
    # event id), never loses one. Two fsyncs a delivery were most of its latency on a
    # busy disk (bench/delivery.py).
    bookkeeping = create_engine(
        os.environ["DATABASE_URL"],
        pool_size=10,
        waits=waits,
        autocommit=True,
        settings={"synchronous_commit": "off"},
    )
    ctx["bookkeeping_engine"] = bookkeeping
    ctx["autocommit"] = create_read_sessionmaker(bookkeeping)
    # Where jobs may send data (OMS_OUTBOUND_PUBLIC_ONLY, OMS_OUTBOUND_ALLOW, OMS_FEED_ROOT):
    # read once, so a bad allow-list stops the worker at startup.
    ctx["outbound"] = guard_from_env()
    # Requests at once per receiver (OMS_DELIVERY_CONCURRENCY), and one HTTP client for
    # every webhook attempt: its connections to a receiver are kept alive between them.
    ctx["destinations"] = Destinations.from_env()
    ctx["webhook_http"] = webhook_http_client(ctx)
    ctx["webhook_http_guard"] = ctx["outbound"]
    # SMTP sessions kept open between emails, per server (jobs/smtp_sessions.py).
    ctx["smtp_sessions"] = {}


async def shutdown(ctx: dict[str, Any]) -> None:
    for sessions in ctx["smtp_sessions"].values():
        await sessions.close()
    await ctx["webhook_http"].aclose()
    await ctx["bookkeeping_engine"].dispose()
    await ctx["engine"].dispose()


async def purge_expired_idempotency_keys(ctx: dict[str, Any]) -> int:
    """Idempotency keys live 24 hours; drop the expired ones."""
    async with UnitOfWork(ctx["sessionmaker"]) as uow:
        count = await purge_expired(uow.session, dt.datetime.now(dt.UTC))
    log.info("purged expired idempotency keys", extra={"count": count})
    return count


async def relay_events(ctx: dict[str, Any]) -> int:
    """Stamp and fan out committed events. API processes relay on every NOTIFY; this
    cron is the worker's own pass, so jobs still flow when no API process runs."""
    from jobs.queue import ArqQueue
    from jobs.relay import relay_once

    total = 0
    while True:
        batch = await relay_once(ctx["sessionmaker"], ArqQueue(ctx["redis"]))
        if batch is None:  # another process is relaying
            return total
        total += len(batch)
        if len(batch) < 1000:
            return total


def redis_settings() -> RedisSettings:
    return RedisSettings.from_dsn(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


def max_jobs_from_env() -> int:
    """OMS_WORKER_MAX_JOBS: jobs one worker process runs at once. Deliveries spend most
    of their time waiting on receivers, so many at once cost little."""
    return max(1, int(os.environ.get("OMS_WORKER_MAX_JOBS", "") or DEFAULT_MAX_JOBS))


class WorkerSettings:
    functions = [
        purge_expired_idempotency_keys,
        relay_events,
        *NOTIFICATION_FUNCTIONS,
        *WEBHOOK_FUNCTIONS,
        *PUBLISHING_FUNCTIONS,
        *ALERT_FUNCTIONS,
    ]
    cron_jobs = [
        cron(purge_expired_idempotency_keys, minute={7}, run_at_startup=False),
        cron(
            relay_events, second=set(range(0, 60, 5)), run_at_startup=True, unique=True, timeout=60
        ),
        *NOTIFICATION_CRON_JOBS,
        *WEBHOOK_CRON_JOBS,
        *PUBLISHING_CRON_JOBS,
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    # The worker's heartbeat in Redis (the API's /readyz reads it).
    health_check_interval = 10
    max_jobs = max_jobs_from_env()
    # How often the queue is looked at: the delay between a job's enqueueing and its
    # start (arq's default, 0.5 s, was a fifth of a webhook's latency).
    poll_delay = 0.1
