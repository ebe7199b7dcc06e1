"""Redis stopped for a while and restarted empty, PostgreSQL restarted under load: with
real server and worker processes, a real webhook receiver and SMTP server, nothing is
lost, clients get typed, retryable answers, and deliveries catch up promptly."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

from tests.conftest import EMBEDDED
from tests.e2e.load import Load, percentile, until
from tests.fixtures import World
from tests.jobs.test_webhooks import fetch, subscribe
from tests.receivers import Receiver, SmtpServer, free_port
from tests.support import Api

SKUS = ("TEE-BLUE-M", "MUG-STONE")
# The acceptance run stops Redis for 60 s; the suite, for less (same code paths).
REDIS_OUTAGE_SECONDS = float(os.environ.get("OMS_TEST_REDIS_OUTAGE_SECONDS", "20"))
CATCH_UP_SECONDS = 30.0


@pytest.fixture
def smtp() -> Any:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


async def stock(api: Api, world: World, on_hand: int = 1_000_000) -> None:
    data = await api.op(
        "SetStockLevels",
        {
            "input": {
                "location": "WH-LYON",
                "asOf": "2026-11-23T08:00:00Z",
                "levels": [{"sku": sku, "onHand": on_hand} for sku in SKUS],
            },
            "idempotencyKey": "outages-stock",
        },
        key=world.partner,
    )
    assert data["setStockLevels"]["userErrors"] == []


async def undelivered(sessionmaker: Any) -> tuple[int, int, int]:
    """(orders, webhook deliveries not DELIVERED, emails not SENT); every order placed
    has its ORDER_PLACED delivery and confirmation email once relayed."""
    [row] = await fetch(
        sessionmaker,
        "SELECT (SELECT count(*) FROM orders) AS orders,"
        " (SELECT count(*) FROM order_events WHERE type = 'ORDER_PLACED') AS placed,"
        " (SELECT count(*) FROM webhook_deliveries WHERE status = 'DELIVERED') AS delivered,"
        " (SELECT count(*) FROM notifications WHERE status = 'SENT') AS sent",
    )
    return row["orders"], row["placed"] - row["delivered"], row["placed"] - row["sent"]


async def all_delivered(sessionmaker: Any, receiver: Receiver, smtp: SmtpServer) -> bool:
    _, webhooks, emails = await undelivered(sessionmaker)
    return webhooks == 0 and emails == 0


def worker_env(smtp: SmtpServer) -> dict[str, str]:
    return {"OMS_SMTP_URL": smtp.url, "OMS_WEBHOOK_BACKOFF_SECONDS": "0.5"}


async def test_the_worker_rides_out_redis_stopped_and_restarted_empty(
    api: Api,
    world: World,
    sessionmaker: Any,
    receiver: Receiver,
    smtp: SmtpServer,
    start_server: Any,
    start_worker: Any,
) -> None:
    redis = EMBEDDED["redis"]
    if redis is None:
        pytest.fail("this test stops the session's own Redis; run without OMS_TEST_REDIS_URL")
    await stock(api, world)
    await subscribe(api, world.admin, receiver.url(), ["ORDER_PLACED"])
    server = start_server()
    worker = start_worker(**worker_env(smtp))
    load = Load(server.url, world.channel, SKUS, clients=2, pause=0.2).start()
    await asyncio.sleep(2)
    await until(lambda: all_delivered(sessionmaker, receiver, smtp), 30, "before the outage")

    redis.stop()
    try:
        outage_started = time.monotonic()
        # Orders keep being placed meanwhile; their deliveries wait in PostgreSQL.
        while time.monotonic() - outage_started < REDIS_OUTAGE_SECONDS:
            await asyncio.sleep(1)
            assert worker.alive(), worker.log()[-3000:]
    finally:
        redis.start()  # not durable: it comes back empty
    back = time.monotonic()
    answers = await load.finish()
    during = [a for a in answers if outage_started <= a.started < back]
    assert during and all(a.placed for a in during), [a for a in during if not a.placed][:3]
    orders, waiting_webhooks, waiting_emails = await undelivered(sessionmaker)
    assert waiting_webhooks > 0 and waiting_emails > 0  # some were due meanwhile

    took = await until(
        lambda: all_delivered(sessionmaker, receiver, smtp),
        CATCH_UP_SECONDS,
        f"deliveries after Redis returned ({worker.log()[-3000:]})",
    )
    print(
        f"\nRedis out {back - outage_started:.0f} s: {len(during)} orders placed meanwhile,"
        f" {waiting_webhooks} webhooks and {waiting_emails} emails waiting when it returned;"
        f" all delivered {took:.1f} s after"
    )
    # The same worker process throughout.
    assert worker.alive()
    assert "lost Redis" in worker.log()
    event_ids = {r.json()["id"] for r in receiver.requests}
    assert len(event_ids) == orders
    assert len({m["Message-ID"] for _, _, m in smtp.inbox.messages}) == orders


async def test_a_postgresql_restart_under_load_answers_json_503s_and_deliveries_resume(
    api: Api,
    world: World,
    sessionmaker: Any,
    receiver: Receiver,
    smtp: SmtpServer,
    start_server: Any,
    start_worker: Any,
) -> None:
    pg = EMBEDDED["pg"]
    if pg is None:
        pytest.fail(
            "this test restarts the session's own PostgreSQL; run without OMS_TEST_DATABASE_URL"
        )
    await stock(api, world)
    await subscribe(api, world.admin, receiver.url(), ["ORDER_PLACED"])
    server = start_server()
    worker = start_worker(**worker_env(smtp))
    load = Load(server.url, world.channel, SKUS, clients=4, retry=True).start()
    await asyncio.sleep(3)
    await asyncio.to_thread(pg.restart)
    restarted = time.monotonic()
    await asyncio.sleep(5)
    answers = await load.finish()

    refused = [a for a in answers if not a.placed]
    assert refused, "the restart should have refused some requests"
    for a in answers:
        assert a.status in (200, 503), a
        assert a.media_type in ("application/graphql-response+json", "application/json"), a
        if a.status == 503:
            assert a.retry_after is not None and int(a.retry_after) >= 1, a
            assert a.codes and set(a.codes) <= {"SERVICE_UNAVAILABLE"}, a
    after = [a for a in answers if a.started > restarted + 2]
    assert after and all(a.placed for a in after), [a for a in after if not a.placed][:3]

    took = await until(
        lambda: all_delivered(sessionmaker, receiver, smtp),
        CATCH_UP_SECONDS,
        f"deliveries after the restart ({worker.log()[-3000:]})",
    )
    placed = [a for a in answers if a.placed]
    latencies = [a.seconds for a in placed]
    print(
        f"\nPostgreSQL restarted under load: {len(placed)} orders placed, {len(refused)} answered"
        f" 503 (statuses {sorted({a.status for a in answers})}), p95 {percentile(latencies, 95):.2f} s;"
        f" every delivery done {took:.1f} s after the restart"
    )
    # Every order asked for was placed once in the end (refused ones were sent again).
    ids = {a.external_id for a in answers}
    assert {a.external_id for a in placed} == ids
    orders, _, _ = await undelivered(sessionmaker)
    assert orders == len(ids)
    assert worker.alive()
