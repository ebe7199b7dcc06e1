"""The storefront's hottest read: `availability` of 20 SKUs on a channel of 50 locations.

Data (through the domain services): 60 locations (50 in the channel's network), 420
products (the 20 asked for and 400 others), stock of every product at every location
(25,200 levels, via setStockLevels' service), a few open inbound supplies, a CHANNEL
key. Then, from a separate load-generator process, at concurrency 32:

1. the Availability operation of ../shared/clients/storefront.graphql over HTTP to one
   `oms serve` process (uvloop, httptools), keep-alive;
2. with the API stopped, the same SQL statement (`_AVAILABILITY_SQL`) with the same
   parameters through an asyncpg pool of 20 connections (the API's pool is 10 + 10
   overflow): what the database alone can do, the ceiling for the API.

Targets: p95 < 25 ms over HTTP; API throughput >= 35% of raw asyncpg.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

from bench.common import (
    ApiServer,
    CpuWatch,
    Database,
    LoadResult,
    Servers,
    api_env,
    api_processes,
    base_parser,
    http_request,
    operation_document,
    parse,
    run_load,
    run_tag,
    servers,
    verdict,
)

NETWORK_LOCATIONS = 50
OTHER_LOCATIONS = 10
ASKED_SKUS = 20
OTHER_SKUS = 400
CONCURRENCY = 32
SECONDS = 20.0
RAW_POOL_SIZE = 20
P95_TARGET_MS = 25.0
RATIO_TARGET = 0.35


@dataclass(frozen=True)
class Fixture:
    channel: str
    skus: list[str]
    token: str


async def build(database_url: str) -> Fixture:
    tag = run_tag()
    network = [f"AV{tag}-L{i:02d}" for i in range(1, NETWORK_LOCATIONS + 1)]
    others = [f"AV{tag}-X{i:02d}" for i in range(1, OTHER_LOCATIONS + 1)]
    asked = [f"AV{tag}-HOT-{i:02d}" for i in range(ASKED_SKUS)]
    rest = [f"AV{tag}-P{i:03d}" for i in range(OTHER_SKUS)]
    channel = f"bench-av-{tag.lower()}"
    rng = random.Random(42)
    now = dt.datetime.now(dt.UTC)
    async with Database(database_url) as db:
        await db.create_locations(network + others)
        await db.create_products(asked + rest)
        await db.create_channel(channel, network)
        for location in network + others:
            counts = {sku: rng.randint(5, 60) for sku in asked}
            counts |= {sku: rng.choice((0, 0, rng.randint(1, 200))) for sku in rest}
            await db.set_stock(location, counts, as_of=now - dt.timedelta(minutes=10))
        for i, location in enumerate(network[:8]):
            lines = {sku: rng.randint(10, 500) for sku in rng.sample(rest, 25)}
            lines[asked[i]] = 100  # an asked SKU with inbound supply too
            await db.create_inbound(
                location, f"PO-{tag}-{i}", now + dt.timedelta(days=3 + 2 * i), lines
            )
        token = await db.create_api_key(f"bench storefront {tag}", "CHANNEL", channel=channel)
        # As autovacuum would after a load like this one; the plan depends on it.
        await db.execute("ANALYZE")
    return Fixture(channel=channel, skus=asked, token=token)


def check_answer(api: ApiServer, document: str, fixture: Fixture) -> str:
    answer = api.post(document, {"channel": fixture.channel, "skus": fixture.skus}, fixture.token)
    rows = (answer.get("data") or {}).get("availability")
    if answer.get("errors") or not rows or len(rows) != len(fixture.skus):
        raise RuntimeError(f"unexpected answer to Availability: {str(answer)[:1000]}")
    statuses = sorted({r["status"] for r in rows})
    return f"{len(rows)} SKUs, statuses {', '.join(statuses)}, first {rows[0]}"


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
) -> tuple[LoadResult, LoadResult, str]:
    from domain.availability.service import _AVAILABILITY_SQL
    from domain.db import asyncpg_dsn

    document = operation_document("storefront.graphql", "Availability")
    with ApiServer(srv, extra_env) as api:
        sample = check_answer(api, document, fixture)
        http = run_load(
            "API over HTTP",
            {
                "mode": "http",
                "host": "127.0.0.1",
                "port": api.port,
                "request": http_request(
                    api.port,
                    document,
                    {"channel": fixture.channel, "skus": fixture.skus},
                    fixture.token,
                ),
                "concurrency": concurrency,
                "warmup": warmup,
                "seconds": seconds,
            },
            CpuWatch({"api": api.pid, "postgres": srv.pg_pid, "redis": srv.redis_pid}),
            quiet_wait=quiet_wait,
        )
    # The API is stopped: the database and the machine are the raw query's alone.
    raw = run_load(
        "raw asyncpg",
        {
            "mode": "asyncpg",
            "dsn": asyncpg_dsn(srv.database_url),
            "pool_size": pool_size,
            "sql": _AVAILABILITY_SQL,
            "args": [fixture.channel, fixture.skus],
            "concurrency": concurrency,
            "warmup": warmup,
            "seconds": seconds,
        },
        CpuWatch({"postgres": srv.pg_pid}),
        quiet_wait=quiet_wait,
    )
    return http, raw, sample


def report(
    http: LoadResult,
    raw: LoadResult,
    *,
    concurrency: int,
    pool_size: int,
    warmup: float,
    processes: str = "1 process",
) -> None:
    ratio = http.rps / raw.rps if raw.rps else 0.0
    p95 = http.ms(95)
    print(
        f"availability: {ASKED_SKUS} SKUs on a channel of {NETWORK_LOCATIONS} locations,"
        f" concurrency {concurrency}, {http.seconds:g} s after a {warmup:g} s warm-up"
    )
    print(f"  API over HTTP ({processes}):  {http.line()}")
    print(f"      {http.cpu_line()}")
    if http.noise_warning():
        print(f"      {http.noise_warning()}")
    if http.error_sample:
        print(f"      first error: {http.error_sample}")
    print(f"  raw asyncpg (pool {pool_size}):     {raw.line(p99=False, errors=False)}")
    print(f"      {raw.cpu_line()}")
    if raw.noise_warning():
        print(f"      {raw.noise_warning()}")
    if raw.errors:
        print(f"      raw errors: {raw.errors}; first: {raw.error_sample}")
    print(
        f"  p95 over HTTP: {p95:.2f} ms   target < {P95_TARGET_MS:g} ms   {verdict(http.requests > 0 and p95 < P95_TARGET_MS)}"
    )
    print(
        f"  ratio API/raw: {ratio:.1%}   target >= {RATIO_TARGET:.0%}"
        f"   {verdict(ratio >= RATIO_TARGET)}"
    )
    print(f"  errors over HTTP: {http.errors}   {verdict(http.errors == 0)}")


def main(argv: Sequence[str] = (), *, strict: bool = True) -> int:
    parser = base_parser("bench availability", __doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up seconds (default 3)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--pool-size", type=int, default=RAW_POOL_SIZE, help="raw asyncpg pool")
    args = parse(parser, argv, strict=strict)
    warmup = args.warmup if args.warmup is not None else min(3.0, max(1.0, args.seconds / 5))
    with servers() as srv:
        fixture = asyncio.run(build(srv.database_url))
        http, raw, sample = measure(
            srv,
            fixture,
            seconds=args.seconds,
            warmup=warmup,
            concurrency=args.concurrency,
            pool_size=args.pool_size,
            extra_env=api_env(args.api_env),
            quiet_wait=args.quiet_wait,
        )
    print(f"  (answer checked: {sample})")
    report(
        http,
        raw,
        concurrency=args.concurrency,
        pool_size=args.pool_size,
        warmup=warmup,
        processes=api_processes(api_env(args.api_env)),
    )
    return 1 if http.errors or raw.errors else 0


if __name__ == "__main__":
    from bench.common import install_signal_handlers

    install_signal_handlers()
    raise SystemExit(main(__import__("sys").argv[1:]))
