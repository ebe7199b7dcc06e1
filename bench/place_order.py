"""Placing orders: 3-line PlaceOrder over HTTP, against the same transaction in raw asyncpg.

Data (through the domain services): 20 warehouses, all in one WEB channel's network,
300 products with a deep stock (10,000,000 on hand) of every product at every
warehouse, so that stock never runs out during a run; a CHANNEL key. Then, from a
separate load-generator process (this module run with `--load-worker`), at
concurrency 32, each for the same measured window after a warm-up:

1. the PlaceOrder operation of ../shared/clients/storefront.graphql over HTTP to one
   `oms serve` process: 3 lines of 3 different SKUs (1 unit each, drawn among the
   300), shipping to Paris, a new customer, a unique externalId and idempotencyKey
   per request (so every request places an order: nothing is replayed);
2. with the API stopped, the same SQL transaction straight through an asyncpg pool of
   20 connections: the statements the API's placement transaction issues, with their
   SQL (the constants of domain/idempotency.py, domain/availability/service.py and
   domain/order/placement.py and writing.py): the idempotency claim, the channel, the SKU check, the
   network's locations, stock levels and next inbound supply, then the stock rows
   locked in sorted order and checked, customer upserted and order number drawn,
   order, 3 lines, the shipment and its lines, the reserve of the 3 stock rows, 3
   ledger movements, the ORDER_PLACED event (with its NOTIFY) and the idempotency
   completion. The sourcing plan is precomputed: the warehouse the API chose for a
   sample order. What the raw side leaves out is the API's own work: HTTP and
   GraphQL, authentication, validation and pricing in Python, the plan, the answer,
   and the event relay (a transaction of its own, after commit);
3. the same with the writes only (from the lock on), for comparison with earlier
   figures, which used that.

The shared load generator (bench/loadgen.py) repeats one request; placing orders
needs a new one each time, hence the private worker below (same window semantics:
a request counts if sent inside the window and answered before it closes).

Targets: API throughput >= 40% of raw asyncpg; p95 < 150 ms over HTTP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    HOST,
    ROOT,
    ApiServer,
    CpuWatch,
    Database,
    LoadResult,
    Servers,
    api_env,
    api_processes,
    base_parser,
    operation_document,
    parse,
    run_tag,
    servers,
    start_profiler,
    stop_profiler,
    terminate,
    verdict,
    wait_for_quiet,
)

LOCATIONS = 20
SKUS = 300
ON_HAND = 10_000_000
LINES_PER_ORDER = 3
CONCURRENCY = 32
SECONDS = 30.0
RAW_POOL_SIZE = 20
P95_TARGET_MS = 150.0
RATIO_TARGET = 0.40
UNIT_PRICE = "19.90"
SHIPPING_PRICE = "4.90"
# Paris: a fixed destination, so that the plan (and the raw side's precomputed one) is stable.
DESTINATION = {
    "name": "Camille Martin",
    "line1": "3 rue Saint-Maur",
    "line2": None,
    "city": "Paris",
    "postalCode": "75011",
    "countryCode": "FR",
    "latitude": 48.8575,
    "longitude": 2.38,
}


@dataclass(frozen=True)
class Fixture:
    tag: str
    channel: str
    skus: list[str]
    locations: list[str]
    token: str


async def build(database_url: str, skus: int) -> Fixture:
    tag = run_tag()
    locations = [f"PO{tag}-W{i:02d}" for i in range(1, LOCATIONS + 1)]
    products = [f"PO{tag}-S{i:04d}" for i in range(skus)]
    channel = f"bench-po-{tag.lower()}"
    async with Database(database_url) as db:
        await db.create_locations(locations)
        await db.create_products(products)
        await db.create_channel(channel, locations)
        as_of = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
        for location in locations:
            await db.set_stock(location, dict.fromkeys(products, ON_HAND), as_of=as_of)
        token = await db.create_api_key(f"bench storefront {tag}", "CHANNEL", channel=channel)
        await db.execute("ANALYZE")
    return Fixture(tag=tag, channel=channel, skus=products, locations=locations, token=token)


def order_variables(channel: str, external_id: str, skus: Sequence[str]) -> dict[str, Any]:
    return {
        "input": {
            "channel": channel,
            "externalId": external_id,
            "customer": {
                "email": f"{external_id.lower()}@example.com",
                "name": "Camille Martin",
                "phone": "+33612345678",
            },
            "lines": [
                {"sku": sku, "quantity": 1, "unitPrice": {"amount": UNIT_PRICE, "currency": "EUR"}}
                for sku in skus
            ],
            "shippingAddress": DESTINATION,
            "delivery": {"method": "SHIP", "serviceLevel": "STANDARD", "pickupLocation": None},
            "shippingPrice": {"amount": SHIPPING_PRICE, "currency": "EUR"},
            "splitPreference": None,
            "b2b": None,
        },
        "idempotencyKey": f"bench:{external_id}",
    }


# --------------------------------------------------------------------------- raw transaction
# The statements of domain/order/writing.py `write` (and of upsert_customer and
# append_event), with the same shapes, issued straight through asyncpg.

_LOCK_SQL = (
    "SELECT s.sku, s.location_id, s.on_hand - s.reserved - s.safety_stock - s.damaged AS available"
    " FROM stock_levels s JOIN unnest($1::text[], $2::bigint[]) AS t(sku, location_id)"
    " ON s.sku = t.sku AND s.location_id = t.location_id"
    " ORDER BY s.sku, s.location_id FOR UPDATE OF s"
)
_CUSTOMER_SQL = (
    "INSERT INTO customers (channel_id, email, name, phone) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (channel_id, email) DO UPDATE SET name = coalesce(excluded.name, customers.name),"
    " phone = coalesce(excluded.phone, customers.phone) RETURNING customers.id"
)
_ORDER_SQL = """
INSERT INTO orders (number, channel_id, external_id, customer_id, currency, status, delivery_method,
    service_level, pickup_location_id, split_preference, ship_name, ship_line1, ship_line2, ship_city,
    ship_postal_code, ship_country_code, ship_latitude, ship_longitude, company, purchase_order_number,
    sales_rep, subtotal_minor, discount_minor, tax_minor, shipping_minor, total_minor, sourcing_decision,
    placed_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
    $22, $23, $24, $25, $26, $27::jsonb, $28, $28)
ON CONFLICT (channel_id, external_id) DO NOTHING
RETURNING id
"""
_LINES_SQL = """
INSERT INTO order_lines (order_id, line_number, sku, quantity, unit_price_minor, discount_minor, tax_minor,
    allocated_at_placement, quantity_allocated, quantity_backordered)
SELECT $1, * FROM unnest($2::int[], $3::text[], $4::int[], $5::bigint[], $6::bigint[], $7::bigint[],
    $8::int[], $9::int[], $10::int[])
RETURNING id, line_number
"""
_SHIPMENTS_SQL = """
INSERT INTO shipments (order_id, location_id, method, status, service_level, ship_by, deliver_by, created_at, updated_at)
SELECT $1, location_id, method, status, service_level, ship_by, deliver_by, $8, $8
FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
    AS t(location_id, method, status, service_level, ship_by, deliver_by)
RETURNING id, location_id, method, status
"""
_SHIPMENT_LINES_SQL = (
    "INSERT INTO shipment_lines (shipment_id, order_line_id, sku, quantity)"
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[])"
)
_RESERVE_SQL = (
    "UPDATE stock_levels s SET reserved = s.reserved + t.q, updated_at = $4"
    " FROM unnest($1::text[], $2::bigint[], $3::int[]) AS t(sku, location_id, q)"
    " WHERE s.sku = t.sku AND s.location_id = t.location_id"
)
_MOVEMENTS_SQL = (
    "INSERT INTO inventory_movements (sku, location_id, kind, reserved_delta, reference, actor, occurred_at)"
    " SELECT sku, location_id, 'RESERVE', q, $4, $5, $6 FROM unnest($1::text[], $2::bigint[], $3::int[])"
    " AS t(sku, location_id, q)"
)


@dataclass(frozen=True)
class RawPlan:
    """What the raw transaction needs that sourcing would have worked out."""

    channel_id: int
    channel_code: str
    location_id: int
    decision: str  # the sourcing decision JSON of the API's sample order (same size)
    actor: str
    # The whole transaction the API issues (idempotency key, channel, SKU check, the
    # network's locations, levels and inbound supply, then the writes), or its writes
    # only (lock, customer, order, lines, shipment, reservations, ledger, event).
    whole: bool = True


class _RawConflict(Exception):
    pass


async def place_raw(conn: Any, plan: RawPlan, external_id: str, skus: Sequence[str]) -> int:
    """One order, as `writing.write` would store it; returns its id."""
    from domain.order.events import append_event
    from domain.order.numbers import format_number

    now = dt.datetime.now(dt.UTC)
    price = int(UNIT_PRICE.replace(".", ""))
    shipping = int(SHIPPING_PRICE.replace(".", ""))
    ordered = sorted(skus)
    n = len(ordered)
    locs = [plan.location_id] * n
    ones = [1] * n
    async with conn.transaction():
        if plan.whole:
            await _reads(conn, plan, external_id, ordered, now)
        locked = await conn.fetch(_LOCK_SQL, ordered, locs)
        if len(locked) != n or any(r["available"] < 1 for r in locked):
            raise _RawConflict(external_id)
        customer_id = await conn.fetchval(
            _CUSTOMER_SQL,
            plan.channel_id,
            f"{external_id.lower()}@example.com",
            "Camille Martin",
            "+33612345678",
        )
        number = format_number(int(await conn.fetchval("SELECT nextval('order_number_seq')")))
        a = DESTINATION
        order_id = await conn.fetchval(
            _ORDER_SQL,
            number,
            plan.channel_id,
            external_id,
            customer_id,
            "EUR",
            "CONFIRMED",
            "SHIP",
            "STANDARD",
            None,
            "CONSOLIDATE",
            a["name"],
            a["line1"],
            a["line2"],
            a["city"],
            a["postalCode"],
            a["countryCode"],
            a["latitude"],
            a["longitude"],
            None,
            None,
            None,
            price * n,
            0,
            0,
            shipping,
            price * n + shipping,
            plan.decision,
            now,
        )
        line_rows = await conn.fetch(
            _LINES_SQL,
            order_id,
            list(range(1, n + 1)),
            list(skus),
            ones,
            [price] * n,
            [0] * n,
            [0] * n,
            ones,
            ones,
            [0] * n,
        )
        line_ids = {r["line_number"]: r["id"] for r in line_rows}
        shipment = await conn.fetch(
            _SHIPMENTS_SQL,
            order_id,
            [plan.location_id],
            ["SHIP"],
            ["ALLOCATED"],
            ["STANDARD"],
            [now + dt.timedelta(hours=20)],
            [now + dt.timedelta(days=3)],
            now,
        )
        await conn.execute(
            _SHIPMENT_LINES_SQL,
            [shipment[0]["id"]] * n,
            [line_ids[i] for i in range(1, n + 1)],
            list(skus),
            ones,
        )
        await conn.execute(_RESERVE_SQL, ordered, locs, ones, now)
        await conn.execute(
            _MOVEMENTS_SQL, ordered, locs, ones, f"order:{order_id}", plan.actor, now
        )
        await append_event(
            conn,
            order_id=order_id,
            channel_id=plan.channel_id,
            type="ORDER_PLACED",
            actor=plan.actor,
            payload={
                "status": "CONFIRMED",
                "externalId": external_id,
                "total": f"{(price * n + shipping) / 100:.2f} EUR",
                "currency": "EUR",
                "skus": dict.fromkeys(skus, 1),
            },
            now=now,
        )
        if plan.whole:
            from domain.idempotency import COMPLETE_SQL

            await conn.execute(
                COMPLETE_SQL,
                plan.actor,
                "placeOrder",
                f"bench:{external_id}",
                orjson.dumps({"orderId": order_id}).decode(),
            )
    return int(order_id)


async def _reads(
    conn: Any, plan: RawPlan, external_id: str, skus: Sequence[str], now: dt.datetime
) -> None:
    """What the API's transaction issues before it locks: the idempotency key, then the
    statements of validation and sourcing (domain/order/placement.py `prepare`)."""
    from domain import idempotency
    from domain.availability import service as atp
    from domain.order import placement

    claimed = await conn.fetchval(
        idempotency.CLAIM_SQL,
        plan.actor,
        "placeOrder",
        f"bench:{external_id}",
        "0" * 64,
        now,
        now + idempotency.TTL,
    )
    if not claimed:
        raise _RawConflict(f"idempotency key of {external_id} taken")
    await conn.fetchrow(atp.CHANNEL_SQL, plan.channel_code)
    await conn.fetch(placement.KNOWN_SKUS_SQL, list(skus))
    await conn.fetch(atp.NETWORK_SQL, plan.channel_id)
    await conn.fetch(atp.NETWORK_LEVELS_SQL, plan.channel_id, list(skus))
    await conn.fetch(atp.NEXT_INBOUND_SQL, plan.channel_id, list(skus))


# --------------------------------------------------------------------------- load worker
# Runs in its own process (`python -m bench.place_order --load-worker`, JSON spec on
# stdin, results as JSON to spec["result_file"]), so its CPU is not the server's.


class _Window:
    def __init__(self, warmup: float, seconds: float) -> None:
        self.start = time.perf_counter() + warmup
        self.end = self.start + seconds
        self.latencies: list[float] = []
        self.errors = 0
        self.error_sample: str | None = None
        self.user_errors: Counter[str] = Counter()
        self.user_error_sample: str | None = None
        self.sent = 0  # requests sent in all (warm-up included)

    def inside(self, sent: float, done: float) -> bool:
        return sent >= self.start and done < self.end

    def ok(self, sent: float, done: float) -> None:
        if self.inside(sent, done):
            self.latencies.append(done - sent)

    def error(self, sent: float, done: float, detail: str) -> None:
        if self.inside(sent, done):
            self.errors += 1
            self.error_sample = self.error_sample or detail[:500]

    def user_error(self, sent: float, done: float, errors: list[dict[str, Any]]) -> None:
        if self.inside(sent, done):
            for e in errors:
                self.user_errors[str(e.get("code"))] += 1
            self.user_error_sample = self.user_error_sample or str(errors)[:500]


def _pick(rng: random.Random, skus: Sequence[str]) -> list[str]:
    return rng.sample(skus, LINES_PER_ORDER)


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = -1
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length < 0:
        raise ConnectionError(f"response without Content-Length: {head[:300]!r}")
    return head[9:12], await reader.readexactly(length)


async def _http_worker(spec: dict[str, Any], window: _Window, worker: int) -> None:
    rng = random.Random(spec["seed"] * 1000 + worker)
    skus: list[str] = spec["skus"]
    query = b'{"query":' + orjson.dumps(spec["document"]) + b',"variables":'
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {spec['host']}:{spec['port']}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: application/graphql-response+json, application/json\r\n"
        f"Authorization: Bearer {spec['token']}\r\nContent-Length: "
    ).encode("latin-1")
    counter = 0
    while time.perf_counter() < window.end:
        try:
            reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
        except OSError as exc:
            now = time.perf_counter()
            window.error(now, now, f"connect: {exc!r}")
            await asyncio.sleep(0.05)
            continue
        try:
            while True:
                counter += 1
                external_id = f"{spec['prefix']}-{worker:02d}-{counter:07d}"
                body = (
                    query
                    + orjson.dumps(order_variables(spec["channel"], external_id, _pick(rng, skus)))
                    + b"}"
                )
                sent = time.perf_counter()
                if sent >= window.end:
                    return
                window.sent += 1
                writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
                status, payload = await _read_response(reader)
                done = time.perf_counter()
                if status != b"200":
                    window.error(sent, done, f"HTTP {status.decode()}: {payload[:400]!r}")
                    continue
                answer = orjson.loads(payload)
                if answer.get("errors"):
                    window.error(sent, done, str(answer["errors"]))
                    continue
                placed = answer["data"]["placeOrder"]
                if placed["userErrors"]:
                    window.user_error(sent, done, placed["userErrors"])
                elif placed["order"] is None:
                    window.error(sent, done, f"no order and no userErrors: {answer}")
                else:
                    window.ok(sent, done)
        except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
            now = time.perf_counter()
            window.error(now, now, f"connection: {exc!r}")
        finally:
            writer.close()


async def _raw_worker(spec: dict[str, Any], window: _Window, worker: int, pool: Any) -> None:
    rng = random.Random(spec["seed"] * 1000 + worker)
    plan = RawPlan(**spec["plan"])
    skus: list[str] = spec["skus"]
    counter = 0
    while True:
        counter += 1
        external_id = f"{spec['prefix']}-{worker:02d}-{counter:07d}"
        picked = _pick(rng, skus)
        sent = time.perf_counter()
        if sent >= window.end:
            return
        window.sent += 1
        try:
            async with pool.acquire() as conn:
                await place_raw(conn, plan, external_id, picked)
        except Exception as exc:  # any failure is an error of the run, whatever its kind
            window.error(sent, time.perf_counter(), repr(exc))
            continue
        window.ok(sent, time.perf_counter())


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    window = _Window(spec["warmup"], spec["seconds"])
    marks: dict[str, float] = {}

    async def announce() -> None:
        await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
        marks["cpu_start"] = _cpu_seconds()
        print("MEASURE_START", flush=True)
        await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
        marks["cpu_end"] = _cpu_seconds()
        print("MEASURE_END", flush=True)

    announcer = asyncio.create_task(announce())
    n = spec["concurrency"]
    # A server that stops answering must not hang the benchmark.
    timeout = window.end - time.perf_counter() + 30
    pool = None
    try:
        if spec["mode"] == "http":
            workers = [_http_worker(spec, window, i) for i in range(n)]
        else:
            import asyncpg

            pool = await asyncpg.create_pool(
                spec["dsn"], min_size=spec["pool_size"], max_size=spec["pool_size"]
            )
            workers = [_raw_worker(spec, window, i, pool) for i in range(n)]
        await asyncio.wait_for(asyncio.gather(*workers), timeout)
    except TimeoutError:
        window.errors += 1
        window.error_sample = window.error_sample or "requests still unanswered 30 s after the end"
    finally:
        if pool is not None:
            await pool.close()
    await announcer
    return {
        "seconds": spec["seconds"],
        "latencies": window.latencies,
        "errors": window.errors,
        "error_sample": window.error_sample,
        "user_errors": dict(window.user_errors),
        "user_error_sample": window.user_error_sample,
        "sent": window.sent,
        "client_cpu_seconds": marks["cpu_end"] - marks["cpu_start"],
    }


def _load_worker_main() -> None:
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop

        result = uvloop.run(_load(spec))
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        result = asyncio.run(_load(spec))
    with open(spec["result_file"], "w") as out:
        json.dump(result, out)


# --------------------------------------------------------------------------- parent side


@dataclass
class Run:
    load: LoadResult
    user_errors: dict[str, int]
    user_error_sample: str | None
    sent: int
    profile: str | None = None


def run_worker(
    label: str,
    spec: dict[str, Any],
    watch: CpuWatch,
    *,
    quiet_wait: float,
    profile_pid: int | None = None,
    profile_file: Path | None = None,
) -> Run:
    """The load worker in its own process; CPU of `watch`'s groups over its window."""
    busy_before = wait_for_quiet(quiet_wait)[0] if quiet_wait > 0 else None
    result_file = Path(tempfile.mkstemp(prefix="oms-bench-po-", suffix=".json")[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.place_order", "--load-worker"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    profiler: subprocess.Popen[bytes] | None = None
    cpu: dict[str, float] = {}
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({**spec, "result_file": str(result_file)}).encode())
        proc.stdin.close()
        for raw in proc.stdout:
            line = raw.decode().strip()
            if line == "MEASURE_START":
                watch.start()
                if profile_pid is not None and profile_file is not None:
                    profiler = start_profiler(profile_pid, profile_file)
            elif line == "MEASURE_END":
                cpu = watch.stop()
                stop_profiler(profiler)  # the profile covers the measured window only
        if proc.wait(spec["seconds"] + spec["warmup"] + 120) != 0:
            raise RuntimeError(f"the load worker failed (exit {proc.returncode})")
        result = json.loads(result_file.read_text())
    finally:
        terminate(proc)
        stop_profiler(profiler)
        result_file.unlink(missing_ok=True)
    machine = cpu.pop("machine", None)
    cpu["client"] = result["client_cpu_seconds"] / result["seconds"]
    if machine is not None:
        cpu["machine"] = machine
    return Run(
        load=LoadResult(
            label=label,
            seconds=result["seconds"],
            latencies=result["latencies"],
            errors=result["errors"],
            error_sample=result["error_sample"],
            cpu=cpu,
            busy_before=busy_before,
        ),
        user_errors=result["user_errors"],
        user_error_sample=result["user_error_sample"],
        sent=result["sent"],
        profile=str(profile_file) if profiler is not None else None,
    )


def sample_order(api: ApiServer, document: str, fixture: Fixture) -> dict[str, Any]:
    variables = order_variables(fixture.channel, f"PO{fixture.tag}-SAMPLE", fixture.skus[:3])
    answer = api.post(document, variables, fixture.token)
    placed = (answer.get("data") or {}).get("placeOrder") or {}
    if answer.get("errors") or placed.get("userErrors") or not placed.get("order"):
        raise RuntimeError(f"unexpected answer to PlaceOrder: {str(answer)[:1000]}")
    return dict(placed["order"])


async def raw_plan(database_url: str, fixture: Fixture, sample: dict[str, Any]) -> RawPlan:
    """The raw side's plan: where the API sent the sample order, and its decision JSON."""
    import asyncpg

    from domain.db import asyncpg_dsn

    (shipment,) = sample["shipments"]
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT o.channel_id, o.sourcing_decision::text AS decision, l.id AS location_id"
            " FROM orders o JOIN channels c ON c.id = o.channel_id, locations l"
            " WHERE c.code = $1 AND o.external_id = $2 AND l.code = $3",
            fixture.channel,
            sample["externalId"],
            shipment["location"]["code"],
        )
    finally:
        await conn.close()
    return RawPlan(
        channel_id=row["channel_id"],
        channel_code=fixture.channel,
        location_id=row["location_id"],
        decision=row["decision"],
        actor=f"bench:raw-asyncpg:{fixture.tag}",
    )


async def placed_counts(database_url: str, channel: str) -> dict[str, int]:
    import asyncpg

    from domain.db import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT split_part(o.external_id, '-', 2) AS side, count(*) AS n FROM orders o"
            " JOIN channels c ON c.id = o.channel_id WHERE c.code = $1 GROUP BY 1",
            channel,
        )
        short = await conn.fetchval(
            "SELECT count(*) FROM stock_levels WHERE reserved > on_hand - safety_stock - damaged"
        )
    finally:
        await conn.close()
    return {r["side"]: r["n"] for r in rows} | {"oversold rows": short}


def measure(
    srv: Servers,
    fixture: Fixture,
    *,
    seconds: float,
    warmup: float,
    concurrency: int,
    pool_size: int,
    extra_env: dict[str, str],
    quiet_wait: float,
    profile: Path | None,
) -> tuple[Run, Run, Run, dict[str, Any]]:
    from domain.db import asyncpg_dsn

    document = operation_document("storefront.graphql", "PlaceOrder")
    base = {
        "channel": fixture.channel,
        "skus": fixture.skus,
        "concurrency": concurrency,
        "warmup": warmup,
        "seconds": seconds,
        "seed": 7,
    }
    with ApiServer(srv, extra_env) as api:
        sample = sample_order(api, document, fixture)
        plan = asyncio.run(raw_plan(srv.database_url, fixture, sample))
        http = run_worker(
            "API over HTTP",
            {
                **base,
                "mode": "http",
                "host": HOST,
                "port": api.port,
                "token": fixture.token,
                "document": document,
                "prefix": f"PO{fixture.tag}-HTTP",
            },
            CpuWatch({"api": api.pid, "postgres": srv.pg_pid, "redis": srv.redis_pid}),
            quiet_wait=quiet_wait,
            profile_pid=api.pid,
            profile_file=profile,
        )
    # The API is stopped: the database and the machine are the raw transaction's alone.
    # Twice: the whole transaction the API issues, then its writes only.
    raws = []
    for whole in (True, False):
        raws.append(
            run_worker(
                "raw asyncpg" if whole else "raw asyncpg, writes only",
                {
                    **base,
                    "mode": "raw",
                    "dsn": asyncpg_dsn(srv.database_url),
                    "pool_size": pool_size,
                    "plan": {**plan.__dict__, "whole": whole},
                    "prefix": f"PO{fixture.tag}-{'RAW' if whole else 'RAWW'}",
                },
                CpuWatch({"postgres": srv.pg_pid}),
                quiet_wait=quiet_wait,
            )
        )
    raw, writes_only = raws
    return http, raw, writes_only, sample


def report(
    http: Run,
    raw: Run,
    writes_only: Run,
    *,
    concurrency: int,
    pool_size: int,
    warmup: float,
    skus: int,
    processes: str = "1 process",
) -> None:
    h, r = http.load, raw.load
    ratio = h.rps / r.rps if r.rps else 0.0
    p95 = h.ms(95)
    user_errors = sum(http.user_errors.values())
    print(
        f"place_order: {LINES_PER_ORDER}-line orders (1 unit of {LINES_PER_ORDER} SKUs among {skus})"
        f" over a network of {LOCATIONS} locations, concurrency {concurrency},"
        f" {h.seconds:g} s after a {warmup:g} s warm-up"
    )
    print(f"  API over HTTP ({processes}):  {h.line().replace('req/s', 'orders/s')}")
    print(f"      userErrors {user_errors}" + (f" {http.user_errors}" if user_errors else ""))
    print(f"      {h.cpu_line().replace('per request', 'per order')}")
    if h.noise_warning():
        print(f"      {h.noise_warning()}")
    if h.error_sample:
        print(f"      first error: {h.error_sample}")
    if http.user_error_sample:
        print(f"      first userErrors: {http.user_error_sample}")
    if http.profile:
        print(f"      py-spy profile of the API over the window: {http.profile}")
    w = writes_only.load
    for label, run in (
        ("raw asyncpg, the API's whole transaction", r),
        ("raw asyncpg, its writes only", w),
    ):
        print(
            f"  {label} (pool {pool_size}):  "
            f"{run.line(p99=False, errors=False).replace('req/s', 'orders/s')}"
        )
        print(f"      {run.cpu_line()}")
        if run.noise_warning():
            print(f"      {run.noise_warning()}")
        if run.errors:
            print(f"      raw errors: {run.errors}; first: {run.error_sample}")
    print(
        f"  p95 over HTTP: {p95:.2f} ms   target < {P95_TARGET_MS:g} ms"
        f"   {verdict(h.requests > 0 and p95 < P95_TARGET_MS)}"
    )
    print(
        f"  ratio API/raw (the same transaction): {ratio:.1%}   target >= {RATIO_TARGET:.0%}"
        f"   {verdict(ratio >= RATIO_TARGET)}"
    )
    writes_ratio = h.rps / w.rps if w.rps else 0.0
    print(f"  (ratio API/raw of the writes only: {writes_ratio:.1%})")
    print(
        f"  errors over HTTP: {h.errors}, userErrors: {user_errors}"
        f"   {verdict(h.errors == 0 and user_errors == 0)}"
    )


def main(argv: Sequence[str] = (), *, strict: bool = True) -> int:
    parser = base_parser("bench place_order", __doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds (default 5)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--pool-size", type=int, default=RAW_POOL_SIZE, help="raw asyncpg pool")
    parser.add_argument("--skus", type=int, default=SKUS, help="SKUs the lines are drawn from")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="py-spy profile of the API over the HTTP window (.svg flame graph, .json"
        " speedscope, .txt collapsed stacks)",
    )
    args = parse(parser, argv, strict=strict)
    warmup = args.warmup if args.warmup is not None else min(5.0, max(1.0, args.seconds / 5))
    with servers() as srv:
        fixture = asyncio.run(build(srv.database_url, args.skus))
        http, raw, writes_only, sample = measure(
            srv,
            fixture,
            seconds=args.seconds,
            warmup=warmup,
            concurrency=args.concurrency,
            pool_size=args.pool_size,
            extra_env=api_env(args.api_env),
            quiet_wait=args.quiet_wait,
            profile=args.profile,
        )
        counts = asyncio.run(placed_counts(srv.database_url, fixture.channel))
    (shipment,) = sample["shipments"]
    print(
        f"  (sample order {sample['number']}: {sample['status']}, {sample['total']['amount']}"
        f" {sample['total']['currency']}, one shipment from {shipment['location']['code']};"
        f" the raw transaction reserves there too)"
    )
    print(
        f"  (orders in the database: {counts.get('HTTP', 0):,} over HTTP of"
        f" {http.sent:,} sent, {counts.get('RAW', 0):,} raw of {raw.sent:,} sent,"
        f" {counts.get('RAWW', 0):,} raw writes-only of {writes_only.sent:,} sent,"
        f" warm-up included; stock rows reserved beyond what is there: {counts['oversold rows']})"
    )
    report(
        http,
        raw,
        writes_only,
        concurrency=args.concurrency,
        pool_size=args.pool_size,
        warmup=warmup,
        skus=args.skus,
        processes=api_processes(api_env(args.api_env)),
    )
    failed = (
        http.load.errors
        or raw.load.errors
        or writes_only.load.errors
        or sum(http.user_errors.values())
    )
    return 1 if failed or counts["oversold rows"] else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load-worker"]:
        _load_worker_main()
    else:
        from bench.common import install_signal_handlers

        install_signal_handlers()
        raise SystemExit(main(sys.argv[1:]))
