"""The console's order list: SQL statements per Orders request, and Orders requests/s.

Data (through the domain services): 10 warehouses in one channel's network, 200
products each stocked at only 2 of them (so that a 3-line order often splits into
2 or 3 shipments), about 2,000 orders of 3 lines placed by the domain's own placement
(`prepare` then `write`, as placeOrder runs them), an ADMIN key. Then, with the Orders
operation of ../shared/clients/admin.graphql (variables {"filter": null, "first": N}):

1. Statements per request, for N = 10, 50, 100: the API runs in this process
   (`api.app.create_app` behind `httpx.ASGITransport`), and asyncpg's execution methods
   (Connection and PreparedStatement) are wrapped, in this process only, to record
   every statement sent while a request is being served (a context variable scopes the
   record to the request, so the event hub's own pings never count). Each statement
   is a round trip; they are split into data statements (SELECT ...) and connection
   or transaction control (SQLAlchemy's pool pre-ping `;`, BEGIN, ROLLBACK, COMMIT).
2. Throughput: Orders with first=100 over HTTP to one `oms serve` process, from the
   shared load generator in a process of its own, at concurrency 8. The per-minute
   query cost budget is raised for this run (one admin key at full speed would
   otherwise be throttled: that is the limiter working, not the API's speed).

Targets: statements per request constant whatever the page size, and at most 6.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import gc
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    HOST,
    ApiServer,
    CpuWatch,
    Database,
    LoadResult,
    Servers,
    api_env,
    base_parser,
    graphql_headers,
    http_request,
    operation_document,
    parse,
    run_load,
    run_tag,
    servers,
    start_profiler,
    stop_profiler,
    verdict,
)

LOCATIONS = 10
SKUS = 200
ORDERS = 2_000
PAGE_SIZES = (10, 50, 100)
REQUESTS_PER_SIZE = 10
CONCURRENCY = 8
SECONDS = 10.0
PLACING_TASKS = 4
STATEMENTS_TARGET = 6
NO_BUDGET = str(10**15)


@dataclass(frozen=True)
class Fixture:
    token: str
    orders: int
    shipments: int
    lines: int


async def _place(db: Database, channel: str, external_id: str, skus: Sequence[str]) -> None:
    """One order, as placeOrder stores it (without the idempotency record)."""
    from domain.catalog.service import AddressData
    from domain.order import placement, writing

    data = placement.PlaceOrderData(
        channel_code=channel,
        external_id=external_id,
        customer_email=f"{external_id.lower()}@example.com",
        customer_name="Camille Martin",
        lines=[placement.OrderLineData(sku, 1, ("19.90", "EUR")) for sku in skus],
        delivery_method="SHIP",
        shipping_address=AddressData(
            line1="3 rue Saint-Maur",
            city="Paris",
            postal_code="75011",
            country_code="FR",
            name="Camille Martin",
        ),
        latitude=48.8575,
        longitude=2.38,
        service_level="STANDARD",
        shipping_price=("4.90", "EUR"),
    )
    for attempt in range(6):
        try:
            async with db.uow() as uow:
                now = dt.datetime.now(dt.UTC)
                prepared = await placement.prepare(
                    uow.session, db.principal, data, now, lock=attempt == 5
                )
                await writing.write(uow.session, db.principal, prepared, now)
            return
        except placement.StockConflict:
            continue


async def build(database_url: str, orders: int) -> Fixture:
    tag = run_tag()
    locations = [f"OP{tag}-W{i:02d}" for i in range(1, LOCATIONS + 1)]
    skus = [f"OP{tag}-S{i:03d}" for i in range(SKUS)]
    channel = f"bench-op-{tag.lower()}"
    rng = random.Random(11)
    async with Database(database_url) as db:
        await db.create_locations(locations)
        await db.create_products(skus)
        await db.create_channel(channel, locations)
        counts: dict[str, dict[str, int]] = {loc: {} for loc in locations}
        for sku in skus:
            for loc in rng.sample(locations, 2):
                counts[loc][sku] = 1_000_000
        as_of = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
        for loc in locations:
            await db.set_stock(loc, counts[loc], as_of=as_of)
        token = await db.create_api_key(f"bench console {tag}", "ADMIN")
        queue = [(f"OP{tag}-{i:05d}", rng.sample(skus, 3)) for i in range(orders)]

        async def placer() -> None:
            while queue:
                external_id, picked = queue.pop()
                await _place(db, channel, external_id, picked)

        await asyncio.gather(*(placer() for _ in range(PLACING_TASKS)))
        await db.execute("ANALYZE")
        async with db.engine.connect() as conn:
            from sqlalchemy import text

            row = (
                await conn.execute(
                    text(
                        "SELECT count(DISTINCT o.id), count(DISTINCT s.id), count(DISTINCT l.id)"
                        " FROM orders o JOIN channels c ON c.id = o.channel_id"
                        " JOIN shipments s ON s.order_id = o.id JOIN order_lines l ON l.order_id = o.id"
                        " WHERE c.code = :code"
                    ),
                    {"code": channel},
                )
            ).one()
    return Fixture(token=token, orders=row[0], shipments=row[1], lines=row[2])


# --------------------------------------------------------------------------- counting


_record: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "oms_bench_statements", default=None
)


@contextlib.contextmanager
def statements_recorded() -> Iterator[None]:
    """Wrap asyncpg's execution methods (this process only) to record statements sent
    while `_record` holds a list; undone on exit."""
    from asyncpg.connection import Connection
    from asyncpg.prepared_stmt import PreparedStatement

    patched: list[tuple[type, str, Any]] = []

    def wrap(cls: type, name: str, query_of: Callable[[Any, tuple[Any, ...]], str | None]) -> None:
        original = getattr(cls, name)

        async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            record = _record.get()
            if record is not None:
                query = query_of(self, args)
                if query is not None:
                    record.append(query)
            return await original(self, *args, **kwargs)

        patched.append((cls, name, original))
        setattr(cls, name, wrapper)

    # execute() without arguments is a simple query; with arguments it goes to _execute.
    wrap(Connection, "execute", lambda self, a: a[0] if len(a) == 1 else None)
    wrap(Connection, "_execute", lambda self, a: a[0])  # fetch, fetchrow, fetchval, execute
    wrap(Connection, "_executemany", lambda self, a: a[0])
    # SQLAlchemy runs its statements as prepared statements.
    wrap(PreparedStatement, "_PreparedStatement__bind_execute", lambda self, a: self._query)
    wrap(PreparedStatement, "executemany", lambda self, a: self._query)
    try:
        yield
    finally:
        for cls, name, original in reversed(patched):
            setattr(cls, name, original)


def is_control(query: str) -> bool:
    """Connection or transaction control rather than data: pre-ping, BEGIN, ROLLBACK..."""
    head = query.strip().rstrip(";").split(None, 1)
    return not head or head[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def label(query: str) -> str:
    text = " ".join(query.split())
    return "; (SQLAlchemy pool pre-ping)" if text == ";" else text[:100]


@dataclass
class PageCount:
    first: int
    edges: int
    totals: list[int] = field(default_factory=list)  # requests served from the auth cache
    data: list[int] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    refreshes: list[int] = field(default_factory=list)  # requests that looked the key up


def is_auth_lookup(query: str) -> bool:
    return "FROM api_keys" in query


async def count_statements(srv: Servers, fixture: Fixture, requests: int) -> list[PageCount]:
    import httpx

    from api.app import create_app
    from api.settings import Settings

    settings = Settings.from_env(
        {
            "DATABASE_URL": srv.database_url,
            "REDIS_URL": srv.redis_url,
            "OMS_SECRET_KEY": secrets.token_urlsafe(48),
            "OMS_DATA_DIR": str(srv.tmp / "in-process-api"),
            "OMS_LOG_LEVEL": "WARNING",
            "OMS_COST_BUDGET_PER_MINUTE": NO_BUDGET,
        }
    )
    app = create_app(settings)
    # As the app's lifespan does at startup: what is loaded so far stays out of the
    # garbage collector's way (the in-process CPU figures are then like the server's).
    gc.collect()
    gc.freeze()
    document = operation_document("admin.graphql", "Orders")
    headers = graphql_headers(fixture.token)
    out: list[PageCount] = []
    transport = httpx.ASGITransport(app=app)
    # The lifespan is not run: queries need no event hub (and EventHub.stop() can hang on
    # Python 3.11 when a notification arrives during it), so the engine and Redis are
    # closed here instead.
    try:
        await _serve(transport, document, headers, requests, out)
    finally:
        await _close(app)
    return out


def _services(app: Any) -> Any:
    """The Services of the app's GraphQL view (its engine and Redis client live there)."""
    for route in app.routes:
        services = getattr(getattr(route, "endpoint", None), "services", None)
        if services is not None:
            return services
    return None


async def _close(app: Any) -> None:
    services = _services(app)
    if services is None:
        return
    engine = services.sessionmaker.kw.get("bind")
    if engine is not None:
        await engine.dispose()
    budget = services.cost_budget
    redis = getattr(budget, "_redis", None)
    if redis is not None:
        with contextlib.suppress(Exception):
            await redis.aclose()


async def _serve(
    transport: Any,
    document: str,
    headers: dict[str, str],
    requests: int,
    out: list[PageCount],
) -> None:
    import httpx

    async with httpx.AsyncClient(transport=transport, base_url="http://oms.bench") as client:

        async def one(first: int) -> tuple[list[str], float, float, int]:
            record: list[str] = []
            token = _record.set(record)
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                response = await client.post(
                    "/graphql",
                    json={"query": document, "variables": {"filter": None, "first": first}},
                    headers=headers,
                )
            finally:
                _record.reset(token)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            answer = response.json()
            if response.status_code != 200 or answer.get("errors"):
                raise RuntimeError(f"unexpected answer to Orders: {str(answer)[:1000]}")
            return record, wall, cpu, len(answer["data"]["orders"]["edges"])

        with statements_recorded():
            for first in PAGE_SIZES:  # warm-up: connections, statement caches, imports
                await one(first)
            for first in PAGE_SIZES:
                count = PageCount(first, 0)
                for _ in range(requests):
                    record, wall, cpu, count.edges = await one(first)
                    count.ms.append(wall * 1000)
                    count.cpu_ms.append(cpu * 1000)
                    if any(is_auth_lookup(q) for q in record):
                        # The API key's lookup, cached OMS_AUTH_CACHE_SECONDS (1 s): not the
                        # query's own statements; counted apart.
                        count.refreshes.append(len(record))
                        continue
                    count.totals.append(len(record))
                    count.data.append(sum(not is_control(q) for q in record))
                    count.sample = record
                if not count.totals:
                    raise RuntimeError("every request refreshed the API key: too slow to count")
                out.append(count)


# --------------------------------------------------------------------------- throughput


def throughput(
    srv: Servers,
    fixture: Fixture,
    *,
    seconds: float,
    warmup: float,
    concurrency: int,
    extra_env: dict[str, str],
    quiet_wait: float,
    profile: Path | None = None,
) -> tuple[LoadResult, int]:
    document = operation_document("admin.graphql", "Orders")
    variables = {"filter": None, "first": 100}
    env = {"OMS_COST_BUDGET_PER_MINUTE": NO_BUDGET, **extra_env}
    with ApiServer(srv, env) as api:
        # At start the API's relay stamps and fans out the events of the orders placed
        # beforehand: let it finish, so that the window measures the query alone.
        assert api.pid is not None
        _wait_idle(api.pid)
        answer = api.post(document, variables, fixture.token)
        if answer.get("errors") or len(answer["data"]["orders"]["edges"]) != 100:
            raise RuntimeError(f"unexpected answer to Orders: {str(answer)[:1000]}")
        cost = int(answer.get("extensions", {}).get("cost", {}).get("requested", 0))
        profiler = start_profiler(api.pid, profile) if profile is not None else None
        try:
            result = _load(
                api, srv, document, variables, fixture, concurrency, warmup, seconds, quiet_wait
            )
        finally:
            stop_profiler(profiler)
    return result, cost


def _load(
    api: ApiServer,
    srv: Servers,
    document: str,
    variables: dict[str, Any],
    fixture: Fixture,
    concurrency: int,
    warmup: float,
    seconds: float,
    quiet_wait: float,
) -> LoadResult:
    return run_load(
        "Orders first=100 over HTTP",
        {
            "mode": "http",
            "host": HOST,
            "port": api.port,
            "request": http_request(api.port, document, variables, fixture.token),
            "concurrency": concurrency,
            "warmup": warmup,
            "seconds": seconds,
        },
        CpuWatch({"api": api.pid, "postgres": srv.pg_pid, "redis": srv.redis_pid}),
        quiet_wait=quiet_wait,
    )


def _wait_idle(
    pid: int, threshold: float = 0.05, settle: float = 1.0, limit: float = 180.0
) -> None:
    """Wait until process `pid` uses under `threshold` of a core for `settle` seconds."""
    import psutil

    proc = psutil.Process(pid)
    started = time.monotonic()
    proc.cpu_percent(None)
    while time.monotonic() - started < limit and proc.cpu_percent(settle) / 100 >= threshold:
        pass


def _range(values: Sequence[float], fmt: str = "{:g}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if low == high else f"{fmt.format(low)}-{fmt.format(high)}"


def report(
    fixture: Fixture,
    counts: list[PageCount],
    load: LoadResult,
    cost: int,
    *,
    concurrency: int,
    warmup: float,
) -> bool:
    print(
        f"orders_page: the Orders query (admin.graphql), {fixture.orders:,} orders,"
        f" {fixture.lines:,} lines, {fixture.shipments:,} shipments"
    )
    print(
        f"  statements per request (API in process, asyncpg wrapped; {len(counts[0].ms)}"
        " requests per page size after a warm-up):"
    )
    for c in counts:
        control = [t - d for t, d in zip(c.totals, c.data, strict=True)]
        print(
            f"    first={c.first:<3} ({c.edges:3} orders): {_range(c.totals):>5} statements"
            f" = {_range(c.data)} data + {_range(control)} connection/transaction control;"
            f" {sorted(c.ms)[len(c.ms) // 2]:.1f} ms, CPU {sorted(c.cpu_ms)[len(c.cpu_ms) // 2]:.1f}"
            " ms per request (median, in process)"
        )
    refreshes = [r for c in counts for r in c.refreshes]
    if refreshes:
        print(
            f"    (+ {len(refreshes)} request(s) that also looked up the API key, cached 1 s:"
            f" {_range(refreshes)} statements; not counted above)"
        )
    last = counts[-1]
    kinds = Counter(label(q) for q in last.sample)
    print(f"  the statements of one first={last.first} request, in order of first use:")
    seen: set[str] = set()
    for q in last.sample:
        name = label(q)
        if name not in seen:
            seen.add(name)
            print(f"    {kinds[name]:2} x  {name}")
    all_totals = {t for c in counts for t in c.totals}
    all_data = {d for c in counts for d in c.data}
    constant = len(all_totals) == 1 and len(all_data) == 1
    worst_total, worst_data = max(all_totals), max(all_data)
    print(
        f"  statements constant across page sizes: {verdict(constant)}"
        f"   (all: {sorted(all_totals)}, data: {sorted(all_data)})"
    )
    print(
        f"  data statements per request: {worst_data}   target <= {STATEMENTS_TARGET}"
        f"   {verdict(worst_data <= STATEMENTS_TARGET)}"
    )
    print(
        f"  all statements per request (round trips): {worst_total}   target <= {STATEMENTS_TARGET}"
        f"   {verdict(worst_total <= STATEMENTS_TARGET)}"
    )
    print(
        f"  Orders first=100 over HTTP (1 process), concurrency {concurrency},"
        f" {load.seconds:g} s after a {warmup:g} s warm-up (query cost {cost:,} points):"
    )
    print(f"      {load.line()}")
    print(f"      {load.cpu_line()}")
    if load.noise_warning():
        print(f"      {load.noise_warning()}")
    if load.error_sample:
        print(f"      first error: {load.error_sample}")
    print(f"  errors over HTTP: {load.errors}   {verdict(load.errors == 0)}")
    return constant and worst_total <= STATEMENTS_TARGET


def main(argv: Sequence[str] = (), *, strict: bool = True) -> int:
    parser = base_parser("bench orders_page", __doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured seconds (HTTP)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds (default 2)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--orders", type=int, default=ORDERS, help="orders placed beforehand")
    parser.add_argument(
        "--requests", type=int, default=REQUESTS_PER_SIZE, help="counted requests per page size"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="FILE",
        help="py-spy profile of the API under the HTTP load (.svg flame graph, .json"
        " speedscope, .txt collapsed stacks)",
    )
    args = parse(parser, argv, strict=strict)
    warmup = args.warmup if args.warmup is not None else min(2.0, max(1.0, args.seconds / 5))
    with servers() as srv:
        started = time.monotonic()
        fixture = asyncio.run(build(srv.database_url, args.orders))
        print(f"  ({fixture.orders:,} orders placed in {time.monotonic() - started:.0f} s)")
        counts = asyncio.run(count_statements(srv, fixture, args.requests))
        load, cost = throughput(
            srv,
            fixture,
            seconds=args.seconds,
            warmup=warmup,
            concurrency=args.concurrency,
            extra_env=api_env(args.api_env),
            quiet_wait=args.quiet_wait,
            profile=args.profile,
        )
    if args.profile is not None and args.profile.exists():
        print(f"  (py-spy profile of the API under load: {args.profile})")
    report(fixture, counts, load, cost, concurrency=args.concurrency, warmup=warmup)
    return 1 if load.errors else 0


if __name__ == "__main__":
    from bench.common import install_signal_handlers

    install_signal_handlers()
    raise SystemExit(main(sys.argv[1:]))
