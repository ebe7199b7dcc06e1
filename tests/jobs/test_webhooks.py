"""Webhooks to a real HTTP receiver on loopback: signed, once, retried with backoff,
dead after the last try, replayable, and not lost while Redis is down or a worker dies."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import socket
from typing import Any

import orjson
import pytest
from arq.connections import ArqRedis

from domain.db import UnitOfWork, driver_connection
from domain.order.events import append_event
from domain.ports import Job
from domain.webhooks import delivery as webhook_delivery
from domain.webhooks import service as webhooks
from jobs.queue import ArqQueue
from jobs.relay import CONSUMERS, relay_once
from jobs.webhooks import deliver_webhook, sweep_webhooks
from schema.base import to_global_id
from tests.fixtures import World, make_key, variables
from tests.receivers import Receiver, verify_signature
from tests.support import Api

SET = """mutation ($input: SetStockLevelsInput!, $idempotencyKey: String!) {
  setStockLevels(input: $input, idempotencyKey: $idempotencyKey) { userErrors { code } } }"""
DELIVERIES = """query($status: WebhookDeliveryStatus) { webhookDeliveries(status: $status) {
  edges { node { id eventId topic status attempts lastStatusCode lastError nextAttemptAt deliveredAt } } } }"""
REPLAY = """mutation($id: ID!) { replayWebhookDelivery(id: $id) {
  webhookDelivery { status attempts } userErrors { code } } }"""
_counts = itertools.count()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # 10 s, 30 s, 2 min ... scaled down to 20 ms, 60 ms, 240 ms ...
    monkeypatch.setenv("OMS_WEBHOOK_BACKOFF_SECONDS", "0.02")


@pytest.fixture(autouse=True)
def relay_only_when_the_test_says(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API process relays committed events on its own (api/eventhub.py); here each
    test runs the relay itself, with the queue it chooses (a broken one, none...)."""
    hub = app.state.runtime.services.extra.get("event_hub")
    if hub is not None and hasattr(hub, "_relay"):
        monkeypatch.setattr(hub, "_relay", None)


@pytest.fixture
def job_ctx(sessionmaker: Any, arq_redis: ArqRedis) -> dict[str, Any]:
    """What the worker gives a job, to call job functions directly."""
    return {"sessionmaker": sessionmaker, "redis": arq_redis}


class RedisDown:
    async def enqueue(self, job: Job) -> None:
        raise ConnectionError("Redis is down")


# --- helpers ------------------------------------------------------------------------


async def subscribe(api: Api, key: str, url: str, topics: list[str]) -> tuple[str, str]:
    data = await api.op(
        "CreateWebhookSubscription", {"input": {"url": url, "topics": topics}}, key=key
    )
    payload = data["createWebhookSubscription"]
    assert payload["userErrors"] == []
    return payload["webhookSubscription"]["id"], payload["secret"]


async def place_order(api: Api, world: World, external_id: str = "WEB-100045") -> dict[str, Any]:
    as_of = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=next(_counts))
    stocked = await api.run(
        SET,
        {
            "input": {
                "location": "WH-LYON",
                "asOf": as_of.isoformat(),
                "levels": [
                    {"sku": "TEE-BLUE-M", "onHand": 140},
                    {"sku": "MUG-STONE", "onHand": 36},
                ],
            },
            "idempotencyKey": f"webhook-stock-{as_of.isoformat()}",
        },
        key=world.partner,
    )
    assert stocked["setStockLevels"]["userErrors"] == []
    v = variables("PlaceOrder")
    v["input"]["externalId"] = external_id
    v["idempotencyKey"] = f"web-fr:{external_id}"
    placed = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]
    assert placed["userErrors"] == []
    return dict(placed["order"])


async def location_id(api: Api, world: World, code: str) -> str:
    """A location's global id, as the API gives it."""
    data = await api.run("{ locations { id code } }", key=world.admin)
    return next(str(x["id"]) for x in data["locations"] if x["code"] == code)


async def fetch(sessionmaker: Any, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def deliveries(sessionmaker: Any) -> list[dict[str, Any]]:
    return await fetch(
        sessionmaker,
        "SELECT id, subscription_id, event_id, topic, status, attempts, last_status_code,"
        " last_error, delivered_at FROM webhook_deliveries ORDER BY id",
    )


async def queued_jobs(arq_redis: ArqRedis) -> int:
    return int(await arq_redis.zcard("arq:queue"))


# --- tests --------------------------------------------------------------------------


def test_the_relay_knows_the_webhook_consumer() -> None:
    assert webhooks.fan_out in CONSUMERS


def test_backoff_schedule() -> None:
    assert [webhooks.backoff_seconds(n) for n in range(1, 10)] == [
        10,
        30,
        120,
        600,
        1800,
        3600,
        10800,
        21600,
        21600,
    ]
    assert webhooks.backoff_seconds(2, base=1.0) == 3.0


async def test_an_order_placed_reaches_the_subscriber_once_signed(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    receiver: Receiver,
) -> None:
    sub_id, secret = await subscribe(api, world.admin, receiver.url(), ["ORDER_PLACED"])
    order = await place_order(api, world)
    await relay_once(sessionmaker, queue, patience=10)
    await run_jobs()

    [request] = receiver.requests
    [event] = await fetch(
        sessionmaker,
        "SELECT id, stream_seq, payload::text AS payload FROM order_events",
    )
    [delivery] = await deliveries(sessionmaker)
    assert request.path == "/hook"
    assert verify_signature(secret, request.headers, request.body)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-oms-event-id"] == str(event["id"])
    assert request.headers["x-oms-topic"] == "ORDER_PLACED"
    assert request.headers["x-oms-delivery-id"] == str(delivery["id"])
    assert request.json() == {
        "id": event["id"],
        "topic": "ORDER_PLACED",
        "orderId": order["id"],
        "sequence": 1,
        "globalSequence": event["stream_seq"],
        "occurredAt": "2026-11-23T09:00:00Z",  # the API's clock in tests
        "actor": "channel:web-fr storefront",
        # Ids are the API's global ids, as node(id:) takes them.
        "data": {
            "status": "CONFIRMED",
            "externalId": "WEB-100045",
            "total": "66.70",
            "currency": "EUR",
            "skus": {"TEE-BLUE-M": 2, "MUG-STONE": 1},
            "locationIds": [await location_id(api, world, "WH-LYON")],
            "shipments": [
                {
                    "shipmentId": shipment["id"],
                    "locationId": await location_id(api, world, "WH-LYON"),
                    "method": "SHIP",
                    "status": "ALLOCATED",
                }
                for shipment in order["shipments"]
            ],
        },
    }
    assert orjson.loads(event["payload"])["externalId"] == "WEB-100045"
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "DELIVERED",
        1,
        200,
    )
    assert delivery["delivered_at"] is not None
    assert sub_id == to_global_id("WebhookSubscription", delivery["subscription_id"])

    # The subscriber's own view.
    [edge] = (await api.run(DELIVERIES, {}, key=world.admin))["webhookDeliveries"]["edges"]
    assert edge["node"]["status"] == "DELIVERED"
    assert edge["node"]["nextAttemptAt"] is None
    assert edge["node"]["eventId"] == str(event["id"])

    # Relaying and running again delivers nothing more.
    await relay_once(sessionmaker, queue, patience=10)
    await run_jobs()
    assert len(receiver.requests) == 1


async def test_each_subscriber_gets_the_events_it_may_see(
    api: Api, world: World, sessionmaker: Any, receiver: Receiver
) -> None:
    topics = ["ORDER_PLACED", "SHIPMENT_STATUS_CHANGED"]
    subs = {
        "admin": await subscribe(api, world.admin, receiver.url("/admin"), topics),
        "channel": await subscribe(api, world.channel, receiver.url("/channel"), topics),
        "channel-cancellations": await subscribe(
            api, world.channel, receiver.url("/cancel"), ["ORDER_CANCELLED"]
        ),
        "other-channel": await subscribe(api, world.other_channel, receiver.url("/other"), topics),
        "partner": await subscribe(api, world.partner, receiver.url("/lyon"), topics),
        "other-partner": await subscribe(api, world.other_partner, receiver.url("/paris"), topics),
    }
    revoked_key = await make_key(sessionmaker, "PARTNER", "Lyon old WMS", locations=["WH-LYON"])
    subs["revoked"] = await subscribe(api, revoked_key, receiver.url("/revoked"), topics)
    # A channel's subscription belongs to the channel: rotating the key that made it
    # does not silence it. A partner's belongs to its key (its binding to locations).
    rotated_key = await make_key(sessionmaker, "CHANNEL", "web-fr old key", channel="web-fr")
    subs["channel-rotated"] = await subscribe(
        api, rotated_key, receiver.url("/rotated"), ["ORDER_PLACED"]
    )
    await fetch(
        sessionmaker,
        "UPDATE api_keys SET revoked_at = now() WHERE name IN ('Lyon old WMS', 'web-fr old key')",
    )

    order = await place_order(api, world)
    [row] = await fetch(
        sessionmaker,
        "SELECT o.id, o.channel_id, s.id AS shipment_id, s.location_id FROM orders o"
        " JOIN shipments s ON s.order_id = o.id WHERE o.number = $1",
        order["number"],
    )
    async with UnitOfWork(sessionmaker) as uow:
        await append_event(
            await driver_connection(uow.session),
            order_id=row["id"],
            channel_id=row["channel_id"],
            type="SHIPMENT_STATUS_CHANGED",
            actor="partner:Lyon WMS",
            payload={
                "shipmentId": row["shipment_id"],
                "locationId": row["location_id"],
                "status": "PICKING",
                "from": "ALLOCATED",
            },
            now=dt.datetime.now(dt.UTC),
        )
    await relay_once(sessionmaker, None, patience=10)

    names = {sub_id: name for name, (sub_id, _) in subs.items()}
    got = {
        (names[to_global_id("WebhookSubscription", d["subscription_id"])], d["topic"])
        for d in await deliveries(sessionmaker)
    }
    assert got == {
        ("admin", "ORDER_PLACED"),
        ("admin", "SHIPMENT_STATUS_CHANGED"),
        ("channel", "ORDER_PLACED"),
        ("channel", "SHIPMENT_STATUS_CHANGED"),
        ("channel-rotated", "ORDER_PLACED"),
        # a partner sees the events of its locations: the order placed there (its
        # shipment is at WH-LYON) and the shipment's; Paris's partner neither
        ("partner", "ORDER_PLACED"),
        ("partner", "SHIPMENT_STATUS_CHANGED"),
    }
    # Fanning out the same events again adds nothing.
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        from domain.events.stream import read_stream

        again = await webhooks.fan_out(conn, await read_stream(conn, 0))
    assert again == []
    assert len(await deliveries(sessionmaker)) == 7


async def test_a_failing_receiver_is_retried_with_backoff_until_it_accepts(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    receiver: Receiver,
) -> None:
    receiver.script = [500, 302]  # a redirect is a failure, never followed
    _, secret = await subscribe(api, world.channel, receiver.url(), ["ORDER_PLACED"])
    await place_order(api, world)
    await relay_once(sessionmaker, queue, patience=10)
    await run_jobs()

    assert [(r.path, r.answered) for r in receiver.requests] == [
        ("/hook", 500),
        ("/hook", 302),
        ("/hook", 200),
    ]
    assert all(verify_signature(secret, r.headers, r.body) for r in receiver.requests)
    assert len({r.body for r in receiver.requests}) == 1  # the same event, byte for byte
    assert len({r.headers["x-oms-event-id"] for r in receiver.requests}) == 1
    [d] = await deliveries(sessionmaker)
    assert (d["status"], d["attempts"], d["last_status_code"], d["last_error"]) == (
        "DELIVERED",
        3,
        200,
        None,
    )


async def test_a_delivery_is_dead_after_the_last_attempt_and_replayable(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMS_WEBHOOK_MAX_ATTEMPTS", "3")
    receiver.default = 500
    _, secret = await subscribe(api, world.channel, receiver.url(), ["ORDER_PLACED"])
    await place_order(api, world)
    await relay_once(sessionmaker, queue, patience=10)
    await run_jobs()

    assert [r.answered for r in receiver.requests] == [500, 500, 500]
    [edge] = (await api.run(DELIVERIES, {"status": "DEAD"}, key=world.channel))[
        "webhookDeliveries"
    ]["edges"]
    node = edge["node"]
    assert (node["status"], node["attempts"], node["lastStatusCode"], node["lastError"]) == (
        "DEAD",
        3,
        500,
        "HTTP 500",
    )
    assert node["nextAttemptAt"] is None and node["deliveredAt"] is None
    await run_jobs()
    assert len(receiver.requests) == 3  # nothing left to try

    # The receiver is fixed; its owner replays the dead letter.
    receiver.default = 200
    replayed = await api.run(REPLAY, {"id": node["id"]}, key=world.channel)
    assert replayed["replayWebhookDelivery"] == {
        "webhookDelivery": {"status": "PENDING", "attempts": 0},
        "userErrors": [],
    }
    await run_jobs()  # the API enqueued it (services.extra["job_queue"])

    assert [r.answered for r in receiver.requests] == [500, 500, 500, 200]
    assert verify_signature(secret, receiver.requests[-1].headers, receiver.requests[-1].body)
    [d] = await deliveries(sessionmaker)
    assert (d["status"], d["attempts"], d["last_status_code"]) == ("DELIVERED", 1, 200)


async def test_a_receiver_that_cannot_be_reached_is_a_failed_attempt(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMS_WEBHOOK_MAX_ATTEMPTS", "2")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    await subscribe(api, world.channel, f"http://127.0.0.1:{closed}/hook", ["ORDER_PLACED"])
    await place_order(api, world)
    await relay_once(sessionmaker, queue, patience=10)
    await run_jobs()

    [d] = await deliveries(sessionmaker)
    assert (d["status"], d["attempts"], d["last_status_code"]) == ("DEAD", 2, None)
    assert d["last_error"].startswith("ConnectError")


async def test_a_job_run_twice_or_concurrently_delivers_once(
    api: Api,
    world: World,
    sessionmaker: Any,
    arq_redis: ArqRedis,
    run_jobs: Any,
    job_ctx: dict[str, Any],
    receiver: Receiver,
) -> None:
    await subscribe(api, world.admin, receiver.url(), ["ORDER_PLACED"])
    await place_order(api, world)
    await relay_once(sessionmaker, None, patience=10)  # rows only, no jobs
    [d] = await deliveries(sessionmaker)

    outcomes = await asyncio.gather(*(deliver_webhook(job_ctx, d["id"]) for _ in range(5)))
    assert sorted(outcomes) == ["delivered", "skipped", "skipped", "skipped", "skipped"]
    assert len(receiver.requests) == 1

    # Again, directly and through the worker under other job ids: nothing more.
    assert await deliver_webhook(job_ctx, d["id"]) == "skipped"
    for suffix in ("a", "b"):
        await arq_redis.enqueue_job("deliver_webhook", d["id"], _job_id=f"dup-{suffix}")
    await run_jobs()
    assert len(receiver.requests) == 1
    [d] = await deliveries(sessionmaker)
    assert (d["status"], d["attempts"]) == ("DELIVERED", 1)


async def test_while_redis_is_down_deliveries_wait_for_the_sweep(
    api: Api,
    world: World,
    sessionmaker: Any,
    arq_redis: ArqRedis,
    run_jobs: Any,
    job_ctx: dict[str, Any],
    receiver: Receiver,
) -> None:
    _, secret = await subscribe(api, world.admin, receiver.url(), ["ORDER_PLACED"])
    await place_order(api, world)
    await relay_once(sessionmaker, RedisDown(), patience=10)

    [d] = await deliveries(sessionmaker)
    assert d["status"] == "PENDING"
    assert await queued_jobs(arq_redis) == 0
    await run_jobs()
    assert receiver.requests == []

    # Redis is back: the sweep (a cron job every 15 s, and at a worker's start) finds
    # the due row whose job is not queued; a second sweep finds it queued.
    assert await sweep_webhooks(job_ctx) == 1
    assert await sweep_webhooks(job_ctx) == 0
    assert await queued_jobs(arq_redis) == 1
    await run_jobs()
    [request] = receiver.requests
    assert verify_signature(secret, request.headers, request.body)
    [d] = await deliveries(sessionmaker)
    assert (d["status"], d["attempts"]) == ("DELIVERED", 1)
    assert await sweep_webhooks(job_ctx) == 0


async def test_an_attempt_whose_worker_died_is_retried_after_its_lease(
    api: Api,
    world: World,
    sessionmaker: Any,
    run_jobs: Any,
    job_ctx: dict[str, Any],
    receiver: Receiver,
) -> None:
    await subscribe(api, world.admin, receiver.url(), ["ORDER_PLACED"])
    await place_order(api, world)
    await relay_once(sessionmaker, None, patience=10)
    [d] = await deliveries(sessionmaker)

    # A worker claims the delivery, then dies before sending anything.
    async with UnitOfWork(sessionmaker) as uow:
        claimed = await webhook_delivery.claim_delivery(
            await driver_connection(uow.session), d["id"], lease_seconds=1.5
        )
    assert claimed is not None and claimed.number == 1
    # While the lease runs (less the 1 s allowed for clock skew), nobody else sends it.
    assert await deliver_webhook(job_ctx, d["id"]) == "skipped"
    assert await sweep_webhooks(job_ctx) == 0

    await asyncio.sleep(1.6)
    assert await sweep_webhooks(job_ctx) == 1
    await run_jobs()
    assert len(receiver.requests) == 1
    [d] = await deliveries(sessionmaker)
    assert (d["status"], d["attempts"]) == ("DELIVERED", 2)


async def test_a_job_whose_claim_answer_was_lost_takes_its_lease_back_when_run_again(
    api: Api,
    world: World,
    sessionmaker: Any,
    job_ctx: dict[str, Any],
    receiver: Receiver,
) -> None:
    await subscribe(api, world.admin, receiver.url(), ["ORDER_PLACED"])
    await place_order(api, world)
    await relay_once(sessionmaker, None, patience=10)
    [d] = await deliveries(sessionmaker)

    # The claim of job "deliver-1" commits, but its answer never reaches the job (the
    # database restarting): the job fails and arq runs it again, under the same id.
    async with UnitOfWork(sessionmaker) as uow:
        claimed = await webhook_delivery.claim_delivery(
            await driver_connection(uow.session), d["id"], lease_seconds=90, token="deliver-1"
        )
    assert claimed is not None and claimed.number == 1
    # Another job (a sweep's, a replay's) still finds the row leased...
    assert await deliver_webhook({**job_ctx, "job_id": "deliver-2"}, d["id"]) == "skipped"
    # ...the same job takes it back at once, as the same attempt, and sends it.
    assert await deliver_webhook({**job_ctx, "job_id": "deliver-1"}, d["id"]) == "delivered"
    assert len(receiver.requests) == 1
    [d] = await deliveries(sessionmaker)
    assert (d["status"], d["attempts"]) == ("DELIVERED", 1)
    # Once delivered, the token takes nothing back.
    assert await deliver_webhook({**job_ctx, "job_id": "deliver-1"}, d["id"]) == "skipped"


async def test_a_delivery_of_a_subscription_deleted_meanwhile_is_given_up(
    api: Api, world: World, sessionmaker: Any, job_ctx: dict[str, Any], receiver: Receiver
) -> None:
    await subscribe(api, world.partner, receiver.url(), ["SHIPMENT_STATUS_CHANGED"])
    await subscribe(api, world.admin, receiver.url("/ops"), ["ORDER_PLACED"])
    await place_order(api, world)
    await relay_once(sessionmaker, None, patience=10)
    [d] = await deliveries(sessionmaker)
    # Deleted between fan-out and the attempt (deleteWebhookSubscription also gives up
    # its pending deliveries; this is the race where the job runs first).
    await fetch(sessionmaker, "UPDATE webhook_subscriptions SET active = false")

    assert await deliver_webhook(job_ctx, d["id"]) == "skipped"
    assert receiver.requests == []
    [d] = await deliveries(sessionmaker)
    assert (d["status"], d["attempts"], d["last_error"]) == (
        "DEAD",
        0,
        "subscription deleted, or its partner API key revoked",
    )
