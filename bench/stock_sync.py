"""A WMS stock sync: setStockLevels with 10,000 lines in one call, over HTTP.

Data (through the domain services): one warehouse, 10,000 products, a PARTNER key
bound to the warehouse. Then the SetStockLevels operation of
../shared/clients/partner.graphql, three times, each timed end to end (request sent
to answer received and decoded; the request body is encoded beforehand):

1. on empty levels (no stock rows yet for these SKUs: they are created);
2. and 3. new counts for every SKU with a newer asOf (every line changes a level and
   writes a ledger movement).

Target: each call < 2 s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bench.common import (
    ApiServer,
    CpuWatch,
    Database,
    api_env,
    base_parser,
    graphql_body,
    graphql_headers,
    operation_document,
    parse,
    run_tag,
    servers,
    verdict,
    wait_for_quiet,
)

LINES = 10_000
RUNS = 3
TARGET_SECONDS = 2.0


@dataclass(frozen=True)
class Fixture:
    location: str
    skus: list[str]
    token: str


async def build(database_url: str, lines: int) -> Fixture:
    tag = run_tag()
    location = f"SY{tag}-WH"
    skus = [f"SY{tag}-{i:05d}" for i in range(lines)]
    async with Database(database_url) as db:
        await db.create_locations([location])
        await db.create_products(skus)
        token = await db.create_api_key(f"bench WMS {tag}", "PARTNER", locations=[location])
        await db.execute("ANALYZE")
    return Fixture(location=location, skus=skus, token=token)


@dataclass
class SyncRun:
    label: str
    seconds: float
    request_bytes: int
    response_bytes: int
    levels: int
    cpu: dict[str, float]
    problem: str | None


def sync_once(
    client: Any,
    api: ApiServer,
    watch: CpuWatch,
    document: str,
    fixture: Fixture,
    *,
    label: str,
    as_of: dt.datetime,
    rng: random.Random,
    quiet_wait: float,
) -> SyncRun:
    levels = [{"sku": sku, "onHand": rng.randint(0, 500)} for sku in fixture.skus]
    body = graphql_body(
        document,
        {
            "input": {"location": fixture.location, "asOf": as_of.isoformat(), "levels": levels},
            "idempotencyKey": f"bench-sync-{uuid.uuid4()}",
        },
    )
    headers = graphql_headers(fixture.token)
    if quiet_wait > 0:
        wait_for_quiet(quiet_wait)
    watch.start()
    started = time.perf_counter()
    response = client.post(api.url, content=body, headers=headers)
    answer = orjson.loads(response.content)
    seconds = time.perf_counter() - started
    cpu = {k: v * seconds for k, v in watch.stop().items()}  # CPU seconds of the call
    payload = (answer.get("data") or {}).get("setStockLevels") or {}
    written = len(payload.get("stockLevels") or [])
    problem = None
    if response.status_code != 200 or answer.get("errors"):
        problem = f"HTTP {response.status_code}: {str(answer.get('errors'))[:500]}"
    elif payload.get("userErrors"):
        problem = f"userErrors: {str(payload['userErrors'][:3])[:500]}"
    elif written != len(fixture.skus):
        problem = f"{written} levels written instead of {len(fixture.skus)}"
    return SyncRun(label, seconds, len(body), len(response.content), written, cpu, problem)


def main(argv: Sequence[str] = (), *, strict: bool = True) -> int:
    parser = base_parser("bench stock_sync", __doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--lines", type=int, default=LINES, help="lines per call")
    parser.add_argument("--runs", type=int, default=RUNS, help="calls (the first on empty levels)")
    args = parse(parser, argv, strict=strict)
    import httpx

    document = operation_document("partner.graphql", "SetStockLevels")
    rng = random.Random(7)
    runs: list[SyncRun] = []
    with servers() as srv:
        fixture = asyncio.run(build(srv.database_url, args.lines))
        with ApiServer(srv, api_env(args.api_env)) as api, httpx.Client(timeout=300) as client:
            # One small request first: connections, caches and imports warm, as in service.
            client.post(
                api.url, json={"query": "{ __typename }"}, headers=graphql_headers(fixture.token)
            )
            watch = CpuWatch({"api": api.pid, "postgres": srv.pg_pid})
            base = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
            for i in range(args.runs):
                label = "empty levels" if i == 0 else f"update {i}, newer asOf"
                runs.append(
                    sync_once(
                        client,
                        api,
                        watch,
                        document,
                        fixture,
                        label=label,
                        as_of=base + dt.timedelta(minutes=i + 1),
                        rng=rng,
                        quiet_wait=args.quiet_wait,
                    )
                )
    print(f"stock_sync: setStockLevels of {args.lines:,} lines in one call over HTTP, end to end")
    for i, run in enumerate(runs, 1):
        named = {k: v for k, v in run.cpu.items() if k != "machine"}
        other = max(0.0, run.cpu.get("machine", 0.0) - sum(named.values()))
        cpu = ", ".join([*(f"{k} {v:.2f} s" for k, v in named.items()), f"other {other:.2f} s"])
        print(
            f"  run {i} ({run.label}): {run.seconds:6.3f} s   target < {TARGET_SECONDS:g} s"
            f"   {verdict(run.problem is None and run.seconds < TARGET_SECONDS)}"
        )
        print(
            f"      request {run.request_bytes / 1e6:.2f} MB, answer {run.response_bytes / 1e6:.2f} MB,"
            f" {run.levels:,} levels; CPU during the call: {cpu}"
        )
        if run.problem:
            print(f"      ERROR: {run.problem}")
    return 1 if any(r.problem for r in runs) else 0


if __name__ == "__main__":
    import sys

    from bench.common import install_signal_handlers

    install_signal_handlers()
    raise SystemExit(main(sys.argv[1:]))
