"""Channel stock publishing to real receivers on loopback: what each channel may sell
reaches it, signed, within seconds, once in effect, whatever fails on the way."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import io
import itertools
import json
import os
import random
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from arq import Worker
from arq.connections import ArqRedis, RedisSettings, create_pool

from api.channels_cli import resync as cli_resync
from domain.access.principal import SYSTEM
from domain.catalog.service import ProductData, upsert_products
from domain.db import UnitOfWork, driver_connection
from domain.inventory.service import AdjustLine, adjust_stock
from domain.publishing import service as publishing
from jobs.alerts import FUNCTIONS as ALERT_FUNCTIONS
from jobs.publishing import CRON_JOBS, FUNCTIONS, publish_stock, resync_channel
from tests.fixtures import World, variables
from tests.support import Api

SET = """mutation ($input: SetStockLevelsInput!, $idempotencyKey: String!) {
  setStockLevels(input: $input, idempotencyKey: $idempotencyKey) { userErrors { code message } } }"""
UPSERT = """mutation ($input: ChannelInput!) { upsertChannel(input: $input) {
  channel { code } publishSecret userErrors { code field message } } }"""
AVAILABILITY = """query ($channel: String!, $skus: [String!]!) {
  availability(channel: $channel, skus: $skus) { sku available } }"""
PUBLICATIONS = """query ($channel: String!, $first: Int, $after: String) {
  channelPublications(channel: $channel, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id sequence kind status itemsCount items { sku quantity } attempts
                   lastStatusCode lastError nextAttemptAt createdAt acknowledgedAt } } } }"""
STATUS = """query ($channel: String!) { channelSyncStatus(channel: $channel) {
  channel target lastSequence lastAcknowledgedAt pendingItems lagSeconds failingBatches
  deadBatches pausedUntil resync { full done total } lastResyncAt } }"""
ALERTS = """query { inventoryAlerts(first: 50) { totalCount
  edges { node { id topic sku locationCode channelCode quantity reorderPoint deliveryStatus } } } }"""
SKUS = ["MUG-STONE", "TEE-BLUE-M"]
_counts = itertools.count()


# --- a channel's receiver --------------------------------------------------------------


def signature_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a channel does first: check the HMAC, and that it is fresh."""
    parts = dict(p.split("=", 1) for p in headers["x-oms-signature"].split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    return (
        hmac.compare_digest(expected.hexdigest(), parts["v1"])
        and parts["t"] == headers["x-oms-timestamp"]
        and abs(time.time() - int(parts["t"])) < 300
    )


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    raw: bytes
    status: int
    signed: bool

    @property
    def body(self) -> Any:
        return orjson.loads(self.raw)


@dataclass
class Receiver:
    """Channels' stock endpoints (one per path). Like a careful real one, it checks
    signatures and keeps, per SKU, the quantity of the highest sequence it has seen:
    an item with an older or equal sequence is ignored (recorded in `ignored`)."""

    port: int
    secrets: dict[str, str] = field(default_factory=dict)
    script: dict[str, list[int]] = field(default_factory=dict)  # statuses, then 200
    hold: dict[str, asyncio.Event] = field(default_factory=dict)  # answer once set...
    hold_from: dict[str, int] = field(default_factory=dict)  # ... from the n-th request
    requests: list[Request] = field(default_factory=list)
    held: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    applied: list[tuple[str, str, int]] = field(default_factory=list)
    ignored: list[tuple[str, str, int]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def quantities(self, path: str) -> dict[str, int]:
        return {sku: qty for sku, (qty, _) in sorted(self.held.get(path, {}).items())}

    def pushes(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        secret = self.secrets.get(path)
        signed = secret is not None and signature_ok(secret, headers, raw)
        script = self.script.get(path) or []
        status = script.pop(0) if script else 200
        if not signed:
            status = 401
        self.requests.append(Request(path, headers, raw, status, signed))
        if 200 <= status < 300:
            held = self.held.setdefault(path, {})
            for item in orjson.loads(raw).get("items", []):
                _, seen = held.get(item["sku"], (0, 0))
                key = (path, item["sku"], item["sequence"])
                if item["sequence"] > seen:
                    held[item["sku"]] = (item["quantity"], item["sequence"])
                    self.applied.append(key)
                else:
                    self.ignored.append(key)
        hold = self.hold.get(path)
        if hold is not None and len(self.pushes(path)) > self.hold_from.get(path, 0):
            await hold.wait()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await asyncio.wait_for(server.listening.wait(), 10)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
        sock.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = Receiver(port=0)
    async with serving(app) as port:
        app.port = port
        yield app
        for event in app.hold.values():
            event.set()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2 s, 6 s, 18 s ... scaled down to 20 ms, 60 ms, 180 ms ...
    monkeypatch.setenv("OMS_PUBLISH_BACKOFF_SECONDS", "0.02")
    # Pushes one after the other here; the tests with a running worker use the default.
    monkeypatch.setenv("OMS_PUBLISH_MIN_INTERVAL_SECONDS", "0")


@pytest.fixture(autouse=True)
def relay_only_when_the_test_says(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API process relays order events to webhook and notification jobs by itself;
    not here, so that the queue holds only what these tests put there."""
    hub = app.state.runtime.services.extra.get("event_hub")
    if hub is not None and hasattr(hub, "_relay"):
        monkeypatch.setattr(hub, "_relay", None)


@pytest.fixture
def job_ctx(sessionmaker: Any, arq_redis: ArqRedis) -> dict[str, Any]:
    """What the worker gives a job, to call job functions directly."""
    return {"sessionmaker": sessionmaker, "redis": arq_redis}


@pytest.fixture
async def live_worker(
    servers: dict[str, str], monkeypatch: pytest.MonkeyPatch, sessionmaker: Any
) -> AsyncIterator[Callable[[], Any]]:
    """A worker running as in production (publishing functions and crons, the NOTIFY
    listener included), until the test ends."""
    monkeypatch.setenv("DATABASE_URL", servers["database_url"])
    monkeypatch.setenv("REDIS_URL", servers["redis_url"])
    monkeypatch.delenv("OMS_PUBLISH_MIN_INTERVAL_SECONDS")
    from jobs.worker import WorkerSettings

    started: list[tuple[Worker, asyncio.Task[None]]] = []

    async def start() -> Worker:
        pool = await create_pool(RedisSettings.from_dsn(servers["redis_url"]))
        worker = Worker(
            functions=[*FUNCTIONS, *ALERT_FUNCTIONS],
            cron_jobs=CRON_JOBS,
            redis_pool=pool,
            on_startup=WorkerSettings.on_startup,
            on_shutdown=WorkerSettings.on_shutdown,
            handle_signals=False,
            poll_delay=0.1,
            max_jobs=20,
        )
        started.append((worker, asyncio.create_task(worker.main())))
        return worker

    yield start
    for worker, task in started:
        worker.handle_sig(signal.SIGUSR1)  # cancels its running jobs
        task.cancel()  # and its polling loop
        await asyncio.gather(task, *worker.tasks.values(), return_exceptions=True)
        await WorkerSettings.on_shutdown(worker.ctx)
        await worker.pool.aclose()


# --- helpers ---------------------------------------------------------------------------


def channel_input(code: str = "web-fr", **changes: Any) -> dict[str, Any]:
    """The console's UpsertChannel input of the world's channels, changed."""
    v = variables("UpsertChannel")["input"]
    v["publishTarget"] = None
    if code == "marketplace-fr":
        v.update(code=code, name="Marketplace France", kind="MARKETPLACE", network=["WH-LYON"])
        v["allocation"] = {"sharePercent": 50, "buffer": 1, "excludedSkus": []}
    v.update(changes)
    return v


async def configure(api: Api, world: World, input: dict[str, Any]) -> str | None:
    """Upsert a channel; its publish secret when one was generated."""
    data = (await api.run(UPSERT, {"input": input}, key=world.admin))["upsertChannel"]
    assert data["userErrors"] == [], data["userErrors"]
    return data["publishSecret"]  # type: ignore[no-any-return]


async def to_receiver(
    api: Api, world: World, receiver: Receiver, code: str, path: str, **changes: Any
) -> None:
    input = channel_input(code, publishTarget={"webhookUrl": receiver.url(path)}, **changes)
    secret = await configure(api, world, input)
    if secret is not None:
        receiver.secrets[path] = secret


async def stock(api: Api, key: str, location: str, levels: list[dict[str, Any]]) -> None:
    as_of = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=next(_counts))
    data = await api.run(
        SET,
        {
            "input": {"location": location, "asOf": as_of.isoformat(), "levels": levels},
            "idempotencyKey": f"publishing-{as_of.isoformat()}",
        },
        key=key,
    )
    assert data["setStockLevels"]["userErrors"] == []


async def stocked(api: Api, world: World) -> None:
    await stock(
        api,
        world.partner,
        "WH-LYON",
        [
            {"sku": "TEE-BLUE-M", "onHand": 140, "safetyStock": 2},
            {"sku": "MUG-STONE", "onHand": 36},
        ],
    )
    await stock(api, world.other_partner, "ST-PARIS-11", [{"sku": "TEE-BLUE-M", "onHand": 3}])


async def place(api: Api, world: World, external_id: str) -> dict[str, Any]:
    v = variables("PlaceOrder")
    v["input"]["externalId"] = external_id
    v["idempotencyKey"] = f"web-fr:{external_id}"
    placed = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]
    assert placed["userErrors"] == []
    return dict(placed["order"])


async def availability(api: Api, world: World, channel: str) -> dict[str, int]:
    data = await api.run(AVAILABILITY, {"channel": channel, "skus": SKUS}, key=world.admin)
    return {a["sku"]: a["available"] for a in data["availability"]}


async def publish(arq_redis: ArqRedis, run_jobs: Callable[..., Any]) -> None:
    """What the NOTIFY listener does, then the worker's jobs until none is left."""
    await arq_redis.enqueue_job("publish_stock")
    await run_jobs()


async def fetch(sessionmaker: Any, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with UnitOfWork(sessionmaker) as uow:
        conn = await driver_connection(uow.session)
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def until(condition: Callable[[], bool], within: float = 10.0) -> float:
    """Seconds until the condition held; fails after `within` seconds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def channel_id(sessionmaker: Any, code: str) -> int:
    [row] = await fetch(sessionmaker, "SELECT id FROM channels WHERE code = $1", code)
    return int(row["id"])


# --- tests -----------------------------------------------------------------------------


def test_backoff_schedule() -> None:
    assert [publishing.backoff_seconds(n) for n in range(1, 9)] == [
        2,
        6,
        18,
        54,
        162,
        486,
        1458,
        1800,
    ]


async def test_a_placed_order_lowers_and_a_cancellation_raises_what_the_channel_is_told(
    api: Api,
    world: World,
    receiver: Receiver,
    arq_redis: ArqRedis,
    run_jobs: Any,
) -> None:
    await stocked(api, world)
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await publish(arq_redis, run_jobs)
    # A new target gets everything: 141 tees (138 in Lyon after safety stock, 3 in
    # Paris), 36 mugs; exactly what the storefront is shown.
    assert receiver.quantities("/web") == {"MUG-STONE": 36, "TEE-BLUE-M": 141}
    assert receiver.quantities("/web") == await availability(api, world, "web-fr")
    [first] = receiver.pushes("/web")
    assert first.signed
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-oms-channel"] == "web-fr"
    assert first.body["channel"] == "web-fr"
    assert first.body["kind"] == "RESYNC"
    assert first.headers["x-oms-sequence"] == str(first.body["sequence"])

    order = await place(api, world, "WEB-PUB-1")  # 2 tees and a mug, from Lyon
    await publish(arq_redis, run_jobs)
    assert receiver.quantities("/web") == {"MUG-STONE": 35, "TEE-BLUE-M": 139}
    second = receiver.pushes("/web")[-1]
    assert second.body["kind"] == "INCREMENTAL"
    assert second.body["sequence"] > first.body["sequence"]
    assert {i["sku"] for i in second.body["items"]} == {"MUG-STONE", "TEE-BLUE-M"}
    assert all(i["sequence"] == second.body["sequence"] for i in second.body["items"])

    cancelled = await api.op("CancelOrder", {"orderId": order["id"]}, key=world.channel)
    assert cancelled["cancelOrder"]["userErrors"] == []
    await publish(arq_redis, run_jobs)
    assert receiver.quantities("/web") == {"MUG-STONE": 36, "TEE-BLUE-M": 141}
    assert receiver.quantities("/web") == await availability(api, world, "web-fr")

    # Nothing changed: running again sends nothing.
    pushes = len(receiver.requests)
    await publish(arq_redis, run_jobs)
    assert len(receiver.requests) == pushes
    assert receiver.ignored == []


async def test_two_channels_with_different_shares_get_different_numbers(
    api: Api, world: World, receiver: Receiver, arq_redis: ArqRedis, run_jobs: Any
) -> None:
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await to_receiver(api, world, receiver, "marketplace-fr", "/marketplace")
    await stocked(api, world)
    await publish(arq_redis, run_jobs)
    # web-fr: 100% of Lyon and Paris; marketplace-fr: 50% of Lyon, less a buffer of 1.
    assert receiver.quantities("/web") == {"MUG-STONE": 36, "TEE-BLUE-M": 141}
    assert receiver.quantities("/marketplace") == {"MUG-STONE": 17, "TEE-BLUE-M": 68}
    for channel, path in (("web-fr", "/web"), ("marketplace-fr", "/marketplace")):
        assert receiver.quantities(path) == await availability(api, world, channel)
    assert all(r.signed and r.status == 200 for r in receiver.requests)

    await place(api, world, "WEB-PUB-2")
    await publish(arq_redis, run_jobs)
    assert receiver.quantities("/web") == {"MUG-STONE": 35, "TEE-BLUE-M": 139}
    assert receiver.quantities("/marketplace") == {"MUG-STONE": 16, "TEE-BLUE-M": 67}


async def test_an_allocation_change_publishes_what_it_changes_and_a_new_target_gets_everything(
    api: Api,
    world: World,
    receiver: Receiver,
    arq_redis: ArqRedis,
    run_jobs: Any,
    sessionmaker: Any,
) -> None:
    await stocked(api, world)
    await to_receiver(api, world, receiver, "marketplace-fr", "/marketplace")
    await publish(arq_redis, run_jobs)
    assert receiver.quantities("/marketplace") == {"MUG-STONE": 17, "TEE-BLUE-M": 68}
    pushes = len(receiver.requests)

    # Mugs excluded: only the mug's quantity changes, and only it is sent.
    await to_receiver(
        api,
        world,
        receiver,
        "marketplace-fr",
        "/marketplace",
        allocation={"sharePercent": 50, "buffer": 1, "excludedSkus": ["MUG-STONE"]},
    )
    await publish(arq_redis, run_jobs)
    [change] = receiver.requests[pushes:]
    assert change.body["kind"] == "INCREMENTAL"
    assert change.body["items"] == [
        {"sku": "MUG-STONE", "quantity": 0, "sequence": change.body["sequence"]}
    ]
    assert receiver.quantities("/marketplace") == await availability(api, world, "marketplace-fr")

    # Another receiver: it is told everything, and the old one nothing more.
    pushes = len(receiver.requests)
    await to_receiver(api, world, receiver, "marketplace-fr", "/marketplace-v2")
    receiver.secrets["/marketplace-v2"] = receiver.secrets["/marketplace"]  # kept
    await publish(arq_redis, run_jobs)
    assert {r.path for r in receiver.requests[pushes:]} == {"/marketplace-v2"}
    assert receiver.quantities("/marketplace-v2") == {"MUG-STONE": 17, "TEE-BLUE-M": 68}
    [state] = await fetch(
        sessionmaker,
        "SELECT resync_mode, target FROM channel_publish_states WHERE channel_id = $1",
        await channel_id(sessionmaker, "marketplace-fr"),
    )
    assert state == {"resync_mode": None, "target": f"webhook:{receiver.url('/marketplace-v2')}"}


async def test_a_receiver_answering_500_gets_retries_with_the_same_batch_then_succeeds(
    api: Api, world: World, receiver: Receiver, arq_redis: ArqRedis, run_jobs: Any
) -> None:
    await stocked(api, world)
    receiver.script["/web"] = [500, 500]
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await publish(arq_redis, run_jobs)

    attempts = receiver.pushes("/web")
    assert [r.status for r in attempts] == [500, 500, 200]
    assert len({r.raw for r in attempts}) == 1  # the same body, the same sequence
    assert receiver.quantities("/web") == {"MUG-STONE": 36, "TEE-BLUE-M": 141}

    log = (await api.run(PUBLICATIONS, {"channel": "web-fr"}, key=world.admin))[
        "channelPublications"
    ]
    [edge] = log["edges"]
    node = edge["node"]
    assert node["kind"] == "RESYNC"
    assert node["status"] == "ACKNOWLEDGED"
    assert node["attempts"] == 3
    assert node["lastStatusCode"] == 200
    assert node["lastError"] is None
    assert node["nextAttemptAt"] is None
    assert node["acknowledgedAt"] is not None
    assert node["items"] == [
        {"sku": "MUG-STONE", "quantity": 36},
        {"sku": "TEE-BLUE-M", "quantity": 141},
    ]
    assert node["sequence"] == attempts[0].body["sequence"]
    # The log entry is a node the channel itself can refetch.
    again = await api.run(
        "query ($id: ID!) { node(id: $id) { ... on ChannelPublication { status } } }",
        {"id": node["id"]},
        key=world.channel,
    )
    assert again["node"] == {"status": "ACKNOWLEDGED"}
    hidden = await api.run(
        "query ($id: ID!) { node(id: $id) { id } }", {"id": node["id"]}, key=world.other_channel
    )
    assert hidden["node"] is None


async def test_after_the_last_try_a_batch_is_dead_the_channel_pauses_and_a_resync_recovers(
    api: Api,
    world: World,
    receiver: Receiver,
    arq_redis: ArqRedis,
    run_jobs: Any,
    job_ctx: dict[str, Any],
    sessionmaker: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMS_PUBLISH_MAX_ATTEMPTS", "3")
    await stocked(api, world)
    receiver.script["/web"] = [500] * 3
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await publish(arq_redis, run_jobs)
    assert [r.status for r in receiver.requests] == [500, 500, 500]

    status = (await api.run(STATUS, {"channel": "web-fr"}, key=world.channel))["channelSyncStatus"]
    assert status["deadBatches"] == 1
    assert status["failingBatches"] == 0
    assert status["pausedUntil"] is not None  # the receiver is left alone for a while
    assert status["lastAcknowledgedAt"] is None
    assert status["pendingItems"] == 2
    assert status["target"] == "WEBHOOK"
    assert status["resync"] == {"full": True, "done": 0, "total": 2}
    dead = (await api.run(PUBLICATIONS, {"channel": "web-fr"}, key=world.admin))[
        "channelPublications"
    ]["edges"][0]["node"]
    assert (dead["status"], dead["attempts"], dead["lastError"]) == ("DEAD", 3, "HTTP 500")

    # While paused, a new change waits...
    await place(api, world, "WEB-PUB-3")
    await publish(arq_redis, run_jobs)
    assert len(receiver.requests) == 3
    # ... until a resync (the CLI's, the nightly one) lifts the pause.
    cid = await channel_id(sessionmaker, "web-fr")
    assert await resync_channel(job_ctx, cid) == "done: 1/1 pushes acknowledged"
    assert receiver.quantities("/web") == {"MUG-STONE": 35, "TEE-BLUE-M": 139}
    status = (await api.run(STATUS, {"channel": "web-fr"}, key=world.channel))["channelSyncStatus"]
    assert (status["pendingItems"], status["pausedUntil"], status["resync"]) == (0, None, None)
    assert status["lagSeconds"] == 0
    assert status["lastResyncAt"] is not None


async def test_a_hanging_receiver_slows_neither_orders_nor_other_channels(
    api: Api,
    world: World,
    receiver: Receiver,
    job_ctx: dict[str, Any],
    arq_redis: ArqRedis,
    run_jobs: Any,
) -> None:
    await stocked(api, world)
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await to_receiver(api, world, receiver, "marketplace-fr", "/marketplace")
    await publish(arq_redis, run_jobs)
    started = time.perf_counter()
    await place(api, world, "WEB-PUB-BASE")
    baseline = time.perf_counter() - started
    await publish(arq_redis, run_jobs)

    receiver.hold["/web"] = asyncio.Event()  # web-fr's receiver stops answering
    await place(api, world, "WEB-PUB-4")
    publisher = asyncio.create_task(publish_stock(job_ctx))
    await until(lambda: len(receiver.pushes("/web")) == 3)  # it hangs on the third push
    # The other channel is told meanwhile.
    await until(lambda: receiver.quantities("/marketplace")["TEE-BLUE-M"] == 66)
    # Placing an order does not wait for any receiver: publishing is not on its path.
    started = time.perf_counter()
    await place(api, world, "WEB-PUB-5")
    placing = time.perf_counter() - started
    assert not publisher.done()
    assert placing < max(1.0, 3 * baseline), (placing, baseline)
    receiver.hold["/web"].set()
    await asyncio.wait_for(publisher, 30)


async def test_a_burst_of_1000_stock_changes_gives_a_handful_of_pushes(
    api: Api,
    world: World,
    receiver: Receiver,
    sessionmaker: Any,
    live_worker: Callable[[], Any],
) -> None:
    await stocked(api, world)
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await live_worker()
    await until(lambda: receiver.quantities("/web").get("MUG-STONE") == 36)
    pushes = len(receiver.requests)

    async def receive_one_mug(i: int) -> None:
        async with UnitOfWork(sessionmaker) as uow:
            await adjust_stock(
                uow.session,
                SYSTEM,
                location_code="WH-LYON",
                lines=[AdjustLine("MUG-STONE", 1, "RECEIPT")],
                reference=f"burst:{i}",
                now=dt.datetime.now(dt.UTC),
            )

    started = time.monotonic()
    for start in range(0, 1000, 20):  # 1,000 commits, 20 at a time
        await asyncio.gather(*(receive_one_mug(i) for i in range(start, start + 20)))
    burst = time.monotonic() - started
    settled = await until(lambda: receiver.quantities("/web").get("MUG-STONE") == 1036, 15)
    await asyncio.sleep(1.0)  # anything still coming would come now
    burst_pushes = receiver.requests[pushes:]
    print(
        f"\n1,000 changes in {burst:.2f} s: {len(burst_pushes)} pushes,"
        f" last value {settled:.2f} s after the last commit"
    )
    assert 1 <= len(burst_pushes) <= burst + 3, len(burst_pushes)  # about one a second
    assert settled < 3.0
    assert receiver.quantities("/web") == {"MUG-STONE": 1036, "TEE-BLUE-M": 141}
    assert all(r.status == 200 for r in burst_pushes)


async def test_a_worker_killed_mid_resync_finishes_on_the_next_run_without_duplicates(
    api: Api,
    world: World,
    receiver: Receiver,
    arq_redis: ArqRedis,
    run_jobs: Any,
    job_ctx: dict[str, Any],
    sessionmaker: Any,
) -> None:
    skus = [f"KIT-{i:02d}" for i in range(20)]
    async with UnitOfWork(sessionmaker) as uow:
        await upsert_products(uow.session, [ProductData(sku=s, name=f"Kit {s}") for s in skus])
    await stock(
        api, world.partner, "WH-LYON", [{"sku": s, "onHand": 10 + i} for i, s in enumerate(skus)]
    )
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await publish(arq_redis, run_jobs)
    expected = {**{s: 10 + i for i, s in enumerate(skus)}, "MUG-STONE": 0, "TEE-BLUE-M": 0}
    assert receiver.quantities("/web") == expected
    receiver.requests.clear()
    receiver.applied.clear()
    cid = await channel_id(sessionmaker, "web-fr")

    # A resync, 3 SKUs a batch; the receiver applies the third batch but its answer
    # never comes back, and the worker dies there.
    def third_batch_sent() -> bool:
        return len(receiver.requests) == 3

    receiver.hold["/web"] = asyncio.Event()
    receiver.hold_from["/web"] = 2
    worker = asyncio.create_task(resync_channel(job_ctx, cid, batch_size=3))
    await until(third_batch_sent)
    worker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await worker
    receiver.hold.pop("/web").set()  # its answer goes to nobody
    [state] = await fetch(
        sessionmaker,
        "SELECT resync_mode, resync_checkpoint, resync_done FROM channel_publish_states"
        " WHERE channel_id = $1",
        cid,
    )
    # Two batches acknowledged: the checkpoint is the last SKU of the second.
    assert state == {"resync_mode": "FULL", "resync_checkpoint": "KIT-05", "resync_done": 6}
    # A killed process releases nothing: its lease holds the channel until it runs out.
    async with UnitOfWork(sessionmaker) as uow:
        await (await driver_connection(uow.session)).execute(
            "UPDATE channel_publish_states SET lease_owner = 'killed',"
            " lease_until = clock_timestamp() + interval '1 minute' WHERE channel_id = $1",
            cid,
        )
    assert (await resync_channel(job_ctx, cid, batch_size=3)).startswith("busy")
    async with UnitOfWork(sessionmaker) as uow:  # ... a minute later
        await (await driver_connection(uow.session)).execute(
            "UPDATE channel_publish_states SET lease_until = clock_timestamp() - interval '1 s'"
            " WHERE channel_id = $1",
            cid,
        )

    # The restarted worker resends the unanswered batch (same sequence: ignored by the
    # receiver, which had applied it), then goes on from the checkpoint.
    assert await resync_channel(job_ctx, cid, batch_size=3) == "done: 6/6 pushes acknowledged"
    sequences = [r.body["sequence"] for r in receiver.requests]
    assert sequences[2] == sequences[3]  # the third batch, twice
    assert sequences == sorted(sequences)
    assert receiver.ignored == [
        ("/web", i["sku"], i["sequence"]) for i in receiver.requests[3].body["items"]
    ]
    # Every SKU applied exactly once in this resync, in SKU order, to the right value.
    applied = [sku for _, sku, _ in receiver.applied]
    assert applied == sorted(expected)
    assert receiver.quantities("/web") == expected
    [state] = await fetch(
        sessionmaker,
        "SELECT resync_mode, resync_checkpoint FROM channel_publish_states WHERE channel_id = $1",
        cid,
    )
    assert state == {"resync_mode": None, "resync_checkpoint": None}


async def test_the_cli_resyncs_a_channel_with_a_progress_bar(
    api: Api,
    world: World,
    receiver: Receiver,
    arq_redis: ArqRedis,
    run_jobs: Any,
    servers: dict[str, str],
) -> None:
    await stocked(api, world)
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await publish(arq_redis, run_jobs)
    receiver.requests.clear()
    out = io.StringIO()
    status = await cli_resync(servers["database_url"], "web-fr", batch_size=1, out=out)
    assert status == 0
    assert [r.body["items"][0]["sku"] for r in receiver.requests] == SKUS
    assert "[" + "#" * 30 + "] 2/2 SKUs 100%" in out.getvalue()
    assert "channel web-fr resynced" in out.getvalue()
    assert await cli_resync(servers["database_url"], "nowhere", out=io.StringIO()) == 2


def test_the_cli_command_is_registered_under_channels() -> None:
    import argparse

    from api import channels_cli

    parser = argparse.ArgumentParser(prog="oms")
    channels_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["channels", "resync", "web-fr", "--batch-size", "500"])
    assert (args.code, args.batch_size, args.restart) == ("web-fr", 500, False)
    assert args.fn is channels_cli.cmd_resync


async def test_a_feed_directory_gets_both_files_replaced_atomically(
    api: Api,
    world: World,
    arq_redis: ArqRedis,
    run_jobs: Any,
    tmp_path: Path,
) -> None:
    feeds = tmp_path / "feeds"  # created on first write
    await configure(api, world, channel_input(publishTarget={"feedDirectory": str(feeds)}))
    await stocked(api, world)
    await publish(arq_redis, run_jobs)
    as_json = json.loads((feeds / "web-fr.json").read_text())
    assert as_json["channel"] == "web-fr"
    assert as_json["items"] == [
        {"sku": "MUG-STONE", "quantity": 36},
        {"sku": "TEE-BLUE-M", "quantity": 141},
    ]
    assert (feeds / "web-fr.csv").read_text() == "sku,quantity\nMUG-STONE,36\nTEE-BLUE-M,141\n"

    # A reader polling the files meanwhile never sees a part of one.
    stop = threading.Event()
    problems: list[str] = []
    inodes: set[int] = set()

    def read() -> None:
        while not stop.is_set():
            try:
                inodes.add(os.stat(feeds / "web-fr.json").st_ino)
                items = json.loads((feeds / "web-fr.json").read_text())["items"]
                lines = (feeds / "web-fr.csv").read_text().splitlines()
                if len(items) != 2 or len(lines) != 3:
                    problems.append("incomplete")
            except (ValueError, OSError) as exc:
                problems.append(repr(exc))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(15):
            await stock(api, world.partner, "WH-LYON", [{"sku": "MUG-STONE", "onHand": 40 + i}])
            await publish(arq_redis, run_jobs)
    finally:
        stop.set()
        reader.join()
    assert problems == []
    assert len(inodes) > 1  # each write replaced the file
    assert json.loads((feeds / "web-fr.json").read_text())["items"][0] == {
        "sku": "MUG-STONE",
        "quantity": 54,
    }
    assert sorted(p.name for p in feeds.iterdir()) == ["web-fr.csv", "web-fr.json"]
    status = (await api.run(STATUS, {"channel": "web-fr"}, key=world.admin))["channelSyncStatus"]
    assert (status["target"], status["pendingItems"], status["deadBatches"]) == ("FEED", 0, 0)


async def test_an_invalid_target_url_or_feed_directory_is_refused_at_configuration(
    api: Api, world: World, tmp_path: Path, sessionmaker: Any
) -> None:
    a_file = tmp_path / "not-a-directory"
    a_file.write_text("x")
    refused = {
        "ftp://stock.example.com/in": "INVALID_URL",
        "http://stock.example.com/in": "INSECURE_URL",  # plain http only to loopback
        "not a url": "INVALID_URL",
    }
    for url, code in refused.items():
        input = channel_input(publishTarget={"webhookUrl": url})
        data = (await api.run(UPSERT, {"input": input}, key=world.admin))["upsertChannel"]
        assert [(e["code"], e["field"]) for e in data["userErrors"]] == [
            (code, ["input", "publishTarget", "webhookUrl"])
        ]
    for directory in ("relative/feeds", str(a_file)):
        input = channel_input(publishTarget={"feedDirectory": directory})
        data = (await api.run(UPSERT, {"input": input}, key=world.admin))["upsertChannel"]
        assert [(e["code"], e["field"]) for e in data["userErrors"]] == [
            ("INVALID_PATH", ["input", "publishTarget", "feedDirectory"])
        ]
    # Nothing was written: no target, nothing to publish.
    rows = await fetch(
        sessionmaker,
        "SELECT publish_webhook_url, publish_feed_directory FROM channels WHERE code = 'web-fr'",
    )
    assert rows == [{"publish_webhook_url": None, "publish_feed_directory": None}]


async def test_stock_changed_while_redis_is_down_is_published_when_the_worker_runs(
    api: Api,
    world: World,
    receiver: Receiver,
    job_ctx: dict[str, Any],
    sessionmaker: Any,
) -> None:
    class RedisDown:
        async def enqueue_job(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("Redis is down")

    await to_receiver(api, world, receiver, "web-fr", "/web")
    await stocked(api, world)  # the API needs no queue for this
    [pending] = await fetch(sessionmaker, "SELECT count(DISTINCT sku) AS n FROM publish_dirty_skus")
    assert pending == {"n": 2}
    # The cron's run, with no queue to hand anything to: publishing needs none.
    done = await publish_stock({**job_ctx, "redis": RedisDown()})
    assert done["acknowledged"] >= 1
    assert receiver.quantities("/web") == {"MUG-STONE": 36, "TEE-BLUE-M": 141}
    assert await fetch(sessionmaker, "SELECT sku FROM publish_dirty_skus") == []


async def test_published_within_seconds_by_a_running_worker(
    api: Api, world: World, receiver: Receiver, live_worker: Callable[[], Any]
) -> None:
    await stocked(api, world)
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await live_worker()
    await until(lambda: receiver.quantities("/web") == {"MUG-STONE": 36, "TEE-BLUE-M": 141})
    await asyncio.sleep(0.5)  # let the listener settle
    await place(api, world, "WEB-PUB-LIVE")
    seconds = await until(lambda: receiver.quantities("/web")["TEE-BLUE-M"] == 139, 5)
    assert seconds < 2.0


async def test_low_stock_alerts_once_per_crossing_and_out_of_stock_to_whom_may_see_it(
    api: Api,
    world: World,
    receiver: Receiver,
    arq_redis: ArqRedis,
    run_jobs: Any,
) -> None:
    # Each to the alerts it may receive (a partner no channel's, a channel no location's).
    low, out = ["INVENTORY_LOW_STOCK"], ["CHANNEL_OUT_OF_STOCK"]
    subscribers = {
        "/admin": (world.admin, low + out),
        "/lyon": (world.partner, low),
        "/paris": (world.other_partner, low),
        "/web": (world.channel, out),
        "/marketplace": (world.other_channel, out),
    }
    for path, (key, topics) in subscribers.items():
        data = await api.op(
            "CreateWebhookSubscription",
            {"input": {"url": receiver.url(path), "topics": topics}},
            key=key,
        )
        assert data["createWebhookSubscription"]["userErrors"] == []
        receiver.secrets[path] = data["createWebhookSubscription"]["secret"]
    alerts_of: Callable[[str], list[dict[str, Any]]] = lambda path: [  # noqa: E731
        {"topic": r.body["topic"], **r.body["data"]} for r in receiver.pushes(path)
    ]

    # Lyon: 12 mugs, reorder point 10. Nothing to say.
    await stock(
        api, world.partner, "WH-LYON", [{"sku": "MUG-STONE", "onHand": 12, "reorderPoint": 10}]
    )
    await publish(arq_redis, run_jobs)
    assert receiver.requests == []
    # Down to 9: one alert, to admin and Lyon's partner only.
    await stock(api, world.partner, "WH-LYON", [{"sku": "MUG-STONE", "onHand": 9}])
    await publish(arq_redis, run_jobs)
    low = {
        "topic": "INVENTORY_LOW_STOCK",
        "sku": "MUG-STONE",
        "location": "WH-LYON",
        "available": 9,
        "reorderPoint": 10,
    }
    assert alerts_of("/admin") == [low]
    assert alerts_of("/lyon") == [low]
    assert all(r.signed for r in receiver.requests)
    assert receiver.requests[0].headers["x-oms-topic"] == "INVENTORY_LOW_STOCK"
    # Lower still: no second alert for the same crossing.
    await stock(api, world.partner, "WH-LYON", [{"sku": "MUG-STONE", "onHand": 5}])
    await publish(arq_redis, run_jobs)
    assert len(alerts_of("/admin")) == 1
    # Above the reorder point re-arms; down again alerts again.
    await stock(api, world.partner, "WH-LYON", [{"sku": "MUG-STONE", "onHand": 11}])
    await publish(arq_redis, run_jobs)
    await stock(api, world.partner, "WH-LYON", [{"sku": "MUG-STONE", "onHand": 2}])
    await publish(arq_redis, run_jobs)
    assert [a["available"] for a in alerts_of("/lyon")] == [9, 2]
    # Marketplace (50% less 1) can sell none of 2 mugs: it and admin hear of it; web-fr
    # can still sell 2.
    out = {
        "topic": "CHANNEL_OUT_OF_STOCK",
        "sku": "MUG-STONE",
        "channel": "marketplace-fr",
        "quantity": 0,
    }
    assert alerts_of("/marketplace") == [out]
    assert out in alerts_of("/admin")
    assert alerts_of("/web") == []
    assert alerts_of("/paris") == []

    # The console and the partners read them too.
    everything = (await api.run(ALERTS, key=world.admin))["inventoryAlerts"]
    assert [e["node"]["topic"] for e in everything["edges"]] == [
        "CHANNEL_OUT_OF_STOCK",
        "INVENTORY_LOW_STOCK",
        "INVENTORY_LOW_STOCK",
    ]
    assert everything["edges"][0]["node"]["channelCode"] == "marketplace-fr"
    assert {e["node"]["deliveryStatus"] for e in everything["edges"]} == {"DELIVERED"}
    lyon = (await api.run(ALERTS, key=world.partner))["inventoryAlerts"]
    assert [(e["node"]["locationCode"], e["node"]["quantity"]) for e in lyon["edges"]] == [
        ("WH-LYON", 2),
        ("WH-LYON", 9),
    ]
    # The pushed alerts carry the ids the API gives them (global ids), body and header.
    pushed = [(r.body["id"], r.headers["x-oms-alert-id"]) for r in receiver.pushes("/lyon")]
    assert pushed == [(e["node"]["id"], e["node"]["id"]) for e in reversed(lyon["edges"])]
    assert (await api.run(ALERTS, key=world.other_partner))["inventoryAlerts"]["totalCount"] == 0
    refused = await api.post(ALERTS, key=world.channel)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_sync_status_and_publication_log_are_for_admin_and_the_channel_itself(
    api: Api, world: World, receiver: Receiver, arq_redis: ArqRedis, run_jobs: Any
) -> None:
    await stocked(api, world)
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await publish(arq_redis, run_jobs)
    for i in range(3):
        await place(api, world, f"WEB-PUB-LOG-{i}")
        await publish(arq_redis, run_jobs)
    for key in (world.admin, world.channel):
        status = (await api.run(STATUS, {"channel": "web-fr"}, key=key))["channelSyncStatus"]
        assert status["channel"] == "web-fr"
        assert status["lastSequence"] == 4
        assert status["pendingItems"] == 0
        assert status["lagSeconds"] == 0
        assert status["lastAcknowledgedAt"] is not None
    page = (await api.run(PUBLICATIONS, {"channel": "web-fr", "first": 3}, key=world.channel))[
        "channelPublications"
    ]
    assert page["totalCount"] == 4
    assert [e["node"]["sequence"] for e in page["edges"]] == [4, 3, 2]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await api.run(
        PUBLICATIONS,
        {"channel": "web-fr", "first": 3, "after": page["pageInfo"]["endCursor"]},
        key=world.admin,
    )
    assert [e["node"]["sequence"] for e in rest["channelPublications"]["edges"]] == [1]
    # Another channel's key, or an unknown channel: as if it did not exist.
    other = await api.run(STATUS, {"channel": "web-fr"}, key=world.other_channel)
    assert other["channelSyncStatus"] is None
    log = await api.run(PUBLICATIONS, {"channel": "web-fr"}, key=world.other_channel)
    assert log["channelPublications"] is None
    assert (await api.run(STATUS, {"channel": "nowhere"}, key=world.admin))[
        "channelSyncStatus"
    ] is None
    refused = await api.post(STATUS, {"channel": "web-fr"}, key=world.partner)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_what_channels_are_told_matches_availability_after_random_changes(
    api: Api, world: World, receiver: Receiver, arq_redis: ArqRedis, run_jobs: Any
) -> None:
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await to_receiver(api, world, receiver, "marketplace-fr", "/marketplace")
    rng = random.Random(11)
    for round_ in range(6):
        await stock(
            api,
            world.partner,
            "WH-LYON",
            [
                {"sku": sku, "onHand": rng.randint(0, 50), "safetyStock": rng.randint(0, 3)}
                for sku in SKUS
            ],
        )
        await stock(
            api,
            world.other_partner,
            "ST-PARIS-11",
            [{"sku": sku, "onHand": rng.randint(0, 5)} for sku in SKUS],
        )
        if round_ % 2:
            await publish(arq_redis, run_jobs)
            for channel, path in (("web-fr", "/web"), ("marketplace-fr", "/marketplace")):
                assert receiver.quantities(path) == await availability(api, world, channel)
    assert receiver.ignored == []


async def test_a_restocked_return_raises_what_the_channel_is_told(
    api: Api,
    world: World,
    receiver: Receiver,
    arq_redis: ArqRedis,
    run_jobs: Any,
) -> None:
    from tests.api.test_returns import delivered_order, receive, request

    order = await delivered_order(api, world)  # 2 tees and a mug shipped from Lyon
    await to_receiver(api, world, receiver, "web-fr", "/web")
    await publish(arq_redis, run_jobs)
    before = receiver.quantities("/web")["TEE-BLUE-M"]
    opened = await request(api, world.channel, order, [("TEE-BLUE-M", 2, "WRONG_SIZE")], "pub-ret")
    assert opened["userErrors"] == []
    received = await receive(
        api, world.partner, order, [("TEE-BLUE-M", 2, "GOOD", "RESTOCK")], "pub-rcv"
    )
    assert received["userErrors"] == []
    await publish(arq_redis, run_jobs)
    assert receiver.quantities("/web")["TEE-BLUE-M"] == before + 2
    assert receiver.quantities("/web") == await availability(api, world, "web-fr")
