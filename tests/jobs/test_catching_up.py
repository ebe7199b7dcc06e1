"""Deliveries catch up by themselves: the sweeps enqueue what is due and not queued (all
of it, not the oldest thousand, most of them queued already), and a job that meets a
transient database failure tries again promptly instead of waiting for a sweep."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from arq.connections import ArqRedis

import jobs.notifications as jn
from domain.db import UnitOfWork, driver_connection
from domain.notifications.delivery import send_job
from domain.webhooks import service as webhooks
from jobs.queue import ArqQueue
from jobs.webhooks import sweep_webhooks
from jobs.worker import shutdown, startup
from tests.fixtures import World
from tests.jobs.test_notifications import notifications, place_order, relayed
from tests.jobs.test_webhooks import fetch, subscribe
from tests.receivers import Receiver, SmtpServer, free_port
from tests.support import Api

BACKLOG = 1_500


@pytest.fixture(autouse=True)
def relay_only_when_the_test_says(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API process relays on its own (api/eventhub.py); here the tests do."""
    monkeypatch.setattr(app.state.runtime.services.extra["event_hub"], "_relay", None)


@pytest.fixture
async def job_ctx(
    servers: dict[str, str], arq_redis: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The worker's own ctx, with a short lock timeout."""
    monkeypatch.setenv("DATABASE_URL", servers["database_url"])
    monkeypatch.setenv("OMS_DB_LOCK_TIMEOUT_MS", "300")
    ctx: dict[str, Any] = {"redis": arq_redis}
    await startup(ctx)
    yield ctx
    await shutdown(ctx)


async def backlog(api: Api, world: World, sessionmaker: Any, receiver: Receiver) -> None:
    """BACKLOG events already in the stream (no relay takes them), each with a due
    webhook delivery and a due notification, oldest first."""
    await subscribe(api, world.admin, receiver.url(), ["ORDER_PLACED"])
    await place_order(api, world)
    await fetch(
        sessionmaker,
        "INSERT INTO order_events (order_id, channel_id, sequence, type, actor, payload, stream_seq)"
        " SELECT o.id, o.channel_id, 100 + n, 'ORDER_PLACED', 'test', '{}',"
        " nextval('order_event_stream_seq') FROM orders o, generate_series(1, $1) n",
        BACKLOG,
    )
    await fetch(
        sessionmaker,
        "INSERT INTO webhook_deliveries (subscription_id, event_id, topic, next_attempt_at)"
        " SELECT s.id, e.id, e.type, now() - interval '1 hour' + e.sequence * interval '1 ms'"
        " FROM webhook_subscriptions s, order_events e WHERE e.sequence > 100",
    )
    await fetch(
        sessionmaker,
        "INSERT INTO notifications (event_id, order_id, kind, recipient, next_attempt_at)"
        " SELECT e.id, e.order_id, 'ORDER_CONFIRMED', 'camille@example.com',"
        " now() - interval '1 hour' + e.sequence * interval '1 ms'"
        " FROM order_events e WHERE e.sequence > 100",
    )


async def test_the_sweeps_enqueue_every_due_delivery_not_queued_beyond_the_oldest_thousand(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    arq_redis: ArqRedis,
    job_ctx: dict[str, Any],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMS_SMTP_URL", "smtp://127.0.0.1:25")  # the sweep needs one set
    await backlog(api, world, sessionmaker, receiver)
    due = await fetch(
        sessionmaker,
        "SELECT d.id, d.attempts, n.id AS notification FROM webhook_deliveries d"
        " JOIN notifications n ON n.event_id = d.event_id ORDER BY d.next_attempt_at",
    )
    assert len(due) == BACKLOG
    # The oldest thousand are queued already (their jobs wait behind a busy worker).
    oldest = due[:1000]
    await queue.enqueue_many([webhooks.deliver_job(d["id"], d["attempts"]) for d in oldest])
    await queue.enqueue_many([send_job(d["notification"]) for d in oldest])
    assert await arq_redis.zcard("arq:queue") == 2000

    assert await sweep_webhooks(job_ctx) == BACKLOG - 1000
    assert await jn.sweep_notifications(job_ctx) == BACKLOG - 1000
    assert await arq_redis.zcard("arq:queue") == 2 * BACKLOG
    # Everything due is queued now: a second sweep adds nothing.
    assert await sweep_webhooks(job_ctx) == 0
    assert await jn.sweep_notifications(job_ctx) == 0

    # Redis restarted empty: everything due is enqueued again, at once.
    await arq_redis.flushdb()
    assert await sweep_webhooks(job_ctx) == BACKLOG
    assert await jn.sweep_notifications(job_ctx) == BACKLOG


async def test_a_job_whose_row_is_locked_elsewhere_tries_again_promptly(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    job_ctx: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp = SmtpServer(free_port())
    smtp.start()
    monkeypatch.setenv("OMS_SMTP_URL", smtp.url)
    monkeypatch.setenv("OMS_DB_LOCK_TIMEOUT_MS", "300")
    try:
        await place_order(api, world)
        [n] = await relayed(sessionmaker, queue, 1)
        # A stuck transaction holds the notification's row: the job's claim meets the
        # lock timeout, a transient failure.
        async with UnitOfWork(sessionmaker) as stuck:
            conn = await driver_connection(stuck.session)
            await conn.execute("SELECT 1 FROM notifications WHERE id = $1 FOR UPDATE", n["id"])
            worker = asyncio.create_task(run_jobs())
            await asyncio.sleep(2.0)
            assert smtp.inbox.messages == []
            released = time.monotonic()
        # Released: the job's own retry (backoff from half a second) sends it, without
        # waiting for a sweep.
        async with asyncio.timeout(20):
            await worker
        took = time.monotonic() - released
        assert len(smtp.inbox.messages) == 1
        [n] = await notifications(sessionmaker)
        assert (n["status"], n["attempts"]) == ("SENT", 1)
        assert took < 10, took
    finally:
        smtp.stop()
