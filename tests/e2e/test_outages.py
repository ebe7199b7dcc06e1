"""Redis stopped for a while and restarted empty, PostgreSQL restarted under load: with
real server and worker processes, a real webhook receiver and SMTP server, nothing is
lost, clients get typed, retryable answers, and deliveries catch up promptly."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import time
from typing import Any

import httpx
import pytest
from arq.connections import RedisSettings, create_pool

from tests.conftest import EMBEDDED, Clock
from tests.e2e.load import Load, percentile, until
from tests.fixtures import World, variables
from tests.jobs.test_webhooks import fetch, subscribe
from tests.receivers import Receiver, SmtpServer, free_port
from tests.support import Api

SKUS = ("TEE-BLUE-M", "MUG-STONE")
# The acceptance run stops Redis for 60 s; the suite, for less (same code paths).
REDIS_OUTAGE_SECONDS = float(os.environ.get("OMS_TEST_REDIS_OUTAGE_SECONDS", "20"))
# The target is 30 s after the outage ends (the tests print what they took); the
# assertion allows twice that, since on a 2-core machine shared with other suites a
# PostgreSQL restart alone took most of it.
CATCH_UP_SECONDS = 60.0


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


async def waiting(sessionmaker: Any) -> list[dict[str, Any]]:
    """What is not delivered yet, for a failure's message."""
    return await fetch(
        sessionmaker,
        "SELECT 'webhook' AS kind, id, status, attempts, next_attempt_at - now() AS due_in,"
        " last_error FROM webhook_deliveries WHERE status <> 'DELIVERED'"
        " UNION ALL SELECT 'email', id, status, attempts, next_attempt_at - now(), last_error"
        " FROM notifications WHERE status <> 'SENT' ORDER BY 1, 2 LIMIT 20",
    )


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
        async with httpx.AsyncClient(base_url=server.url) as client:
            ready = await client.get("/readyz")
        assert ready.status_code == 200  # degraded, not out of service
        assert ready.json()["status"] == "degraded"
        deps = ready.json()["dependencies"]
        assert (deps["postgres"]["status"], deps["redis"]["status"]) == ("ok", "unavailable")
        assert "nothing is lost" in deps["redis"]["impact"]
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

    # Some requests are refused while it restarts, unless their own retries outlast it
    # (the refusals themselves: test_while_postgresql_is_down_...).
    refused = [a for a in answers if not a.placed]
    for a in answers:
        assert a.status in (200, 503), a
        assert a.media_type in ("application/graphql-response+json", "application/json"), a
        if a.status == 503:
            assert a.retry_after is not None and int(a.retry_after) >= 1, a
            assert a.codes and set(a.codes) <= {"SERVICE_UNAVAILABLE"}, a
    after = [a for a in answers if a.started > restarted + 2]
    assert after and all(a.placed for a in after), [a for a in after if not a.placed][:3]

    try:
        took = await until(
            lambda: all_delivered(sessionmaker, receiver, smtp), CATCH_UP_SECONDS, "deliveries"
        )
    except AssertionError as exc:
        left = await waiting(sessionmaker)
        raise AssertionError(f"{exc}: {left}\n{worker.log()[-3000:]}") from None
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


async def test_while_postgresql_is_down_every_answer_is_a_json_503_with_retry_after(
    api: Api, world: World, start_server: Any, clock: Clock
) -> None:
    pg = EMBEDDED["pg"]
    if pg is None:
        pytest.fail(
            "this test stops the session's own PostgreSQL; run without OMS_TEST_DATABASE_URL"
        )
    await stock(api, world)
    server = start_server()  # no authentication cache: every request looks its key up
    query = {"query": "{ orders(first: 1) { totalCount } }"}
    auth = {"Authorization": f"Bearer {world.channel}"}
    # A customer's token is checked without the database: its query fails in a resolver.
    clock.set(dt.datetime.now(dt.UTC))  # the server's clock is the real one
    customer = {"Authorization": f"Bearer {await world.customer_token(api)}"}
    order = {"query": '{ order(id: "T3JkZXI6MQ") { id } }'}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        assert (await client.post("/graphql", json=query, headers=auth)).status_code == 200
    await asyncio.to_thread(pg.stop)
    # A new client: stopping PostgreSQL takes longer than the server keeps an idle
    # connection open.
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        try:
            answers = [
                await client.post("/graphql", json=query, headers=auth),  # key lookup fails
                await client.post("/graphql", json=order, headers=customer),
                await client.get("/shipments/1/packing-slip.pdf", headers=auth),
            ]
            ready = await client.get("/readyz")
            health = await client.get("/healthz")
        finally:
            await asyncio.to_thread(pg.start)
        for response in answers:
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].split(";")[0].endswith("json"), response
            assert int(response.headers["retry-after"]) >= 1
            [error] = response.json()["errors"]
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
            assert error["extensions"]["retryable"] is True
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert ready.json()["dependencies"]["postgres"]["status"] == "unavailable"
        assert health.status_code == 200

        async def answers_again() -> bool:
            return (await client.post("/graphql", json=query, headers=auth)).status_code == 200

        await until(answers_again, 15, "answers once PostgreSQL is back")


async def jobs_queued(redis_url: str, sessionmaker: Any) -> bool:
    """Whether the jobs of every delivery and email there is are in Redis."""
    rows = await fetch(
        sessionmaker,
        "SELECT 'webhook:' || id || ':0' AS job FROM webhook_deliveries"
        " UNION ALL SELECT 'notification:' || id || ':0' FROM notifications",
    )
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        found = [await redis.exists(f"arq:job:{r['job']}") for r in rows]
    finally:
        await redis.aclose()
    return len(found) == 2 and all(found)


async def test_jobs_lost_with_a_redis_restarted_behind_the_workers_back_are_swept(
    api: Api,
    world: World,
    sessionmaker: Any,
    receiver: Receiver,
    smtp: SmtpServer,
    start_worker: Any,
    servers: dict[str, str],
) -> None:
    redis = EMBEDDED["redis"]
    if redis is None:
        pytest.fail("this test restarts the session's own Redis; run without OMS_TEST_REDIS_URL")
    await stock(api, world)
    await subscribe(api, world.admin, receiver.url(), ["ORDER_PLACED"])
    worker = start_worker(**worker_env(smtp))
    await asyncio.sleep(3)  # started, its first sweeps done
    # The worker frozen, an order's jobs are queued (by this process's relay), then lost:
    # Redis restarts, empty, before the worker looks again.
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        v = variables("PlaceOrder")
        v["input"]["customer"]["email"] = "restart@example.com"
        assert (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]["userErrors"] == []
        await until(lambda: jobs_queued(servers["redis_url"], sessionmaker), 10, "jobs queued")
        await asyncio.to_thread(redis.restart)
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    took = await until(
        lambda: all_delivered(sessionmaker, receiver, smtp),
        CATCH_UP_SECONDS,
        f"deliveries after the restart ({worker.log()[-3000:]})",
    )
    print(f"\nRedis restarted behind the worker's back: delivered {took:.1f} s after")
    assert worker.alive()

    async def noticed() -> bool:
        return "lost Redis" in worker.log() or "Redis restarted" in worker.log()

    await until(noticed, 10, f"the worker noticing ({worker.log()[-2000:]})")
