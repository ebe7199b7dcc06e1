"""Placing an order, second half: reserve the planned stock and store the order, in the
transaction where `placement.prepare` planned it (see domain/order/placement.py).

Never oversells: the planned stock rows are locked in one statement in a fixed
(sku, location) order, re-checked under the lock, and reserved with the table's
constraints as the last guard. If another order took the stock between the plan and
the lock, `StockConflict` tells the caller to retry with a fresh plan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal
from domain.db import driver_connection, lock_wait
from domain.events import catalog as events
from domain.faults import LockWaitTimeout
from domain.money import Money
from domain.order.events import append_event
from domain.order.numbers import format_number
from domain.order.placement import (
    Prepared,
    PricedLine,
    StockConflict,
    placement_hash,
    refuse_existing,
)
from domain.order.queries import LineRow, OrderRow, ShipmentRow
from domain.order.status import LineQuantities, order_status


def _assign_to_lines(
    lines: list[PricedLine], per_sku: dict[str, int], taken: dict[int, int]
) -> dict[int, int]:
    """Spread a shipment's per-SKU quantities over the order's lines of that SKU, in line
    order (a SKU may appear on several lines)."""
    out: dict[int, int] = {}
    for line in lines:
        want = per_sku.get(line.sku, 0)
        if want <= 0:
            continue
        free = line.quantity - taken.get(line.line_number, 0)
        use = min(free, want)
        if use > 0:
            out[line.line_number] = use
            taken[line.line_number] = taken.get(line.line_number, 0) + use
            per_sku[line.sku] = want - use
    return out


@dataclass(frozen=True, slots=True)
class Placed:
    """The order as stored, from the rows its statements returned: what a reader of the
    order would see, without reading it again."""

    order: OrderRow
    lines: list[LineRow]
    shipments: list[ShipmentRow]


_ORDER_RETURNING = (
    "id, number, channel_id, external_id, customer_id, currency, status, return_status, delivery_method,"
    " service_level, pickup_location_id, split_preference, ship_name, ship_line1, ship_line2, ship_city,"
    " ship_postal_code, ship_country_code, company, purchase_order_number, sales_rep, subtotal_minor,"
    " discount_minor, tax_minor, shipping_minor, total_minor, placed_at"
)
_LINE_RETURNING = (
    "id, order_id, line_number, sku, quantity, unit_price_minor, discount_minor, tax_minor,"
    " quantity_cancelled, quantity_allocated, quantity_backordered, quantity_shipped,"
    " quantity_delivered, quantity_returned"
)
_SHIPMENT_RETURNING = (
    "id, order_id, location_id, method, status, service_level, carrier, service, tracking_number,"
    " tracking_url, ship_by, deliver_by, pickup_code, shipped_at, delivered_at"
)


async def write(
    session: AsyncSession, principal: Principal, p: Prepared, now: dt.datetime
) -> Placed:
    """Reserve and store the prepared order. Raises StockConflict if the planned stock is
    gone (the caller retries with a fresh plan)."""
    conn = await driver_connection(session)
    data = p.data
    request_hash = placement_hash(data)
    reserve = sorted(
        ((sku, s.site.location_id, q) for s in p.plan.shipments for sku, q in s.lines.items()),
        key=lambda r: (r[0], r[1]),
    )
    if reserve:
        # The lock timeout bounds each lock wait, and this statement can wait several
        # times in a row (for each row; for a row, behind the other waiters, then for its
        # holder): the statement as a whole gets the lock timeout as its deadline, so
        # that an order behind a stuck transaction is answered within it.
        try:
            locked = await conn.fetch(
                "SELECT s.sku, s.location_id, s.on_hand - s.reserved - s.safety_stock - s.damaged AS available"
                " FROM stock_levels s JOIN unnest($1::text[], $2::bigint[]) AS t(sku, location_id)"
                " ON s.sku = t.sku AND s.location_id = t.location_id"
                " ORDER BY s.sku, s.location_id FOR UPDATE OF s",
                [r[0] for r in reserve],
                [r[1] for r in reserve],
                timeout=lock_wait(session),
            )
        except TimeoutError as exc:
            raise LockWaitTimeout("the stock rows are held by another transaction") from exc
        available = {(r["sku"], r["location_id"]): r["available"] for r in locked}
        if any(available.get((sku, loc), 0) < q for sku, loc, q in reserve):
            raise StockConflict()

    # The customer (created, or name and phone refreshed) and the order number, in one
    # round trip.
    customer = await conn.fetchrow(
        "WITH c AS (INSERT INTO customers (channel_id, email, name, phone) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (channel_id, email) DO UPDATE SET name = coalesce(excluded.name, customers.name),"
        " phone = coalesce(excluded.phone, customers.phone)"
        " RETURNING customers.id, customers.name, customers.phone)"
        " SELECT c.id, c.name, c.phone, nextval('order_number_seq') AS number FROM c",
        p.channel.id,
        p.email,
        data.customer_name,
        data.customer_phone,
    )
    customer_id, sequence_value = customer["id"], customer["number"]
    address = data.shipping_address
    initial_status = order_status(
        [LineQuantities(line.quantity, 0) for line in p.lines],
        ["ALLOCATED"] * len(p.plan.shipments) + ["PENDING"] * (1 if p.backorders else 0),
    )
    order = await conn.fetchrow(
        f"""
        INSERT INTO orders (number, channel_id, external_id, customer_id, currency, status, delivery_method,
            service_level, pickup_location_id, split_preference, ship_name, ship_line1, ship_line2, ship_city,
            ship_postal_code, ship_country_code, ship_latitude, ship_longitude, company, purchase_order_number,
            sales_rep, subtotal_minor, discount_minor, tax_minor, shipping_minor, total_minor, sourcing_decision,
            placed_at, updated_at, request_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
            $22, $23, $24, $25, $26, $27::jsonb, $28, $28, $29)
        ON CONFLICT (channel_id, external_id) DO NOTHING
        RETURNING {_ORDER_RETURNING}
        """,
        format_number(int(sequence_value)),
        p.channel.id,
        data.external_id,
        customer_id,
        p.channel.currency,
        initial_status,
        data.delivery_method,
        data.service_level if data.delivery_method == "SHIP" else None,
        p.pickup_location_id,
        p.plan.preference,
        address.name if address else None,
        address.line1 if address else None,
        address.line2 if address else None,
        address.city if address else None,
        address.postal_code if address else None,
        address.country_code if address else None,
        data.latitude,
        data.longitude,
        data.company,
        data.purchase_order_number,
        data.sales_rep,
        p.subtotal,
        p.discount,
        p.tax,
        p.shipping,
        p.total,
        orjson.dumps(p.decision()).decode(),
        now,
        request_hash,
    )
    if order is None:
        existing = await conn.fetchrow(
            "SELECT id, number, request_hash FROM orders WHERE channel_id = $1 AND external_id = $2",
            p.channel.id,
            data.external_id,
        )
        refuse_existing(existing, data)
    order_id = order["id"]

    taken: dict[int, int] = {}
    shipments_lines: list[
        tuple[str, int, str, dt.datetime | None, dt.datetime | None, dict[int, int]]
    ] = []
    for s in p.plan.shipments:
        shipments_lines.append(
            (
                "ALLOCATED",
                s.site.location_id,
                s.method,
                s.ship_by,
                s.deliver_by,
                _assign_to_lines(p.lines, dict(s.lines), taken),
            )
        )
    # Backordered units wait in one PENDING shipment per location their supply arrives at.
    waiting: dict[int, dict[str, int]] = {}
    for sku, (location_id, qty) in sorted(p.backorders.items()):
        waiting.setdefault(location_id, {})[sku] = qty
    for location_id, per_sku in sorted(waiting.items()):
        shipments_lines.append(
            ("PENDING", location_id, "SHIP", None, None, _assign_to_lines(p.lines, per_sku, taken))
        )
    allocated: dict[int, int] = {}
    backordered: dict[int, int] = {}
    for status, _, _, _, _, by_line in shipments_lines:
        target = backordered if status == "PENDING" else allocated
        for line_number, q in by_line.items():
            target[line_number] = target.get(line_number, 0) + q

    line_rows = await conn.fetch(
        f"""
        INSERT INTO order_lines (order_id, line_number, sku, quantity, unit_price_minor, discount_minor, tax_minor,
            allocated_at_placement, quantity_allocated, quantity_backordered)
        SELECT $1, * FROM unnest($2::int[], $3::text[], $4::int[], $5::bigint[], $6::bigint[], $7::bigint[],
            $8::int[], $9::int[], $10::int[])
        RETURNING {_LINE_RETURNING}
        """,
        order_id,
        [line.line_number for line in p.lines],
        [line.sku for line in p.lines],
        [line.quantity for line in p.lines],
        [line.unit_price for line in p.lines],
        [line.discount for line in p.lines],
        [line.tax for line in p.lines],
        [allocated.get(line.line_number, 0) for line in p.lines],
        [allocated.get(line.line_number, 0) for line in p.lines],
        [backordered.get(line.line_number, 0) for line in p.lines],
    )
    line_ids = {r["line_number"]: r["id"] for r in line_rows}
    sku_of = {line.line_number: line.sku for line in p.lines}
    shipment_rows = await _insert_shipments(
        conn, order_id, shipments_lines, data.service_level, now
    )
    sl_shipment, sl_line, sl_sku, sl_qty = [], [], [], []
    shipments: list[ShipmentRow] = []
    for row, (_, _, _, _, _, by_line) in zip(shipment_rows, shipments_lines, strict=True):
        for line_number, q in by_line.items():
            sl_shipment.append(row["id"])
            sl_line.append(line_ids[line_number])
            sl_sku.append(sku_of[line_number])
            sl_qty.append(q)
        lines_of = sorted((line_ids[n], sku_of[n], q) for n, q in by_line.items() if q > 0)
        shipments.append(ShipmentRow(**dict(row), lines=tuple(lines_of)))
    await conn.execute(
        "INSERT INTO shipment_lines (shipment_id, order_line_id, sku, quantity)"
        " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[])",
        sl_shipment,
        sl_line,
        sl_sku,
        sl_qty,
    )
    if reserve:
        await conn.execute(
            "UPDATE stock_levels s SET reserved = s.reserved + t.q, updated_at = $4"
            " FROM unnest($1::text[], $2::bigint[], $3::int[]) AS t(sku, location_id, q)"
            " WHERE s.sku = t.sku AND s.location_id = t.location_id",
            [r[0] for r in reserve],
            [r[1] for r in reserve],
            [r[2] for r in reserve],
            now,
        )
        await conn.execute(
            "INSERT INTO inventory_movements (sku, location_id, kind, reserved_delta, reference, actor, occurred_at)"
            " SELECT sku, location_id, 'RESERVE', q, $4, $5, $6 FROM unnest($1::text[], $2::bigint[], $3::int[])"
            " AS t(sku, location_id, q)",
            [r[0] for r in reserve],
            [r[1] for r in reserve],
            [r[2] for r in reserve],
            f"order:{order_id}",
            principal.actor,
            now,
        )
    _, sequence = await append_event(
        conn,
        order_id=order_id,
        channel_id=p.channel.id,
        type="ORDER_PLACED",
        actor=principal.actor,
        payload={
            "status": initial_status,
            "externalId": data.external_id,
            "total": str(Money(p.total, p.channel.currency)),
            "currency": p.channel.currency,
            "skus": {line.sku: line.quantity for line in p.lines},
            # Where it is to be prepared: each location's partners hear of it.
            **events.shipments_part(
                {
                    "shipmentId": s.id,
                    "locationId": s.location_id,
                    "method": s.method,
                    "status": s.status,
                }
                for s in sorted(shipments, key=lambda s: s.id)
            ),
        },
        now=now,
    )
    return Placed(
        order=OrderRow(
            **dict(order),
            channel_code=p.channel.code,
            customer_email=p.email,
            customer_name=customer["name"],
            customer_phone=customer["phone"],
            last_event_sequence=sequence,
        ),
        lines=[LineRow(**dict(r)) for r in sorted(line_rows, key=lambda r: r["line_number"])],
        shipments=sorted(shipments, key=lambda s: s.id),
    )


async def _insert_shipments(
    conn: Any,
    order_id: int,
    shipments: list[tuple[str, int, str, dt.datetime | None, dt.datetime | None, dict[int, int]]],
    service_level: str | None,
    now: dt.datetime,
) -> list[Any]:
    """The inserted shipment rows, in the order of `shipments`."""
    rows = await conn.fetch(
        f"""
        INSERT INTO shipments (order_id, location_id, method, status, service_level, ship_by, deliver_by, created_at, updated_at)
        SELECT $1, location_id, method, status, service_level, ship_by, deliver_by, $8, $8
        FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[])
            AS t(location_id, method, status, service_level, ship_by, deliver_by)
        RETURNING {_SHIPMENT_RETURNING}
        """,
        order_id,
        [s[1] for s in shipments],
        [s[2] for s in shipments],
        [s[0] for s in shipments],
        [service_level if s[2] == "SHIP" else None for s in shipments],
        [s[3] for s in shipments],
        [s[4] for s in shipments],
        now,
    )
    # (location, method, status) is unique within one placement's shipments.
    by_key = {(r["location_id"], r["method"], r["status"]): r for r in rows}
    return [by_key[(s[1], s[2], s[0])] for s in shipments]
