"""Return cases: request, approve or reject, complete repairs, cancel; and carrier
returns of undeliverable parcels. Receiving parcels is domain/returns/receiving.py,
refunding them domain/returns/refunding.py.

Every operation locks the order row first (the order every writer follows), so two
returns racing for the last returnable unit are decided one after the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from domain.access.principal import Principal, Role
from domain.errors import Collector, DomainError, InvalidState, NotFound
from domain.inventory.service import Movement, lock_rows, post_movements
from domain.order.events import append_event
from domain.order.status import return_status
from domain.returns.models import REASONS
from domain.returns.numbers import format_return_number

OPEN = ("REQUESTED", "APPROVED", "IN_TRANSIT")
RECEIVABLE = ("APPROVED", "IN_TRANSIT")
DEFAULT_WINDOW_DAYS = 30


class ReturnNotFound(NotFound):
    code = "NOT_FOUND"


@dataclass(frozen=True, slots=True)
class ReturnLineRequest:
    order_line_id: int
    quantity: int
    reason_code: str
    reason_note: str | None = None


async def _lock_order(
    conn: Any, principal: Principal, order_id: int, field: list[str | int]
) -> Any:
    row = await conn.fetchrow(
        "SELECT o.id, o.channel_id, o.customer_id, o.number, o.currency, o.shipping_minor, o.total_minor,"
        " c.return_policy::text AS policy FROM orders o JOIN channels c ON c.id = o.channel_id"
        " WHERE o.id = $1 FOR UPDATE OF o",
        order_id,
    )
    if (
        row is None
        or not principal.can_see_customer(row["channel_id"], row["customer_id"])
        or principal.role is Role.PARTNER
    ):
        raise NotFound("no such order", field=field)
    return row


async def refresh_return_status(conn: Any, order_id: int) -> str:
    row = await conn.fetchrow(
        """
        SELECT
          (SELECT COALESCE(sum(quantity_delivered), 0) FROM order_lines WHERE order_id = $1) AS delivered,
          (SELECT COALESCE(sum(quantity_returned), 0) FROM order_lines WHERE order_id = $1) AS returned,
          (SELECT COALESCE(sum(rl.quantity - rl.quantity_received), 0) FROM return_lines rl JOIN returns r ON r.id = rl.return_id
             WHERE r.order_id = $1 AND r.status IN ('REQUESTED', 'APPROVED', 'IN_TRANSIT')) AS open_units,
          NOT EXISTS (SELECT 1 FROM returns WHERE order_id = $1 AND status IN ('APPROVED', 'IN_TRANSIT')) AS requested_only
        """,
        order_id,
    )
    status = return_status(
        row["delivered"], row["returned"], row["open_units"], row["requested_only"]
    )
    await conn.execute("UPDATE orders SET return_status = $2 WHERE id = $1", order_id, status)
    return status


async def _event(
    conn: Any,
    principal: Principal,
    ret: Any,
    status: str,
    previous: str | None,
    now: dt.datetime,
    **extra: Any,
) -> None:
    order_return_status = await refresh_return_status(conn, ret["order_id"])
    await append_event(
        conn,
        order_id=ret["order_id"],
        channel_id=ret["channel_id"],
        type="RETURN_STATUS_CHANGED",
        actor=principal.actor,
        payload={
            "returnId": ret["id"],
            "returnNumber": ret["number"],
            "locationId": ret["receiving_location_id"],
            "initiatedBy": ret["initiated_by"],
            "from": previous,
            "status": status,
            "orderReturnStatus": order_return_status,
            **extra,
        },
        now=now,
    )


async def _returnable(conn: Any, order_id: int, *, carrier: bool = False) -> dict[int, Any]:
    """Per order line: what may still be returned (delivered, or shipped for a carrier
    return, less what open or finished returns already claim)."""
    rows = await conn.fetch(
        """
        SELECT l.id, l.sku, l.quantity_delivered, l.quantity_shipped,
               COALESCE((SELECT sum(CASE WHEN r.status IN ('REQUESTED', 'APPROVED', 'IN_TRANSIT') THEN rl.quantity
                                         ELSE rl.quantity_received END)
                         FROM return_lines rl JOIN returns r ON r.id = rl.return_id
                         WHERE rl.order_line_id = l.id AND r.status NOT IN ('REJECTED', 'CANCELLED')), 0) AS claimed,
               p.returnable, p.return_window_days
        FROM order_lines l JOIN products p ON p.sku = l.sku WHERE l.order_id = $1
        """,
        order_id,
    )
    out = {}
    for r in rows:
        base = r["quantity_shipped"] if carrier else r["quantity_delivered"]
        out[r["id"]] = {**dict(r), "left": base - r["claimed"]}
    return out


async def _delivered_at(conn: Any, order_line_id: int) -> dt.datetime | None:
    return await conn.fetchval(
        "SELECT max(s.delivered_at) FROM shipment_lines sl JOIN shipments s ON s.id = sl.shipment_id"
        " WHERE sl.order_line_id = $1 AND s.delivered_at IS NOT NULL",
        order_line_id,
    )


async def _receiving_location(conn: Any, order_id: int, lines: Sequence[int]) -> int:
    """Where returns go: the location that shipped the first line if it can receive
    parcels (ships, so has a dock), else the channel's best-priority warehouse."""
    loc = await conn.fetchval(
        "SELECT s.location_id FROM shipment_lines sl JOIN shipments s ON s.id = sl.shipment_id"
        " JOIN locations l ON l.id = s.location_id WHERE sl.order_line_id = ANY($1::bigint[]) AND l.can_ship"
        " ORDER BY s.id LIMIT 1",
        list(lines),
    )
    if loc is None:
        loc = await conn.fetchval(
            "SELECT l.id FROM orders o JOIN channel_locations cl ON cl.channel_id = o.channel_id"
            " JOIN locations l ON l.id = cl.location_id WHERE o.id = $1 ORDER BY (l.kind = 'WAREHOUSE') DESC,"
            " l.priority, l.code LIMIT 1",
            order_id,
        )
    return int(loc)


async def request_return(
    conn: Any,
    principal: Principal,
    *,
    order_id: int,
    lines: Sequence[ReturnLineRequest],
    initiated_by: str | None,
    now: dt.datetime,
) -> int:
    """Open a return case. Within the channel's policy it is approved at once; outside,
    a customer is refused (window closed, not returnable) and a merchant's case waits
    for approval."""
    order = await _lock_order(conn, principal, order_id, ["input", "orderId"])
    initiator = initiated_by or ("CUSTOMER" if principal.role is Role.CUSTOMER else "MERCHANT")
    errors = Collector()
    if principal.role is Role.CUSTOMER and initiator != "CUSTOMER":
        errors.add(
            "INVALID", "a customer's return is initiated by the customer", ["input", "initiatedBy"]
        )
    if initiator == "CARRIER":
        errors.add(
            "INVALID",
            "carrier returns open themselves from RETURNED_TO_SENDER events",
            ["input", "initiatedBy"],
        )
    if not lines:
        errors.add("REQUIRED", "a return has at least one line", ["input", "lines"])
    policy = orjson.loads(order["policy"] or "{}")
    window = int(policy.get("windowDays", DEFAULT_WINDOW_DAYS))
    returnable = await _returnable(conn, order_id)
    within_policy = True
    seen: set[int] = set()
    for i, line in enumerate(lines):
        at: list[str | int] = ["input", "lines", i]
        info = returnable.get(line.order_line_id)
        if info is None:
            errors.add("NOT_FOUND", "no such line on this order", [*at, "orderLineId"])
            continue
        if line.order_line_id in seen:
            errors.add("DUPLICATE", "this line appears twice", [*at, "orderLineId"])
        seen.add(line.order_line_id)
        if line.reason_code not in REASONS:
            errors.add("INVALID", f"unknown reason {line.reason_code!r}", [*at, "reasonCode"])
        if line.reason_note is not None and len(line.reason_note) > 2000:
            errors.add(
                "TOO_LONG", "reasonNote must be at most 2,000 characters", [*at, "reasonNote"]
            )
        if line.quantity <= 0:
            errors.add("OUT_OF_RANGE", "quantity must be positive", [*at, "quantity"])
        elif line.quantity > info["left"]:
            code = "NOT_DELIVERED" if info["quantity_delivered"] == 0 else "EXCEEDS_RETURNABLE"
            errors.add(
                code,
                f"{info['sku']}: {max(info['left'], 0)} units can be returned",
                [*at, "quantity"],
            )
        product_window = (
            info["return_window_days"] if info["return_window_days"] is not None else window
        )
        delivered_at = await _delivered_at(conn, line.order_line_id)
        if not info["returnable"]:
            within_policy = False
            if initiator == "CUSTOMER":
                errors.add(
                    "NOT_RETURNABLE", f"{info['sku']} cannot be returned", [*at, "orderLineId"]
                )
        elif delivered_at is not None and now > delivered_at + dt.timedelta(days=product_window):
            within_policy = False
            if initiator == "CUSTOMER":
                errors.add(
                    "RETURN_WINDOW_CLOSED",
                    f"{info['sku']}: returns close {product_window} days after delivery",
                    [*at, "orderLineId"],
                )
    errors.raise_if_any()
    status = "APPROVED" if within_policy else "REQUESTED"
    location = await _receiving_location(conn, order_id, [line.order_line_id for line in lines])
    number = await _next_number(conn, order_id, order["number"])
    return_id = await conn.fetchval(
        "INSERT INTO returns (number, order_id, channel_id, status, initiated_by, receiving_location_id, requested_by,"
        " requested_at, approved_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8) RETURNING id",
        number,
        order_id,
        order["channel_id"],
        status,
        initiator,
        location,
        principal.actor,
        now,
        now if status == "APPROVED" else None,
    )
    await conn.execute(
        "INSERT INTO return_lines (return_id, order_line_id, sku, quantity, reason_code, reason_note)"
        " SELECT $1, t.id, l.sku, t.q, t.reason, t.note FROM unnest($2::bigint[], $3::int[], $4::text[], $5::text[])"
        " AS t(id, q, reason, note) JOIN order_lines l ON l.id = t.id",
        return_id,
        [line.order_line_id for line in lines],
        [line.quantity for line in lines],
        [line.reason_code for line in lines],
        [line.reason_note for line in lines],
    )
    ret = await _load(conn, return_id)
    await _event(conn, principal, ret, status, None, now)
    if status == "APPROVED":
        await _incoming(conn, principal, ret, now)
    return int(return_id)


async def _next_number(conn: Any, order_id: int, order_number: str) -> str:
    """The next case's number of this order (domain/returns/numbers.py). The order row is
    locked, so two cases of one order cannot take the same position."""
    cases = await conn.fetchval("SELECT count(*) FROM returns WHERE order_id = $1", order_id)
    return format_return_number(order_number, int(cases) + 1)


async def _incoming(conn: Any, principal: Principal, ret: Any, now: dt.datetime) -> None:
    """Tell the receiving location what is coming (event RETURN_INCOMING, webhook topic)."""
    lines = await conn.fetch(
        "SELECT sku, quantity FROM return_lines WHERE return_id = $1 ORDER BY id", ret["id"]
    )
    await append_event(
        conn,
        order_id=ret["order_id"],
        channel_id=ret["channel_id"],
        type="RETURN_INCOMING",
        actor=principal.actor,
        payload={
            "returnId": ret["id"],
            "returnNumber": ret["number"],
            "locationId": ret["receiving_location_id"],
            "lines": [{"sku": r["sku"], "quantity": r["quantity"]} for r in lines],
        },
        now=now,
    )


async def _load(conn: Any, return_id: int) -> Any:
    return await conn.fetchrow(
        "SELECT id, number, order_id, channel_id, status, initiated_by, receiving_location_id FROM returns WHERE id = $1",
        return_id,
    )


async def _lock_return(
    conn: Any, principal: Principal, return_id: int, *, receiving: bool = False
) -> Any:
    order_id = await conn.fetchval("SELECT order_id FROM returns WHERE id = $1", return_id)
    if order_id is None:
        raise ReturnNotFound("no such return", field=["returnId"])
    order = await conn.fetchrow(
        "SELECT channel_id, customer_id FROM orders WHERE id = $1 FOR UPDATE", order_id
    )
    ret = await conn.fetchrow(
        "SELECT id, number, order_id, channel_id, status, initiated_by, receiving_location_id FROM returns WHERE id = $1 FOR UPDATE",
        return_id,
    )
    if principal.role is Role.PARTNER:
        visible = receiving and principal.can_act_at_location(ret["receiving_location_id"])
    else:
        visible = principal.can_see_customer(order["channel_id"], order["customer_id"])
    if not visible:
        raise ReturnNotFound("no such return", field=["returnId"])
    return ret


async def approve(conn: Any, principal: Principal, return_id: int, now: dt.datetime) -> None:
    ret = await _lock_return(conn, principal, return_id)
    if ret["status"] != "REQUESTED":
        raise InvalidState(
            f"the return is {ret['status']}; only REQUESTED returns are approved",
            field=["returnId"],
        )
    await conn.execute(
        "UPDATE returns SET status = 'APPROVED', approved_at = $2, updated_at = $2 WHERE id = $1",
        return_id,
        now,
    )
    await _event(conn, principal, ret, "APPROVED", ret["status"], now)
    await _incoming(conn, principal, ret, now)


async def reject(
    conn: Any, principal: Principal, return_id: int, reason: str, now: dt.datetime
) -> None:
    ret = await _lock_return(conn, principal, return_id)
    if ret["status"] != "REQUESTED":
        raise InvalidState(
            f"the return is {ret['status']}; only REQUESTED returns are rejected",
            field=["returnId"],
        )
    if not reason.strip() or len(reason) > 1000:
        raise DomainError(
            "give a reason of at most 1,000 characters", field=["reason"], code="INVALID"
        )
    await conn.execute(
        "UPDATE returns SET status = 'REJECTED', rejection_reason = $2, closed_at = $3, updated_at = $3 WHERE id = $1",
        return_id,
        reason,
        now,
    )
    await _event(conn, principal, ret, "REJECTED", ret["status"], now, reason=reason)


async def cancel(conn: Any, principal: Principal, return_id: int, now: dt.datetime) -> None:
    ret = await _lock_return(conn, principal, return_id)
    received = await conn.fetchval(
        "SELECT COALESCE(sum(quantity_received), 0) FROM return_lines WHERE return_id = $1",
        return_id,
    )
    if ret["status"] not in OPEN or received:
        raise InvalidState(
            f"the return is {ret['status']}; it can be cancelled only before it is received",
            field=["returnId"],
        )
    await conn.execute(
        "UPDATE returns SET status = 'CANCELLED', closed_at = $2, updated_at = $2 WHERE id = $1",
        return_id,
        now,
    )
    await _event(conn, principal, ret, "CANCELLED", ret["status"], now)


async def complete_repair(
    conn: Any,
    principal: Principal,
    *,
    return_id: int,
    sku: str,
    quantity: int,
    outcome: str,
    now: dt.datetime,
) -> None:
    """Units under repair come back to stock (RESTOCK) or are written off (WRITE_OFF)."""
    ret = await _lock_return(conn, principal, return_id, receiving=True)
    row = await conn.fetchrow(
        "SELECT id, quantity_repair - quantity_repaired AS open FROM return_lines WHERE return_id = $1 AND sku = $2 FOR UPDATE",
        return_id,
        sku,
    )
    if row is None:
        raise DomainError(
            f"{sku} is not on this return", field=["input", "sku"], code="UNKNOWN_SKU"
        )
    if outcome not in ("RESTOCK", "WRITE_OFF"):
        raise DomainError(
            "outcome is RESTOCK or WRITE_OFF", field=["input", "outcome"], code="INVALID"
        )
    if not 1 <= quantity <= row["open"]:
        raise DomainError(
            f"{row['open']} units of {sku} are under repair",
            field=["input", "quantity"],
            code="OUT_OF_RANGE",
        )
    location = ret["receiving_location_id"]
    await lock_rows(conn, [(sku, location)])
    movement = (
        Movement(sku, location, "REPAIR", damaged_delta=-quantity, reference=f"return:{return_id}")
        if outcome == "RESTOCK"
        else Movement(
            sku,
            location,
            "WRITE_OFF",
            on_hand_delta=-quantity,
            damaged_delta=-quantity,
            reference=f"return:{return_id}",
        )
    )
    await post_movements(conn, [movement], actor=principal.actor, now=now)
    await conn.execute(
        "UPDATE return_lines SET quantity_repaired = quantity_repaired + $2 WHERE id = $1",
        row["id"],
        quantity,
    )
    await _event(
        conn,
        principal,
        ret,
        ret["status"],
        ret["status"],
        now,
        repair={"sku": sku, "quantity": quantity, "outcome": outcome},
    )


async def open_carrier_return(
    conn: Any, principal: Principal, *, shipment_id: int, now: dt.datetime
) -> int:
    """An undeliverable parcel is coming back: a CARRIER return of everything it holds,
    approved, expected at the location that sent it. Called in the tracking event's
    transaction (the order row is already locked)."""
    shipment = await conn.fetchrow(
        "SELECT order_id, location_id FROM shipments WHERE id = $1", shipment_id
    )
    order = await conn.fetchrow(
        "SELECT channel_id, number FROM orders WHERE id = $1", shipment["order_id"]
    )
    lines = await conn.fetch(
        "SELECT order_line_id, sku, quantity - quantity_cancelled AS quantity FROM shipment_lines"
        " WHERE shipment_id = $1 AND quantity > quantity_cancelled",
        shipment_id,
    )
    number = await _next_number(conn, shipment["order_id"], order["number"])
    return_id = await conn.fetchval(
        "INSERT INTO returns (number, order_id, channel_id, status, initiated_by, receiving_location_id, shipment_id,"
        " requested_by, requested_at, approved_at, updated_at) VALUES ($1, $2, $3, 'APPROVED', 'CARRIER', $4, $5, $6, $7, $7, $7)"
        " RETURNING id",
        number,
        shipment["order_id"],
        order["channel_id"],
        shipment["location_id"],
        shipment_id,
        principal.actor,
        now,
    )
    await conn.execute(
        "INSERT INTO return_lines (return_id, order_line_id, sku, quantity, reason_code)"
        " SELECT $1, * , 'UNDELIVERABLE' FROM unnest($2::bigint[], $3::text[], $4::int[])",
        return_id,
        [r["order_line_id"] for r in lines],
        [r["sku"] for r in lines],
        [r["quantity"] for r in lines],
    )
    ret = await _load(conn, return_id)
    await _event(conn, principal, ret, "APPROVED", None, now)
    await _incoming(conn, principal, ret, now)
    return int(return_id)
