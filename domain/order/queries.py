"""Reading orders: single, by external id, pages with filters, and what hangs off them,
batched by id for dataloaders (a page costs a fixed number of statements)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal, Role
from domain.db import driver_connection

ORDER_COLUMNS = """o.id, o.number, o.channel_id, c.code AS channel_code, o.external_id, o.customer_id,
    cu.email AS customer_email, cu.name AS customer_name, cu.phone AS customer_phone, o.currency, o.status,
    o.return_status, o.delivery_method, o.service_level, o.pickup_location_id, o.split_preference, o.ship_name,
    o.ship_line1, o.ship_line2, o.ship_city, o.ship_postal_code, o.ship_country_code, o.company,
    o.purchase_order_number, o.sales_rep, o.subtotal_minor, o.discount_minor, o.tax_minor, o.shipping_minor,
    o.total_minor, o.placed_at, o.last_event_sequence, o.original_subtotal_minor, o.original_discount_minor,
    o.original_tax_minor, o.original_shipping_minor, o.original_total_minor"""
ORDER_FROM = (
    "orders o JOIN channels c ON c.id = o.channel_id JOIN customers cu ON cu.id = o.customer_id"
)


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    number: str
    channel_id: int
    channel_code: str
    external_id: str
    customer_id: int
    customer_email: str
    customer_name: str | None
    customer_phone: str | None
    currency: str
    status: str
    return_status: str
    delivery_method: str
    service_level: str | None
    pickup_location_id: int | None
    split_preference: str
    ship_name: str | None
    ship_line1: str | None
    ship_line2: str | None
    ship_city: str | None
    ship_postal_code: str | None
    ship_country_code: str | None
    company: str | None
    purchase_order_number: str | None
    sales_rep: str | None
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    shipping_minor: int
    total_minor: int
    placed_at: dt.datetime
    last_event_sequence: int
    # The amounts as placed, once a cancellation changed those above (None: unchanged).
    original_subtotal_minor: int | None = None
    original_discount_minor: int | None = None
    original_tax_minor: int | None = None
    original_shipping_minor: int | None = None
    original_total_minor: int | None = None


@dataclass(frozen=True, slots=True)
class LineRow:
    id: int
    order_id: int
    line_number: int
    sku: str
    quantity: int
    unit_price_minor: int
    discount_minor: int
    tax_minor: int
    quantity_cancelled: int
    quantity_allocated: int
    quantity_backordered: int
    quantity_shipped: int
    quantity_delivered: int
    quantity_returned: int


@dataclass(frozen=True, slots=True)
class ShipmentRow:
    id: int
    order_id: int
    location_id: int
    method: str
    status: str
    service_level: str | None
    carrier: str | None
    service: str | None
    tracking_number: str | None
    tracking_url: str | None
    ship_by: dt.datetime | None
    deliver_by: dt.datetime | None
    pickup_code: str | None
    shipped_at: dt.datetime | None
    delivered_at: dt.datetime | None
    lines: tuple[tuple[int, str, int], ...]  # (order line id, sku, quantity net of cancellations)


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    order_id: int
    channel_id: int
    sequence: int
    type: str
    actor: str
    payload: dict[str, Any]
    occurred_at: dt.datetime


def visible(principal: Principal, row: OrderRow | None) -> OrderRow | None:
    if row is None or not principal.can_see_customer(row.channel_id, row.customer_id):
        return None
    if principal.role is Role.PARTNER:
        return None
    return row


async def orders_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, OrderRow]:
    conn = await driver_connection(session)
    rows = await conn.fetch(
        f"SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.id = ANY($1::bigint[])", list(ids)
    )
    return {r["id"]: OrderRow(**dict(r)) for r in rows}


async def order_by_external_id(
    session: AsyncSession, channel_code: str, external_id: str
) -> OrderRow | None:
    conn = await driver_connection(session)
    row = await conn.fetchrow(
        f"SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE c.code = $1 AND o.external_id = $2",
        channel_code,
        external_id,
    )
    return OrderRow(**dict(row)) if row else None


async def order_by_number(session: AsyncSession, number: str) -> OrderRow | None:
    conn = await driver_connection(session)
    row = await conn.fetchrow(
        f"SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.number = $1", number
    )
    return OrderRow(**dict(row)) if row else None


async def lines_by_order(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[LineRow]]:
    conn = await driver_connection(session)
    rows = await conn.fetch(
        "SELECT id, order_id, line_number, sku, quantity, unit_price_minor, discount_minor, tax_minor,"
        " quantity_cancelled, quantity_allocated, quantity_backordered, quantity_shipped, quantity_delivered,"
        " quantity_returned FROM order_lines WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, line_number",
        list(order_ids),
    )
    out: dict[int, list[LineRow]] = {}
    for r in rows:
        out.setdefault(r["order_id"], []).append(LineRow(**dict(r)))
    return out


async def lines_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, LineRow]:
    conn = await driver_connection(session)
    rows = await conn.fetch(
        "SELECT id, order_id, line_number, sku, quantity, unit_price_minor, discount_minor, tax_minor,"
        " quantity_cancelled, quantity_allocated, quantity_backordered, quantity_shipped, quantity_delivered,"
        " quantity_returned FROM order_lines WHERE id = ANY($1::bigint[])",
        list(ids),
    )
    return {r["id"]: LineRow(**dict(r)) for r in rows}


_SHIPMENT_SQL = """
SELECT s.id, s.order_id, s.location_id, s.method, s.status, s.service_level, s.carrier, s.service,
       s.tracking_number, s.tracking_url, s.ship_by, s.deliver_by, s.pickup_code, s.shipped_at, s.delivered_at,
       COALESCE((SELECT json_agg(json_build_array(sl.order_line_id, sl.sku, sl.quantity - sl.quantity_cancelled)
                                 ORDER BY sl.order_line_id)
                 FROM shipment_lines sl WHERE sl.shipment_id = s.id AND sl.quantity > sl.quantity_cancelled), '[]')::text AS lines
FROM shipments s
"""


def _shipment(r: Any) -> ShipmentRow:
    d = dict(r)
    d["lines"] = tuple(tuple(x) for x in orjson.loads(d["lines"]))
    return ShipmentRow(**d)


async def shipments_by_order(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[ShipmentRow]]:
    conn = await driver_connection(session)
    rows = await conn.fetch(
        _SHIPMENT_SQL + " WHERE s.order_id = ANY($1::bigint[]) ORDER BY s.order_id, s.id",
        list(order_ids),
    )
    out: dict[int, list[ShipmentRow]] = {}
    for r in rows:
        out.setdefault(r["order_id"], []).append(_shipment(r))
    return out


async def shipments_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, ShipmentRow]:
    conn = await driver_connection(session)
    rows = await conn.fetch(_SHIPMENT_SQL + " WHERE s.id = ANY($1::bigint[])", list(ids))
    return {r["id"]: _shipment(r) for r in rows}


async def events_of(
    session: AsyncSession, order_id: int, after_sequence: int, limit: int
) -> list[EventRow]:
    conn = await driver_connection(session)
    rows = await conn.fetch(
        "SELECT id, order_id, channel_id, sequence, type, actor, payload::text AS payload, occurred_at"
        " FROM order_events WHERE order_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
        order_id,
        after_sequence,
        limit,
    )
    return [EventRow(**{**dict(r), "payload": orjson.loads(r["payload"])}) for r in rows]


@dataclass(frozen=True, slots=True)
class OrderFilter:
    channel_code: str | None = None
    statuses: Sequence[str] | None = None
    placed_after: dt.datetime | None = None
    placed_before: dt.datetime | None = None
    sku: str | None = None
    customer_email: str | None = None
    customer_id: int | None = None


def _where(principal: Principal, f: OrderFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if principal.role is Role.CHANNEL or principal.role is Role.CUSTOMER:
        clauses.append(f"o.channel_id = {arg(principal.channel_id)}")
    if principal.role is Role.CUSTOMER:
        clauses.append(f"o.customer_id = {arg(principal.customer_id)}")
    if f.channel_code:
        clauses.append(f"c.code = {arg(f.channel_code)}")
    if f.statuses:
        clauses.append(f"o.status = ANY({arg(list(f.statuses))}::text[])")
    if f.placed_after:
        clauses.append(f"o.placed_at >= {arg(f.placed_after)}")
    if f.placed_before:
        clauses.append(f"o.placed_at < {arg(f.placed_before)}")
    if f.sku:
        clauses.append(
            f"EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id AND l.sku = {arg(f.sku)})"
        )
    if f.customer_email:
        clauses.append(f"cu.email = {arg(f.customer_email.strip().lower())}")
    if f.customer_id is not None:
        clauses.append(f"o.customer_id = {arg(f.customer_id)}")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


async def page_of_orders(
    session: AsyncSession,
    principal: Principal,
    f: OrderFilter,
    size: int,
    after: tuple[dt.datetime, int] | None,
) -> list[OrderRow]:
    """Newest first; keyset pagination on (placed_at, id). Fetches size + 1 rows."""
    where, args = _where(principal, f)
    if after is not None:
        args.extend(after)
        keyset = f"(o.placed_at, o.id) < (${len(args) - 1}, ${len(args)})"
        where = f"{where} AND {keyset}" if where else f" WHERE {keyset}"
    args.append(size + 1)
    conn = await driver_connection(session)
    rows = await conn.fetch(
        f"SELECT {ORDER_COLUMNS} FROM {ORDER_FROM}{where} ORDER BY o.placed_at DESC, o.id DESC LIMIT ${len(args)}",
        *args,
    )
    return [OrderRow(**dict(r)) for r in rows]


async def count_orders(session: AsyncSession, principal: Principal, f: OrderFilter) -> int:
    where, args = _where(principal, f)
    conn = await driver_connection(session)
    return int(await conn.fetchval(f"SELECT count(*) FROM {ORDER_FROM}{where}", *args))


@dataclass(frozen=True, slots=True)
class TrackingRow:
    shipment_id: int
    status: str
    occurred_at: dt.datetime
    location: str | None
    description: str | None
    applied: bool
    carrier: str
    event_id: str


async def tracking_by_shipment(
    session: AsyncSession, shipment_ids: Sequence[int]
) -> dict[int, list[TrackingRow]]:
    conn = await driver_connection(session)
    rows = await conn.fetch(
        "SELECT shipment_id, status, occurred_at, location, description, applied, carrier, event_id"
        " FROM tracking_events WHERE shipment_id = ANY($1::bigint[]) ORDER BY shipment_id, occurred_at, id",
        list(shipment_ids),
    )
    out: dict[int, list[TrackingRow]] = {}
    for r in rows:
        out.setdefault(r["shipment_id"], []).append(TrackingRow(**dict(r)))
    return out


async def shipments_at(
    session: AsyncSession,
    location_id: int,
    statuses: Sequence[str] | None,
    size: int,
    after: tuple[dt.datetime, int] | None,
) -> list[ShipmentRow]:
    """A location's work list, most urgent (earliest ship-by) first; keyset pagination."""
    conn = await driver_connection(session)
    far = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
    args: list[Any] = [location_id, list(statuses) if statuses else None, far, size + 1]
    where = "s.location_id = $1 AND ($2::text[] IS NULL OR s.status = ANY($2::text[]))"
    if after is not None:
        args.extend(after)
        where += " AND (COALESCE(s.ship_by, $3), s.id) > ($5, $6)"
    rows = await conn.fetch(
        _SHIPMENT_SQL + f" WHERE {where} ORDER BY COALESCE(s.ship_by, $3), s.id LIMIT $4", *args
    )
    return [_shipment(r) for r in rows]
