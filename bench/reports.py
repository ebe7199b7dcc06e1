"""The Orders and Returns reports on a million orders, with and without report indexes.

Data, generated in SQL (`INSERT ... SELECT` over `generate_series`, a few seconds per
million rows) in a private PostgreSQL migrated by `api.cli.migrate`:

- 10 locations and 8 channels (EUR x5, GBP, USD, JPY) through the domain services,
  2,000 products and 12,500 customers per channel in SQL;
- `--orders` orders (default 1,000,000) spread evenly over 2026, 1 to 4 lines each
  (2.5 on average) of 1 to 3 units; 3% fully cancelled, 5% backordered at placement
  (their first line short by one unit), 7% confirmed, 10% shipped, the rest
  delivered;
- one shipment per order, a second one for every 7th order and for backordered
  orders (split), shipped 2 to 71 hours after placement when the order shipped;
- a return for every 11th delivered order (REQUESTED, APPROVED, RECEIVED, REFUNDED,
  CLOSED or REJECTED in turn), on its first line (and its second, if any, for every
  22nd),
  with reason codes in turn, requested 7 to 16 days after placement.

Shipment lines, events and ledgers are not generated: the reports do not read them.
Foreign-key triggers are off while loading (`session_replication_role = replica`;
the rows are consistent by construction), check constraints are not. Then VACUUM
ANALYZE, as autovacuum would have done on a table of that age.

Timings: each report through `domain.reporting.queries` (the code the API and the
CLI run), over one month (November 2026, about 82,000 orders) and over the whole year
(every order), warm cache, median of `--runs` runs after a warm-up run; first with
the migrated schema's indexes only, then with the indexes proposed for the reports
(`REPORT_INDEXES`, replacing `REPLACED_INDEXES`), built on the benchmark database
only. Besides wall time, the CPU time PostgreSQL spent on each report (its backend
and parallel workers): the machine has 2 cores, and other programs running at the
same time stretch wall time but hardly CPU time; the load before each step is
printed. `--explain` prints the plans.

Target: a few seconds at most per report on a million orders.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Database, base_parser, machine_busy_now, parse, verdict

ORDERS = 1_000_000
RUNS = 5
SKUS = 2_000
CUSTOMERS_PER_CHANNEL = 12_500
TARGET_SECONDS = 3.0
YEAR = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
MONTH = (dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
CHANNELS = [
    ("bench-web-fr", "EUR"),
    ("bench-web-de", "EUR"),
    ("bench-web-it", "EUR"),
    ("bench-web-es", "EUR"),
    ("bench-market-eu", "EUR"),
    ("bench-web-uk", "GBP"),
    ("bench-web-us", "USD"),
    ("bench-web-jp", "JPY"),
]
LOCATIONS = [f"BENCH-L{i:02d}" for i in range(1, 11)]

# What the reports would like, measured here on top of the migrated schema's indexes:
# covering indexes, so that the reports read narrow index entries instead of rows
# (index-only probes for a short range, merge joins in order id order for a long
# one). Each covers columns that never change or that change only together with an
# already indexed one, so that updates stay HOT as before:
# - orders: placed_at, channel_id and currency never change after placement;
# - order lines: sku, quantity and allocated_at_placement never change;
#   quantity_cancelled does, on cancellation only (a rare update);
# - shipments: replaces `ix_shipments_order_id` (same key, so no index more); status
#   is already indexed (`ix_shipments_location_status`), and shipped_at changes with it.
REPORT_INDEXES = {
    "ix_orders_id_report": (
        "CREATE INDEX ix_orders_id_report ON orders (id) INCLUDE (placed_at, channel_id, currency)"
    ),
    "ix_order_lines_report": (
        "CREATE INDEX ix_order_lines_report ON order_lines (order_id)"
        " INCLUDE (sku, quantity, quantity_cancelled, allocated_at_placement)"
    ),
    "ix_shipments_order_report": (
        "CREATE INDEX ix_shipments_order_report ON shipments (order_id)"
        " INCLUDE (status, shipped_at)"
    ),
}
REPLACED_INDEXES = ["ix_shipments_order_id"]

GENERATE_SQL = [
    # ---- reference data
    """
    INSERT INTO products (sku, name, weight_grams)
    SELECT 'BR-' || lpad(i::text, 5, '0'), 'Bench product ' || i, 100 + i % 900
    FROM generate_series(1, {skus}) AS i
    """,
    """
    CREATE TEMP TABLE bench_channels AS
    SELECT (row_number() OVER (ORDER BY id) - 1)::int AS idx, id, currency
    FROM channels WHERE code LIKE 'bench-%'
    """,
    """
    INSERT INTO customers (id, channel_id, email)
    SELECT c.idx * {customers} + j, c.id, 'buyer' || j || '@ch' || c.idx || '.example.com'
    FROM bench_channels c, generate_series(1, {customers}) AS j
    """,
    # ---- orders: channel, customer, status and time follow from the order id
    """
    INSERT INTO orders (id, number, channel_id, external_id, customer_id, currency, status,
                        delivery_method, split_preference, subtotal_minor, total_minor,
                        placed_at)
    SELECT i, 'BR' || lpad(i::text, 9, '0'), c.id, 'X' || i,
           c.idx * {customers} + 1 + (i / 8) % {customers}, c.currency,
           CASE WHEN i % 100 < 3 THEN 'CANCELLED'
                WHEN i % 100 < 8 THEN 'BACKORDERED'
                WHEN i % 100 < 15 THEN 'CONFIRMED'
                WHEN i % 100 < 25 THEN 'SHIPPED'
                ELSE 'DELIVERED' END,
           'SHIP', 'CONSOLIDATE', t.total, t.total,
           timestamptz '{start}' + (i - 1) * (interval '365 days' / {orders})
    FROM generate_series(1::bigint, {orders}) AS i
    JOIN bench_channels c ON c.idx = i % 8
    CROSS JOIN LATERAL (SELECT 500 + (i * 7919) % 20000 AS total) t
    """,
    # ---- lines: id = order id * 4 + line number, so returns can name them
    """
    INSERT INTO order_lines (id, order_id, line_number, sku, quantity, unit_price_minor,
                             allocated_at_placement, quantity_cancelled, quantity_allocated,
                             quantity_backordered, quantity_shipped, quantity_delivered)
    SELECT o.id * 4 + n, o.id, n, 'BR-' || lpad((1 + (o.id * 31 + n * 17) % {skus})::text, 5, '0'),
           q.qty, 1000,
           q.qty - q.short,
           CASE WHEN o.status = 'CANCELLED' THEN q.qty ELSE 0 END,
           CASE WHEN o.status = 'CANCELLED' THEN 0 ELSE q.qty - q.short END,
           CASE WHEN o.status = 'CANCELLED' THEN 0 ELSE q.short END,
           CASE WHEN o.status IN ('SHIPPED', 'DELIVERED') THEN q.qty ELSE 0 END,
           CASE WHEN o.status = 'DELIVERED' THEN q.qty ELSE 0 END
    FROM orders o
    CROSS JOIN LATERAL generate_series(1, 1 + (o.id % 4)::int) AS n
    CROSS JOIN LATERAL (
        SELECT 1 + ((o.id + n) % 3)::int AS qty,
               CASE WHEN o.status = 'BACKORDERED' AND n = 1 THEN 1 ELSE 0 END AS short
    ) q
    """,
    # ---- shipments: one per order, a second for split orders
    """
    INSERT INTO shipments (order_id, location_id, method, status, shipped_at, delivered_at)
    SELECT o.id, l.id, 'SHIP',
           CASE o.status
                WHEN 'CANCELLED' THEN 'CANCELLED'
                WHEN 'BACKORDERED' THEN CASE WHEN s = 1 THEN 'ALLOCATED' ELSE 'PENDING' END
                WHEN 'CONFIRMED' THEN 'ALLOCATED'
                WHEN 'SHIPPED' THEN 'IN_TRANSIT'
                ELSE 'DELIVERED' END,
           CASE WHEN o.status IN ('SHIPPED', 'DELIVERED')
                THEN o.placed_at + (2 + (o.id * 13 + s * 7) % 70) * interval '1 hour' END,
           CASE WHEN o.status = 'DELIVERED'
                THEN o.placed_at + (50 + (o.id * 13 + s * 7) % 70) * interval '1 hour' END
    FROM orders o
    CROSS JOIN LATERAL generate_series(
        1, CASE WHEN o.id % 7 = 0 OR o.status = 'BACKORDERED' THEN 2 ELSE 1 END) AS s
    JOIN (SELECT (row_number() OVER (ORDER BY id) - 1)::int AS idx, id FROM locations) l
      ON l.idx = (o.id + s) % 10
    ORDER BY o.id, s
    """,
    # ---- returns: every 12th delivered order
    """
    INSERT INTO returns (id, number, order_id, channel_id, status, initiated_by,
                         receiving_location_id, requested_by, requested_at, received_at)
    SELECT o.id, 'RB' || lpad(o.id::text, 9, '0'), o.id, o.channel_id, st.status, 'CUSTOMER',
           (SELECT min(id) FROM locations), 'bench',
           o.placed_at + (7 + o.id % 10) * interval '1 day',
           CASE WHEN st.status IN ('RECEIVED', 'REFUNDED', 'CLOSED')
                THEN o.placed_at + (20 + o.id % 10) * interval '1 day' END
    FROM orders o
    CROSS JOIN LATERAL (
        SELECT (ARRAY['REQUESTED', 'APPROVED', 'RECEIVED', 'REFUNDED', 'CLOSED', 'REJECTED'])
               [1 + ((o.id / 11) % 6)::int] AS status
    ) st
    WHERE o.status = 'DELIVERED' AND o.id % 11 = 0
    """,
    """
    INSERT INTO return_lines (return_id, order_line_id, sku, quantity, reason_code,
                              quantity_received, quantity_restocked)
    SELECT r.id, l.id, l.sku, 1,
           (ARRAY['WRONG_SIZE', 'DAMAGED', 'DEFECTIVE', 'NOT_AS_DESCRIBED', 'WRONG_ITEM',
                  'NO_LONGER_NEEDED', 'LATE_DELIVERY', 'UNDELIVERABLE', 'OTHER'])
               [1 + ((r.id / 11 + l.line_number) % 9)::int],
           rc.received, rc.received
    FROM returns r
    JOIN order_lines l ON l.order_id = r.order_id
     AND (l.line_number = 1 OR (l.line_number = 2 AND r.id % 22 = 0))
    CROSS JOIN LATERAL (
        SELECT CASE WHEN r.status IN ('RECEIVED', 'REFUNDED', 'CLOSED') THEN 1 ELSE 0 END
               AS received
    ) rc
    """,
]

RESET_SEQUENCES = [
    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
    for table in ("customers", "orders", "order_lines", "shipments", "returns", "return_lines")
]

TABLES = ("products", "customers", "orders", "order_lines", "shipments", "returns", "return_lines")


async def generate(database_url: str, orders: int) -> None:
    from domain.channel.service import ChannelData, upsert_channel
    from domain.outbound import OutboundGuard

    async with Database(database_url) as db:
        await db.create_locations(LOCATIONS)
        for code, currency in CHANNELS:
            data = ChannelData(
                code=code, name=f"Bench {code}", kind="WEB", currency=currency, network=LOCATIONS
            )
            async with db.uow() as uow:
                await upsert_channel(uow.session, data, outbound=OutboundGuard.permissive())
        params = {
            "skus": SKUS,
            "customers": CUSTOMERS_PER_CHANNEL,
            "orders": orders,
            "start": YEAR[0].isoformat(),
        }
        raw = await _raw(database_url)
        try:
            await raw.execute("SET session_replication_role = replica")
            for sql in GENERATE_SQL:
                started = time.perf_counter()
                async with raw.transaction():
                    status = await raw.execute(sql.format(**params))
                first_words = " ".join(sql.split()[:3])
                print(f"    {first_words:<40} {status:<22} {time.perf_counter() - started:6.1f} s")
            for sql in RESET_SEQUENCES:
                await raw.execute(sql)
            started = time.perf_counter()
            await raw.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
            print(f"    {'VACUUM (ANALYZE)':<63} {time.perf_counter() - started:6.1f} s")
            sizes = await raw.fetch(
                "SELECT relname, n_live_tup, pg_size_pretty(pg_total_relation_size(relid)) AS size"
                " FROM pg_stat_user_tables WHERE relname = ANY($1::text[]) ORDER BY relname",
                list(TABLES),
            )
            for r in sizes:
                print(f"    {r['relname']:<14} {r['n_live_tup']:>10,} rows  {r['size']:>8}")
        finally:
            await raw.close()


async def _raw(database_url: str) -> Any:
    import asyncpg

    from domain.db import asyncpg_dsn

    return await asyncpg.connect(asyncpg_dsn(database_url))


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)  # seconds, per run
    cpu: list[float] = field(default_factory=list)  # PostgreSQL CPU seconds, per run


class PgCpu:
    """CPU seconds used by one backend and the parallel workers it started: the
    backend's own, plus what the postmaster's exited children (workers) used. Unlike
    wall time, hardly changed by other programs competing for the machine's cores."""

    def __init__(self, postmaster_pid: int, backend_pid: int) -> None:
        import psutil

        self.postmaster = psutil.Process(postmaster_pid)
        self.backend = psutil.Process(backend_pid)

    def __call__(self) -> float:
        own = self.backend.cpu_times()
        children = self.postmaster.cpu_times()
        return float(own.user + own.system + children.children_user + children.children_system)


async def time_reports(
    database_url: str, postmaster_pid: int | None, runs: int, explain: bool
) -> dict[str, Timing]:
    """Each report over each range, `runs` times after one warm-up run."""
    from sqlalchemy import text

    from domain.db import BATCH_WAITS, create_engine, create_read_sessionmaker
    from domain.reporting import queries as reports

    engine = create_engine(database_url, pool_size=1, max_overflow=0, waits=BATCH_WAITS)
    sessions = create_read_sessionmaker(engine)
    results: dict[str, Timing] = {}
    try:
        async with sessions() as session:  # the pool's one connection, reused by every run
            backend = int(await session.scalar(text("SELECT pg_backend_pid()")))
        cpu = PgCpu(postmaster_pid, backend) if postmaster_pid else None
        for range_name, (start, end) in (("month", MONTH), ("year", YEAR)):
            for name, fn in (
                ("orders", reports.orders_report),
                ("returns", reports.returns_report),
            ):
                timing = Timing()
                for i in range(runs + 1):
                    async with sessions() as session:
                        cpu_before = cpu() if cpu else 0.0
                        started = time.perf_counter()
                        report = await fn(session, start, end)
                        seconds = time.perf_counter() - started
                        cpu_seconds = cpu() - cpu_before if cpu else 0.0
                    if i:
                        timing.wall.append(seconds)
                        timing.cpu.append(cpu_seconds)
                results[f"{name} report, {range_name}"] = timing
                print(f"    {name} report, {range_name:<5} {_summary(timing)}  ({_gist(report)})")
        if explain:
            await _explain(database_url)
    finally:
        await engine.dispose()
    return results


def _gist(report: Any) -> str:
    if hasattr(report, "by_channel"):
        orders = sum(c.orders for c in report.by_channel)
        hours = report.average_hours_to_ship or 0.0
        return (
            f"{orders:,} orders, fill {report.fill_rate:.4f}, split {report.split_rate:.4f},"
            f" {hours:.1f} h to ship, {report.backordered_lines:,} backordered lines"
        )
    sold = sum(s.units_sold for s in report.by_sku)
    returned = sum(s.units_returned for s in report.by_sku)
    return f"{len(report.by_sku):,} SKUs, {sold:,} units sold, {returned:,} returned"


def _summary(timing: Timing) -> str:
    wall, cpu = timing.wall, timing.cpu
    return (
        f"wall best {min(wall) * 1000:7.0f} ms median {statistics.median(wall) * 1000:7.0f} ms,"
        f" PostgreSQL CPU median {statistics.median(cpu) * 1000:7.0f} ms"
    )


async def _explain(database_url: str) -> None:
    from domain.reporting import queries as reports

    raw = await _raw(database_url)
    try:
        for label, sql in (
            ("orders", reports.ORDERS_REPORT_SQL),
            ("returns by sku", reports.RETURNS_BY_SKU_SQL),
            ("returns by reason", reports.RETURNS_BY_REASON_SQL),
        ):
            for range_name, (start, end) in (("month", MONTH), ("year", YEAR)):
                rows = await raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", start, end)
                print(f"\n    -- {label}, {range_name}")
                for r in rows:
                    print("    " + r[0])
    finally:
        await raw.close()


async def create_indexes(
    database_url: str, indexes: dict[str, str], drop: Sequence[str] = ()
) -> None:
    raw = await _raw(database_url)
    try:
        for name, sql in indexes.items():
            started = time.perf_counter()
            await raw.execute(sql)
            print(f"    {name:<32} built in {time.perf_counter() - started:5.1f} s")
        for name in drop:
            await raw.execute(f"DROP INDEX {name}")
            print(f"    {name:<32} dropped (replaced)")
        await raw.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
    finally:
        await raw.close()


def main(argv: Sequence[str] = (), *, strict: bool = True) -> int:
    parser = base_parser("bench reports", __doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--orders", type=int, default=ORDERS, help="orders to generate")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs per report and range")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    args = parse(parser, argv, strict=strict)

    from api.cli import migrate
    from api.embedded import EmbeddedPostgres

    phases: dict[str, dict[str, Timing]] = {}
    with tempfile.TemporaryDirectory(prefix="oms-bench-reports-") as tmp:
        # Not durable: loading a million orders is faster, and the reports only read.
        pg = EmbeddedPostgres(Path(tmp) / "pg", durable=False)
        database_url = pg.start()
        try:
            migrate(database_url)
            print(f"generating {args.orders:,} orders (private PostgreSQL, not durable)")
            started = time.perf_counter()
            asyncio.run(generate(database_url, args.orders))
            print(f"  generated in {time.perf_counter() - started:.1f} s")
            steps: list[tuple[str, dict[str, str], Sequence[str]]] = [
                ("schema indexes", {}, ()),
                ("proposed indexes", REPORT_INDEXES, REPLACED_INDEXES),
            ]
            for label, indexes, drop in steps:
                if indexes:
                    print(f"\nbuilding the {label}")
                    asyncio.run(create_indexes(database_url, indexes, drop))
                busy = machine_busy_now()
                print(
                    f"\nreports with the {label} (cores busy before: {busy:.2f} of {os.cpu_count()})"
                )
                phases[label] = asyncio.run(
                    time_reports(database_url, pg.pid, args.runs, args.explain)
                )
        finally:
            pg.stop()
    print(f"\nsummary: medians of {args.runs} warm runs on {args.orders:,} orders")
    print(f"    {'':<24}" + "".join(f"{label + ': wall, PG CPU':>34}" for label in phases))
    for key in phases["schema indexes"]:
        cells = []
        for timing in (p[key] for p in phases.values()):
            wall, cpu = statistics.median(timing.wall), statistics.median(timing.cpu)
            cells.append(
                f"{wall * 1000:7.0f} ms {verdict(wall < TARGET_SECONDS):<6} {cpu * 1000:7.0f} ms"
            )
        print(f"    {key:<24}" + "".join(f"{c:>34}" for c in cells))
    print(f"    (OK: wall time under the target of {TARGET_SECONDS:g} s)")
    return 0


if __name__ == "__main__":
    import sys

    from bench.common import install_signal_handlers

    install_signal_handlers()
    raise SystemExit(main(sys.argv[1:]))
