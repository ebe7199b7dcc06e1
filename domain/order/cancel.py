"""Cancelling orders, whole or in part: only what has not shipped, releasing its
reservations in the same transaction, and taking the cancelled units' money off the
order's amounts (domain/order/totals.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal
from domain.db import driver_connection
from domain.errors import Collector, InvalidState, NotFound
from domain.events import catalog as events
from domain.inventory.service import Movement, lock_rows, post_movements
from domain.money import Money
from domain.order.events import append_event
from domain.order.status import LineQuantities, order_status
from domain.order.totals import refresh_totals

# Before SHIPPED a shipment can still be stopped; its units are still on the shelf.
CANCELLABLE = frozenset({"PENDING", "ALLOCATED", "PICKING", "PACKED", "READY_FOR_PICKUP"})


class OrderNotFound(NotFound):
    code = "NOT_FOUND"


@dataclass
class _ShipmentLine:
    shipment_id: int
    order_line_id: int
    sku: str
    location_id: int
    status: str
    remaining: int


async def lock_order(conn: Any, principal: Principal, order_id: int, field: list[str | int]) -> Any:
    """The order row, locked; an order the caller may not see does not exist."""
    row = await conn.fetchrow(
        "SELECT id, channel_id, customer_id, status, number, currency FROM orders WHERE id = $1 FOR UPDATE",
        order_id,
    )
    if row is None or not principal.can_see_customer(row["channel_id"], row["customer_id"]):
        raise OrderNotFound("no such order", field=field)
    return row


async def _open_lines(conn: Any, order_id: int) -> list[_ShipmentLine]:
    rows = await conn.fetch(
        "SELECT sl.shipment_id, sl.order_line_id, sl.sku, s.location_id, s.status,"
        " sl.quantity - sl.quantity_cancelled AS remaining"
        " FROM shipment_lines sl JOIN shipments s ON s.id = sl.shipment_id"
        " WHERE s.order_id = $1 ORDER BY s.status = 'PENDING' DESC, s.id DESC, sl.order_line_id",
        order_id,
    )
    return [_ShipmentLine(**dict(r)) for r in rows]


async def refresh_status(conn: Any, order_id: int) -> str:
    lines = await conn.fetch(
        "SELECT quantity, quantity_cancelled FROM order_lines WHERE order_id = $1", order_id
    )
    statuses = [
        r["status"]
        for r in await conn.fetch("SELECT status FROM shipments WHERE order_id = $1", order_id)
    ]
    status = order_status(
        [LineQuantities(r["quantity"], r["quantity_cancelled"]) for r in lines], statuses
    )
    await conn.execute("UPDATE orders SET status = $2 WHERE id = $1", order_id, status)
    return status


async def cancel(
    session: AsyncSession,
    principal: Principal,
    *,
    order_id: int,
    lines: Sequence[tuple[int, int]] | None,
    reason: str | None,
    now: dt.datetime,
) -> str:
    """Cancel the whole order (`lines` None) or some units of some lines. Returns the
    order's new status."""
    conn = await driver_connection(session)
    order = await lock_order(conn, principal, order_id, ["orderId"])
    if reason is not None and len(reason) > 500:
        raise InvalidState(
            "reason must be at most 500 characters", field=["reason"], code="TOO_LONG"
        )
    open_lines = [
        sl
        for sl in await _open_lines(conn, order_id)
        if sl.status in CANCELLABLE and sl.remaining > 0
    ]
    wanted: dict[int, int] = {}
    if lines is None:
        for sl in open_lines:
            wanted[sl.order_line_id] = wanted.get(sl.order_line_id, 0) + sl.remaining
        if not wanted:
            raise InvalidState(
                f"order {order['number']} has nothing left to cancel: it is {order['status']}",
                field=["orderId"],
            )
    else:
        errors = Collector()
        order_line_ids = {
            r["id"]
            for r in await conn.fetch("SELECT id FROM order_lines WHERE order_id = $1", order_id)
        }
        for i, (line_id, qty) in enumerate(lines):
            cancellable = sum(sl.remaining for sl in open_lines if sl.order_line_id == line_id)
            if line_id not in order_line_ids:
                errors.add(
                    "NOT_FOUND", "no such line on this order", ["input", "lines", i, "orderLineId"]
                )
            elif qty <= 0:
                errors.add(
                    "OUT_OF_RANGE", "quantity must be positive", ["input", "lines", i, "quantity"]
                )
            elif qty + wanted.get(line_id, 0) > cancellable:
                errors.add(
                    "NOT_CANCELLABLE",
                    f"only {cancellable} units of this line have not shipped",
                    ["input", "lines", i, "quantity"],
                )
            else:
                wanted[line_id] = wanted.get(line_id, 0) + qty
        errors.raise_if_any()

    # Take units from backordered shipments first, then the latest allocated ones.
    releases: list[Movement] = []
    cut: list[tuple[int, int, int]] = []  # shipment, order line, quantity
    per_line_alloc: dict[int, int] = {}
    per_line_back: dict[int, int] = {}
    for sl in open_lines:
        need = wanted.get(sl.order_line_id, 0)
        if need <= 0:
            continue
        take = min(need, sl.remaining)
        wanted[sl.order_line_id] = need - take
        cut.append((sl.shipment_id, sl.order_line_id, take))
        if sl.status == "PENDING":
            per_line_back[sl.order_line_id] = per_line_back.get(sl.order_line_id, 0) + take
        else:
            per_line_alloc[sl.order_line_id] = per_line_alloc.get(sl.order_line_id, 0) + take
            releases.append(
                Movement(
                    sl.sku,
                    sl.location_id,
                    "RELEASE",
                    reserved_delta=-take,
                    reason="CANCELLED",
                    reference=f"order:{order_id}",
                )
            )
    await lock_rows(conn, [(m.sku, m.location_id) for m in releases])
    await post_movements(conn, releases, actor=principal.actor, now=now)
    await conn.execute(
        "UPDATE shipment_lines sl SET quantity_cancelled = sl.quantity_cancelled + t.q"
        " FROM unnest($1::bigint[], $2::bigint[], $3::int[]) AS t(shipment_id, order_line_id, q)"
        " WHERE sl.shipment_id = t.shipment_id AND sl.order_line_id = t.order_line_id",
        [c[0] for c in cut],
        [c[1] for c in cut],
        [c[2] for c in cut],
    )
    line_ids = sorted(set(per_line_alloc) | set(per_line_back))
    await conn.execute(
        "UPDATE order_lines l SET quantity_cancelled = l.quantity_cancelled + t.a + t.b,"
        " quantity_allocated = l.quantity_allocated - t.a, quantity_backordered = l.quantity_backordered - t.b"
        " FROM unnest($1::bigint[], $2::int[], $3::int[]) AS t(id, a, b) WHERE l.id = t.id",
        line_ids,
        [per_line_alloc.get(i, 0) for i in line_ids],
        [per_line_back.get(i, 0) for i in line_ids],
    )
    # A shipment with nothing left to send is cancelled; its location stops preparing it.
    cancelled_shipments = await conn.fetch(
        "UPDATE shipments s SET status = 'CANCELLED', updated_at = $2 FROM ("
        " SELECT id, status FROM shipments x WHERE x.order_id = $1 AND x.status <> 'CANCELLED'"
        " AND NOT EXISTS (SELECT 1 FROM shipment_lines sl WHERE sl.shipment_id = x.id AND sl.quantity > sl.quantity_cancelled)"
        ") AS before WHERE s.id = before.id RETURNING s.id, s.location_id, s.method, before.status AS previous",
        order_id,
        now,
    )
    status = await refresh_status(conn, order_id)
    touched = sorted({c[0] for c in cut} | {r["id"] for r in cancelled_shipments})
    cut_lines: dict[int, list[dict[str, Any]]] = {}
    sku_of = {(sl.shipment_id, sl.order_line_id): sl.sku for sl in open_lines}
    for shipment_id, line_id, quantity in cut:
        cut_lines.setdefault(shipment_id, []).append(
            {"orderLineId": line_id, "sku": sku_of[(shipment_id, line_id)], "quantity": quantity}
        )
    rows = await conn.fetch(
        "SELECT id, location_id, method, status FROM shipments WHERE id = ANY($1::bigint[]) ORDER BY id",
        touched,
    )
    totals = await refresh_totals(conn, order_id)
    await append_event(
        conn,
        order_id=order_id,
        channel_id=order["channel_id"],
        type=events.ORDER_CANCELLED if status == "CANCELLED" else events.ORDER_LINES_CANCELLED,
        actor=principal.actor,
        payload={
            "status": status,
            "reason": reason,
            "lines": {str(k): per_line_alloc.get(k, 0) + per_line_back.get(k, 0) for k in line_ids},
            "cancelledShipments": [r["id"] for r in cancelled_shipments],
            # The shipments it touched, and what was taken off each: their locations'
            # partners hear of it.
            **events.shipments_part(
                {
                    "shipmentId": r["id"],
                    "locationId": r["location_id"],
                    "method": r["method"],
                    "status": r["status"],
                    "lines": cut_lines.get(r["id"], []),
                }
                for r in rows
            ),
            # What the order is worth now (units still ordered), a decimal string like
            # ORDER_PLACED's `total`.
            "total": str(Money(totals.total, order["currency"])),
            "currency": order["currency"],
        },
        now=now,
    )
    # Then each cancelled shipment's own change, as any other status change is told.
    for r in sorted(cancelled_shipments, key=lambda r: r["id"]):
        await append_event(
            conn,
            order_id=order_id,
            channel_id=order["channel_id"],
            type=events.SHIPMENT_STATUS_CHANGED,
            actor=principal.actor,
            payload=events.shipment_status(
                shipment_id=r["id"],
                location_id=r["location_id"],
                method=r["method"],
                previous=r["previous"],
                status="CANCELLED",
                order_status=status,
                reason=reason,
            ),
            now=now,
        )
    return status
