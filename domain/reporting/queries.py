"""The Orders report and the Returns report over a time range.

Both are computed entirely in PostgreSQL (one statement for the Orders report, two for
the Returns report, read in one read-only snapshot), so their cost grows with the rows
in the range, not with what Python does; money is summed as integer minor units per
currency, so it is exact. `bench/reports.py` times them on a million orders.

A range is half-open, `[start, end)`, on timestamps with time zone; a naive datetime
is taken as UTC. What falls in the range:

- **Orders report**: orders whose `placed_at` is in the range (a placement cohort):
  their lines, and all their shipments, whenever those shipped.
- **Returns report**: units sold come from orders placed in the range; units returned
  and reasons from returns whose `requested_at` is in the range and that were not
  `REJECTED` or `CANCELLED`. The two cohorts differ on purpose (a return follows its
  sale by days or weeks), so over a short range a SKU's return rate can exceed 1.

Figures (the GraphQL schema repeats them for clients):

Orders report, per channel (channels with orders in the range, by code):
- `orders`: orders placed, fully cancelled ones included;
- `units`: units ordered net of cancellations (`quantity - quantity_cancelled`);
- `revenue`: per currency of the channel's orders, the sum of order totals
  (`total_minor`), fully cancelled orders (status `CANCELLED`, worth 0) excluded; a
  currency whose orders were all cancelled shows 0. An order's total is that of the
  units still ordered (domain/order/totals.py), so revenue and units count the same
  units: a partial cancellation takes its units off both. Refunds of returned units
  are not taken off (the Returns report covers returns).

Orders report, over all channels:
- `fill_rate`: units allocated at placement / units ordered, over the lines
  (`sum(allocated_at_placement) / sum(quantity)`); 1.0 when there are no lines;
- `split_rate`: share of orders, among those not fully cancelled, with more than one
  shipment that is not `CANCELLED`; 0.0 when there are no such orders;
- `average_hours_to_ship`: mean of `shipped_at - placed_at`, in hours, over the
  orders' shipments that have shipped (`shipped_at` set, not `CANCELLED`); None when
  none has;
- `backordered_lines`: lines not allocated in full at placement
  (`allocated_at_placement < quantity`).

Returns report:
- `by_sku`: SKUs with units sold or units returned in the range: `units_sold` (units
  ordered net of cancellations), `units_returned` (units *received* on the returns of
  the range: a return requested but not yet received counts nothing yet) and
  `return_rate` = returned / sold (0.0 when nothing was sold); by rate, highest
  first, then SKU;
- `by_reason`: units *requested* per reason code on the returns of the range (what
  customers say, whether or not the parcel came back yet); reasons with units only,
  most units first, then reason code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import driver_connection
from domain.errors import DomainError


class InvalidRange(DomainError):
    code = "INVALID_RANGE"


@dataclass(frozen=True, slots=True)
class Revenue:
    currency: str
    minor: int


@dataclass(frozen=True, slots=True)
class ChannelOrders:
    channel: str
    orders: int
    units: int
    revenue: tuple[Revenue, ...]  # by currency code


@dataclass(frozen=True, slots=True)
class OrdersReport:
    by_channel: tuple[ChannelOrders, ...]
    fill_rate: float
    split_rate: float
    average_hours_to_ship: float | None
    backordered_lines: int


@dataclass(frozen=True, slots=True)
class SkuReturns:
    sku: str
    units_sold: int
    units_returned: int
    return_rate: float


@dataclass(frozen=True, slots=True)
class ReasonUnits:
    reason_code: str
    units: int


@dataclass(frozen=True, slots=True)
class ReturnsReport:
    by_sku: tuple[SkuReturns, ...]
    by_reason: tuple[ReasonUnits, ...]


def check_range(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The range with time zones (naive means UTC); `end` must come after `start`."""
    start = start if start.tzinfo is not None else start.replace(tzinfo=dt.UTC)
    end = end if end.tzinfo is not None else end.replace(tzinfo=dt.UTC)
    if end <= start:
        raise InvalidRange("`to` must be later than `from`", field=["to"])
    return start, end


# One row per (channel, currency) of the orders placed in the range, with every figure
# of the report as an additive sum, so the totals over all channels are sums of these
# rows and the ratios are computed from exact integers.
#
# Plain joins only, so that the planner picks index probes for a short range and
# scans for a long one (merge joins on the covering indexes proposed in
# `bench/reports.py`, parallel hash joins otherwise); each aggregate scans the orders
# of the range itself rather than sharing a materialized CTE, which would keep it
# from running in parallel. Shipments are summed per order first, since telling split
# orders (several live shipments) from the others needs a per-order count. Seconds to
# ship are float8 (`date_part`): an average needs no exactness, and float arithmetic
# is several times cheaper than numeric over a million rows.
ORDERS_REPORT_SQL = """
WITH by_order AS (
    SELECT o.channel_id, o.currency,
           count(*) AS orders,
           count(*) FILTER (WHERE o.status <> 'CANCELLED') AS live_orders,
           coalesce(sum(o.total_minor) FILTER (WHERE o.status <> 'CANCELLED'), 0)
               AS revenue_minor
    FROM orders o
    WHERE o.placed_at >= $1 AND o.placed_at < $2
    GROUP BY o.channel_id, o.currency
), by_line AS (
    SELECT o.channel_id, o.currency,
           sum(l.quantity - l.quantity_cancelled) AS units,
           sum(l.quantity) AS quantity,
           sum(l.allocated_at_placement) AS allocated,
           count(*) FILTER (WHERE l.allocated_at_placement < l.quantity) AS backordered_lines
    FROM orders o
    JOIN order_lines l ON l.order_id = o.id
    WHERE o.placed_at >= $1 AND o.placed_at < $2
    GROUP BY o.channel_id, o.currency
), per_order_shipments AS (
    SELECT o.channel_id, o.currency,
           count(*) AS shipments,
           count(s.shipped_at) AS shipped,
           sum(date_part('epoch', s.shipped_at - o.placed_at)) AS seconds_to_ship
    FROM orders o
    JOIN shipments s ON s.order_id = o.id
    WHERE o.placed_at >= $1 AND o.placed_at < $2 AND s.status <> 'CANCELLED'
    GROUP BY o.id, o.channel_id, o.currency
), by_shipment AS (
    SELECT channel_id, currency,
           count(*) FILTER (WHERE shipments > 1) AS split_orders,
           sum(shipped) AS shipped,
           sum(seconds_to_ship) AS seconds_to_ship
    FROM per_order_shipments
    GROUP BY channel_id, currency
)
SELECT c.code AS channel, b.currency, b.orders, b.live_orders, b.revenue_minor,
       coalesce(l.units, 0) AS units, coalesce(l.quantity, 0) AS quantity,
       coalesce(l.allocated, 0) AS allocated, coalesce(l.backordered_lines, 0) AS backordered_lines,
       coalesce(s.split_orders, 0) AS split_orders, coalesce(s.shipped, 0) AS shipped,
       coalesce(s.seconds_to_ship, 0) AS seconds_to_ship
FROM by_order b
JOIN channels c ON c.id = b.channel_id
LEFT JOIN by_line l ON l.channel_id = b.channel_id AND l.currency = b.currency
LEFT JOIN by_shipment s ON s.channel_id = b.channel_id AND s.currency = b.currency
ORDER BY c.code COLLATE "C", b.currency COLLATE "C"
"""

RETURNS_BY_SKU_SQL = """
WITH sold AS (
    SELECT l.sku, sum(l.quantity - l.quantity_cancelled) AS units
    FROM orders o
    JOIN order_lines l ON l.order_id = o.id
    WHERE o.placed_at >= $1 AND o.placed_at < $2
    GROUP BY l.sku
), returned AS (
    SELECT rl.sku, sum(rl.quantity_received) AS units
    FROM returns r
    JOIN return_lines rl ON rl.return_id = r.id
    WHERE r.requested_at >= $1 AND r.requested_at < $2
      AND r.status NOT IN ('REJECTED', 'CANCELLED')
    GROUP BY rl.sku
), joined AS (
    SELECT sku, coalesce(s.units, 0) AS units_sold, coalesce(r.units, 0) AS units_returned
    FROM sold s
    FULL JOIN returned r USING (sku)
)
SELECT sku, units_sold, units_returned,
       CASE WHEN units_sold > 0 THEN units_returned::float8 / units_sold ELSE 0.0 END
           AS return_rate
FROM joined
WHERE units_sold > 0 OR units_returned > 0
ORDER BY return_rate DESC, sku COLLATE "C"
"""

RETURNS_BY_REASON_SQL = """
SELECT rl.reason_code, sum(rl.quantity) AS units
FROM returns r
JOIN return_lines rl ON rl.return_id = r.id
WHERE r.requested_at >= $1 AND r.requested_at < $2
  AND r.status NOT IN ('REJECTED', 'CANCELLED')
GROUP BY rl.reason_code
ORDER BY units DESC, rl.reason_code COLLATE "C"
"""


# Planner settings for the report's statements only:
# - a plan for the range at hand: asyncpg prepares statements, and after five runs
#   PostgreSQL may switch to a generic plan, made without knowing the range; one made
#   for a month (index probes) then runs a year of orders several times slower;
# - memory for the hash joins and aggregates of a long range (with the server's
#   default, 4 MB, a year of orders spills to disk in batches);
# - the cost of a random page read of an SSD or of a cached page, rather than the
#   default's spinning disk (4.0), without which the planner scans every shipment of
#   the table for a month of orders instead of probing the orders' own (about 0.6 s
#   instead of 0.4 s for a month of bench/reports.py).
REPORT_SETTINGS = {
    "plan_cache_mode": "force_custom_plan",
    "work_mem": "64MB",
    "random_page_cost": "1.1",
}


@contextlib.asynccontextmanager
async def report_connection(session: AsyncSession) -> AsyncIterator[Any]:
    """The session's asyncpg connection with `REPORT_SETTINGS`, in a read-only
    REPEATABLE READ transaction of the report's own (one snapshot for all its
    statements); or, when the session is in a transaction already, in a savepoint of
    it, rolled back at the end so that the settings end with the report (a report
    writes nothing, so the rollback loses nothing)."""
    conn = await driver_connection(session)
    settings = "; ".join(f"SET LOCAL {name} = '{value}'" for name, value in REPORT_SETTINGS.items())
    if not conn.is_in_transaction():
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute(settings)
            yield conn
        return
    await conn.execute("SAVEPOINT oms_report")
    try:
        await conn.execute(settings)
        yield conn
    finally:
        await conn.execute("ROLLBACK TO SAVEPOINT oms_report; RELEASE SAVEPOINT oms_report")


async def orders_report(
    session: AsyncSession, start: dt.datetime, end: dt.datetime
) -> OrdersReport:
    """The Orders report of orders placed in `[start, end)` (see the module's doc)."""
    start, end = check_range(start, end)
    async with report_connection(session) as conn:
        rows = await conn.fetch(ORDERS_REPORT_SQL, start, end)
    return build_orders_report(rows)


def build_orders_report(rows: list[Any]) -> OrdersReport:
    """Fold the (channel, currency) rows into per-channel figures and overall ratios."""
    channels: dict[str, tuple[int, int, list[Revenue]]] = {}
    quantity = allocated = backordered = live = split = shipped = 0
    seconds = 0.0
    for r in rows:
        orders, units, revenue = channels.get(r["channel"], (0, 0, []))
        revenue.append(Revenue(r["currency"], int(r["revenue_minor"])))
        channels[r["channel"]] = (orders + r["orders"], units + int(r["units"]), revenue)
        quantity += int(r["quantity"])
        allocated += int(r["allocated"])
        backordered += r["backordered_lines"]
        live += r["live_orders"]
        split += r["split_orders"]
        shipped += int(r["shipped"])
        seconds += float(r["seconds_to_ship"])
    return OrdersReport(
        by_channel=tuple(
            ChannelOrders(channel=code, orders=orders, units=units, revenue=tuple(revenue))
            for code, (orders, units, revenue) in channels.items()
        ),
        fill_rate=allocated / quantity if quantity else 1.0,
        split_rate=split / live if live else 0.0,
        average_hours_to_ship=seconds / shipped / 3600 if shipped else None,
        backordered_lines=backordered,
    )


async def returns_report(
    session: AsyncSession, start: dt.datetime, end: dt.datetime
) -> ReturnsReport:
    """The Returns report of `[start, end)` (see the module's doc)."""
    start, end = check_range(start, end)
    async with report_connection(session) as conn:
        by_sku = await conn.fetch(RETURNS_BY_SKU_SQL, start, end)
        by_reason = await conn.fetch(RETURNS_BY_REASON_SQL, start, end)
    return ReturnsReport(
        by_sku=tuple(
            SkuReturns(
                sku=r["sku"],
                units_sold=int(r["units_sold"]),
                units_returned=int(r["units_returned"]),
                return_rate=float(r["return_rate"]),
            )
            for r in by_sku
        ),
        by_reason=tuple(ReasonUnits(r["reason_code"], int(r["units"])) for r in by_reason),
    )
