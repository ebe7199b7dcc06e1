"""Deliveries keep up: partner webhooks and customer emails from orders placed and shipped.

Data (through the domain services): one warehouse, 100 products in deep stock, one WEB
channel; an admin webhook subscription to ORDER_PLACED and SHIPMENT_STATUS_CHANGED whose
receiver (in this process, on loopback) answers every POST after 50 ms; an SMTP server
(aiosmtpd, a thread of this process) that accepts every message after 50 ms. The API
(`oms serve`) and the worker (`oms worker`) run in processes of their own, as in service.

Load: orders placed over HTTP at a fixed rate (`--rate`, 20 a second by default: twice
the rate of the fault-injection run of issue 13) for `--seconds`, each then picked,
packed and shipped by the warehouse's partner (three more mutations, right away): four
events per order, each a webhook, and two emails (confirmation, shipped), so six
deliveries an order.

Figures: deliveries acknowledged per second over the load; from the event's commit (as
the client sees it: the answer to the mutation that made it, sent just after the
commit) to the receiver's acknowledgement, p50, p95 and max, for webhooks and emails,
and the p95 from the start of the event's transaction (its `occurred_at`, which adds the
commit's own wait); the backlog when the load stops (deliveries owed for the events
committed so far, not yet acknowledged) and how long it takes to drain. Targets: p95 <
2 s; the backlog drained within 10 s of the load stopping.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop

from bench.channel_publish import WorkerProcess
from bench.common import (
    ApiServer,
    CpuWatch,
    Database,
    Servers,
    api_env,
    base_parser,
    graphql_headers,
    operation_document,
    parse,
    percentile,
    run_tag,
    servers,
    start_profiler,
    stop_profiler,
    verdict,
)
from bench.place_order import _read_response
from bench.receivers import ANSWER_SECONDS, Receivers

RATE = 20.0
SECONDS = 30.0
SKUS = 100
P95_TARGET_SECONDS = 2.0
DRAIN_TARGET_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 3.0  # uvicorn closes a keep-alive connection idle for 5 s


# --------------------------------------------------------------------------- receivers


# --------------------------------------------------------------------------- load


@dataclass
class Load:
    placed: int = 0
    shipped: int = 0
    errors: int = 0
    error_sample: str | None = None
    place_seconds: list[float] = field(default_factory=list)
    # When the API answered each mutation, by (order id, event): an event committed
    # before its mutation's answer left the API.
    answered: dict[tuple[int, str], float] = field(default_factory=dict)

    def failed(self, what: str) -> None:
        self.errors += 1
        self.error_sample = self.error_sample or what[:500]


class RawClient:
    """Keep-alive HTTP/1.1 connections to the API, one request at a time each: a
    fraction of httpx's CPU per request, which at 80 requests a second was a core of
    this process, and made the load late (bench/place_order.py does the same)."""

    def __init__(self, port: int, size: int = 64) -> None:
        self.port = port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._slots = asyncio.Semaphore(size)

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer, since = self._idle.pop()
            if time.monotonic() - since < KEEP_ALIVE_SECONDS:
                return reader, writer
            writer.close()  # uvicorn may have closed it by now
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, body: bytes, key: str) -> tuple[int, bytes]:
        async with self._slots:
            reader, writer = await self._connection()
            head = (
                f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                "Content-Type: application/json\r\nAccept: application/graphql-response+json\r\n"
                f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            try:
                writer.write(head.encode("latin-1") + body)
                status, payload = await _read_response(reader)
            except BaseException:
                writer.close()
                raise
            self._idle.append((reader, writer, time.monotonic()))
            return int(status), payload

    def close(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()


async def one_order(
    client: RawClient,
    docs: dict[str, str],
    keys: dict[str, str],
    n: int,
    tag: str,
    skus: Sequence[str],
    load: Load,
) -> None:
    async def post(name: str, variables: dict[str, Any], key: str) -> dict[str, Any] | None:
        status, raw = await client.post(
            orjson.dumps({"query": docs[name], "variables": variables}), key
        )
        body = orjson.loads(raw)
        data = (body.get("data") or {}) if isinstance(body, dict) else {}
        payload = next(iter(data.values()), None) if data else None
        if status != 200 or not payload or payload.get("userErrors"):
            load.failed(f"{name}: {status} {str(body)[:400]}")
            return None
        return dict(payload)

    external_id = f"DL{tag}-{n:06d}"
    started = time.monotonic()
    placed = await post(
        "PlaceOrder",
        {
            "input": {
                "channel": keys["channel_code"],
                "externalId": external_id,
                "customer": {"email": f"{external_id.lower()}@example.com", "name": "Bench Client"},
                "lines": [
                    {"sku": sku, "quantity": 1, "unitPrice": {"amount": "19.90", "currency": "EUR"}}
                    for sku in (skus[n % len(skus)], skus[(n * 7 + 3) % len(skus)])
                ],
                "shippingAddress": {
                    "name": "Bench Client",
                    "line1": "3 rue Saint-Maur",
                    "city": "Paris",
                    "postalCode": "75011",
                    "countryCode": "FR",
                },
                "delivery": {"method": "SHIP", "serviceLevel": "STANDARD"},
                "shippingPrice": {"amount": "4.90", "currency": "EUR"},
            },
            "idempotencyKey": external_id,
        },
        keys["channel"],
    )
    if placed is None:
        return
    load.place_seconds.append(time.monotonic() - started)
    load.placed += 1
    order_pk = int(base64.urlsafe_b64decode(placed["order"]["id"] + "==").decode().split(":")[1])
    load.answered[(order_pk, "ORDER_PLACED")] = time.time()
    (shipment,) = placed["order"]["shipments"]
    sid = shipment["id"]
    partner = keys["partner"]
    if await post("StartPicking", {"shipmentId": sid}, partner) is None:
        return
    load.answered[(order_pk, "PICKING")] = time.time()
    if await post("PackShipment", {"shipmentId": sid}, partner) is None:
        return
    load.answered[(order_pk, "PACKED")] = time.time()
    ship = {"shipmentId": sid, "carrier": "COLISSIMO", "service": "HOME_STANDARD",
            "trackingNumber": f"6A{n:011d}", "parcels": [{"weightGrams": 840}]}  # fmt: skip
    if await post("ShipShipment", {"input": ship}, partner) is not None:
        load.answered[(order_pk, "SHIPPED")] = time.time()
        load.shipped += 1


# --------------------------------------------------------------------------- the run


@dataclass
class Figures:
    rate: float
    seconds: float
    load: Load
    load_seconds: float = 0.0
    delivered_during_load: int = 0
    backlog_at_stop: tuple[int, int] = (0, 0)
    drain_seconds: float | None = None
    webhook_latencies: list[float] = field(default_factory=list)
    email_latencies: list[float] = field(default_factory=list)
    from_began: list[float] = field(default_factory=list)
    webhooks: int = 0
    emails: int = 0
    owed: tuple[int, int] = (0, 0)
    cpu: dict[str, float] = field(default_factory=dict)


async def owed(db: Database, channel_id: int) -> tuple[int, int, dict[int, Any], dict[int, int]]:
    """(webhooks owed, emails owed, per event its transaction's time and (order, step),
    per notification its event) so far."""
    async with db.uow() as uow:
        from domain.db import driver_connection

        conn = await driver_connection(uow.session)
        events = await conn.fetch(
            "SELECT id, order_id, type, payload->>'status' AS status,"
            " extract(epoch FROM occurred_at) AS at FROM order_events WHERE channel_id = $1",
            channel_id,
        )
        notes = await conn.fetch(
            "SELECT n.id, n.event_id FROM notifications n"
            " JOIN order_events e ON e.id = n.event_id WHERE e.channel_id = $1",
            channel_id,
        )
    webhooks = sum(1 for e in events if e["type"] in ("ORDER_PLACED", "SHIPMENT_STATUS_CHANGED"))
    emails = sum(
        1 for e in events
        if e["type"] == "ORDER_PLACED" or (e["type"] == "SHIPMENT_STATUS_CHANGED" and e["status"] == "SHIPPED")
    )  # fmt: skip
    keys = {
        e["id"]: (e["order_id"], e["status"] if e["type"] != "ORDER_PLACED" else e["type"])
        for e in events
    }
    return (
        webhooks,
        emails,
        {e["id"]: (float(e["at"]), keys[e["id"]]) for e in events},
        {n["id"]: n["event_id"] for n in notes},
    )


async def run(
    srv: Servers,
    rate: float,
    seconds: float,
    extra_env: dict[str, str],
    profile: Path | None = None,
) -> Figures:
    tag = run_tag()
    receivers = Receivers()
    figures = Figures(rate, seconds, Load())
    try:
        await _run(srv, rate, seconds, extra_env, profile, receivers, figures, tag)
    finally:
        receivers.stop()
    return figures


async def _run(
    srv: Servers,
    rate: float,
    seconds: float,
    extra_env: dict[str, str],
    profile: Path | None,
    receivers: Receivers,
    figures: Figures,
    tag: str,
) -> None:
    location, channel = f"DL{tag}-WH", f"bench-dl-{tag.lower()}"
    skus = [f"DL{tag}-{i:04d}" for i in range(SKUS)]
    async with Database(srv.database_url) as db, httpx.AsyncClient(timeout=30) as probe:
        await db.create_locations([location])
        await db.create_products(skus)
        await db.create_channel(channel, [location])
        await db.set_stock(location, dict.fromkeys(skus, 10_000_000))
        keys = {
            "channel_code": channel,
            "channel": await db.create_api_key(
                f"bench storefront {tag}", "CHANNEL", channel=channel
            ),
            "partner": await db.create_api_key(f"bench wms {tag}", "PARTNER", locations=[location]),
        }
        admin = await db.create_api_key(f"bench ops {tag}", "ADMIN")
        await db.execute("ANALYZE")
        async with db.uow() as uow:
            from domain.db import driver_connection

            channel_id = await (await driver_connection(uow.session)).fetchval(
                "SELECT id FROM channels WHERE code = $1", channel
            )
        worker = WorkerProcess(
            srv, {"OMS_SMTP_URL": f"smtp://127.0.0.1:{receivers.smtp_port}", **extra_env}
        )
        with ApiServer(srv, extra_env) as api:
            docs = {
                "PlaceOrder": operation_document("storefront.graphql", "PlaceOrder"),
                **{n: operation_document("partner.graphql", n) for n in ("StartPicking", "PackShipment", "ShipShipment")},
            }  # fmt: skip
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api.port}", timeout=60,
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
            ) as client:  # fmt: skip
                subscribed = await client.post(
                    "/graphql",
                    content=orjson.dumps({
                        "query": operation_document("admin.graphql", "CreateWebhookSubscription"),
                        "variables": {"input": {
                            "url": f"http://127.0.0.1:{receivers.http_port}/hook",
                            "topics": ["ORDER_PLACED", "SHIPMENT_STATUS_CHANGED"],
                        }},
                    }),
                    headers=graphql_headers(admin),
                )  # fmt: skip
                assert not subscribed.json().get("errors"), subscribed.text
                worker.start()
                await asyncio.sleep(3)  # the worker's start and first sweeps
                watch = CpuWatch(
                    {"api": api.pid, "worker": worker.pid, "postgres": srv.pg_pid,
                     "redis": srv.redis_pid, "receivers": receivers.proc.pid}
                )  # fmt: skip
                watch.start()
                profiler = start_profiler(worker.pid, profile) if profile and worker.pid else None
                origin = time.monotonic()
                tasks = []
                raw = RawClient(api.port)
                for n in range(int(rate * seconds)):
                    delay = origin + n / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(
                        asyncio.create_task(one_order(raw, docs, keys, n, tag, skus, figures.load))
                    )
                await asyncio.gather(*tasks)
                raw.close()
                stop_profiler(profiler)
            stopped = time.monotonic()
            figures.load_seconds = stopped - origin
            webhooks_acked, emails_acked = await receivers.acks(probe)
            figures.delivered_during_load = len(webhooks_acked) + len(emails_acked)
            webhooks_owed, emails_owed, _, _ = await owed(db, channel_id)
            figures.backlog_at_stop = (
                webhooks_owed - len(webhooks_acked),
                emails_owed - len(emails_acked),
            )
            deadline = stopped + 300
            while time.monotonic() < deadline:
                webhooks_owed, emails_owed, _, _ = await owed(db, channel_id)
                webhooks_acked, emails_acked = await receivers.acks(probe)
                if len(webhooks_acked) >= webhooks_owed and len(emails_acked) >= emails_owed:
                    figures.drain_seconds = time.monotonic() - stopped
                    break
                await asyncio.sleep(0.1)
            figures.cpu = watch.stop()
            worker.stop()
        webhooks_owed, emails_owed, events, notes = await owed(db, channel_id)
        webhooks_acked, emails_acked = await receivers.acks(probe)
    figures.owed = (webhooks_owed, emails_owed)
    figures.webhooks, figures.emails = len(webhooks_acked), len(emails_acked)

    def committed(event_id: int) -> float:
        """The event's commit, as the client sees it: its mutation's answer, which the
        API sends just after the commit (the transaction's start when unknown)."""
        began, key = events[event_id]
        return float(figures.load.answered.get(key, began))

    figures.webhook_latencies = [
        max(0.0, t - committed(e)) for e, t in webhooks_acked.items() if e in events
    ]
    figures.email_latencies = [
        max(0.0, t - committed(notes[n])) for n, t in emails_acked.items() if n in notes
    ]
    figures.from_began = [
        max(0.0, t - events[e][0]) for e, t in webhooks_acked.items() if e in events
    ] + [max(0.0, t - events[notes[n]][0]) for n, t in emails_acked.items() if n in notes]


def _cpu(cpu: dict[str, float]) -> str:
    named = {k: v for k, v in cpu.items() if k != "machine"}
    other = max(0.0, cpu.get("machine", 0.0) - sum(named.values()))
    return "cores busy: " + ", ".join(
        [*(f"{k} {v:.2f}" for k, v in named.items()), f"other {other:.2f}"]
    )


def _latency(values: Sequence[float]) -> str:
    return (
        f"p50 {percentile(values, 50):5.2f} s  p95 {percentile(values, 95):5.2f} s"
        f"  max {max(values, default=0):5.2f} s"
    )


def main(argv: Sequence[str] = (), *, strict: bool = True) -> int:
    parser = base_parser("bench delivery", __doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rate", type=float, default=RATE, help="orders placed per second")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="how long orders are placed")
    parser.add_argument(
        "--profile", type=Path, default=None, metavar="FILE", help="py-spy profile of the worker"
    )
    args = parse(parser, argv, strict=strict)
    with servers() as srv:
        # uvloop: this process is the load, the receiver and the mail server at once.
        f = uvloop.run(run(srv, args.rate, args.seconds, api_env(args.api_env), args.profile))
    all_latencies = f.webhook_latencies + f.email_latencies
    p95 = percentile(all_latencies, 95)
    backlog = sum(f.backlog_at_stop)
    print(
        f"delivery: {args.rate:g} orders/s for {args.seconds:g} s, each placed, picked, packed and"
        f" shipped (4 events: 4 webhooks, 2 emails); receiver and mail server answer in"
        f" {ANSWER_SECONDS * 1000:.0f} ms; API and worker in processes of their own"
    )
    load = f.load
    print(
        f"  load: {load.placed:,} orders placed, {load.shipped:,} shipped in {f.load_seconds:.1f} s;"
        f" placeOrder p95 {percentile(load.place_seconds, 95) * 1000:.0f} ms; errors {load.errors}"
        + (f" (first: {load.error_sample})" if load.error_sample else "")
    )
    print(
        f"  delivered: {f.webhooks:,} webhooks and {f.emails:,} emails of {f.owed[0]:,} and {f.owed[1]:,}"
        f" owed; {f.delivered_during_load / max(f.load_seconds, 1e-9):.0f} deliveries/s during the load"
        f" ({6 * args.rate:g}/s produced)"
    )
    print(f"  commit -> acknowledged, webhooks: {_latency(f.webhook_latencies)}")
    print(f"  commit -> acknowledged, emails:   {_latency(f.email_latencies)}")
    print(
        f"  p95 of all deliveries: {p95:.2f} s   target < {P95_TARGET_SECONDS:g} s"
        f"   {verdict(bool(all_latencies) and p95 < P95_TARGET_SECONDS)}"
        f"   (from the start of each event's transaction: {percentile(f.from_began, 95):.2f} s)"
    )
    drained = f.drain_seconds
    print(
        f"  backlog when the load stopped: {f.backlog_at_stop[0]} webhooks, {f.backlog_at_stop[1]} emails;"
        f" drained in {'never (300 s)' if drained is None else f'{drained:.1f} s'}"
        f"   target < {DRAIN_TARGET_SECONDS:g} s   {verdict(drained is not None and drained < DRAIN_TARGET_SECONDS)}"
    )
    print(f"  {_cpu(f.cpu)}")
    missing = f.owed[0] - f.webhooks + f.owed[1] - f.emails
    return 1 if load.errors or missing or backlog < 0 else 0


if __name__ == "__main__":
    from bench.common import install_signal_handlers

    install_signal_handlers()
    raise SystemExit(main(sys.argv[1:]))
