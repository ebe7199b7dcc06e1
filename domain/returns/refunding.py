"""Refunding a return case: price and record the refund of its received units, then
the payment provider's answer (domain/returns/refunds.py has the arithmetic).

Like every writer of a case, these lock the order row first (through `_lock_return`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from domain.access.principal import Principal
from domain.errors import DomainError, InvalidState, NotFound
from domain.returns.refunds import RefundLine, refund_line
from domain.returns.service import _event, _lock_return


@dataclass(frozen=True, slots=True)
class RefundPlan:
    refund_id: int
    amount: int
    currency: str
    pending_lines: list[RefundLine]


async def create_refund(
    conn: Any,
    principal: Principal,
    *,
    return_id: int,
    include_shipping: bool | None,
    now: dt.datetime,
) -> RefundPlan:
    """Price and record a refund of the received, not yet refunded units (PENDING).
    The units are marked refunded now, so a second refund cannot take them again."""
    ret = await _lock_return(conn, principal, return_id)
    if ret["status"] not in ("RECEIVED", "INSPECTED", "APPROVED", "IN_TRANSIT", "REFUNDED"):
        raise InvalidState(
            f"the return is {ret['status']}: nothing received to refund", field=["returnId"]
        )
    order = await conn.fetchrow(
        "SELECT o.currency, o.shipping_minor, c.return_policy::text AS policy FROM orders o JOIN channels c ON c.id = o.channel_id WHERE o.id = $1",
        ret["order_id"],
    )
    rows = await conn.fetch(
        """
        SELECT rl.id, rl.order_line_id, rl.quantity_received - rl.quantity_refunded AS units,
               l.unit_price_minor, l.quantity, l.discount_minor, l.tax_minor,
               COALESCE((SELECT sum(rl2.quantity_refunded) FROM return_lines rl2 WHERE rl2.order_line_id = l.id), 0) AS already
        FROM return_lines rl JOIN order_lines l ON l.id = rl.order_line_id
        WHERE rl.return_id = $1 AND rl.quantity_received > rl.quantity_refunded ORDER BY rl.id FOR UPDATE OF rl
        """,
        return_id,
    )
    if not rows:
        raise DomainError(
            "nothing received on this return is left to refund",
            field=["returnId"],
            code="NOTHING_TO_REFUND",
        )
    lines = [
        refund_line(
            order_line_id=r["order_line_id"],
            unit_price=r["unit_price_minor"],
            quantity=r["quantity"],
            discount=r["discount_minor"],
            tax=r["tax_minor"],
            already=r["already"],
            units=r["units"],
        )
        for r in rows
    ]
    policy = orjson.loads(order["policy"] or "{}")
    wants_shipping = (
        policy.get("refundShipping", False) if include_shipping is None else include_shipping
    )
    shipping = 0
    if wants_shipping:
        refunded_shipping = await conn.fetchval(
            "SELECT COALESCE(sum(shipping_minor), 0) FROM refunds WHERE order_id = $1 AND status <> 'FAILED'",
            ret["order_id"],
        )
        shipping = max(0, order["shipping_minor"] - refunded_shipping)
    amount = sum(line.amount for line in lines) + shipping
    await conn.execute(
        "UPDATE return_lines rl SET quantity_refunded = quantity_received FROM unnest($1::bigint[]) AS t(id) WHERE rl.id = t.id",
        [r["id"] for r in rows],
    )
    refund_id = await conn.fetchval(
        "INSERT INTO refunds (return_id, order_id, currency, amount_minor, shipping_minor, lines, includes_shipping, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) RETURNING id",
        return_id,
        ret["order_id"],
        order["currency"],
        amount,
        shipping,
        orjson.dumps(
            [
                {"orderLineId": x.order_line_id, "units": x.units, "amount": x.amount, "tax": x.tax}
                for x in lines
            ]
        ).decode(),
        bool(wants_shipping),
        now,
    )
    return RefundPlan(int(refund_id), amount, order["currency"], lines)


async def settle_refund(
    conn: Any,
    principal: Principal,
    *,
    refund_id: int,
    succeeded: bool,
    provider_reference: str | None,
    error: str | None,
    now: dt.datetime,
) -> str:
    """The provider's answer. A failed refund gives its units back to be refunded again."""
    row = await conn.fetchrow(
        "SELECT return_id, status, lines::text AS lines FROM refunds WHERE id = $1", refund_id
    )
    if row is None:
        raise NotFound("no such refund", field=["refundId"])
    ret = await _lock_return(conn, principal, row["return_id"])
    refund = await conn.fetchrow("SELECT status FROM refunds WHERE id = $1 FOR UPDATE", refund_id)
    if refund["status"] != "PENDING":
        return str(refund["status"])  # an answer heard twice changes nothing
    status = "SUCCEEDED" if succeeded else "FAILED"
    await conn.execute(
        "UPDATE refunds SET status = $2, provider_reference = COALESCE($3, provider_reference), error = $4, settled_at = $5 WHERE id = $1",
        refund_id,
        status,
        provider_reference,
        error,
        now,
    )
    if not succeeded:
        for line in orjson.loads(row["lines"]):
            await conn.execute(
                "UPDATE return_lines SET quantity_refunded = quantity_refunded - $3 WHERE return_id = $1 AND order_line_id = $2",
                row["return_id"],
                line["orderLineId"],
                line["units"],
            )
        await _event(
            conn,
            principal,
            ret,
            ret["status"],
            ret["status"],
            now,
            refund={"id": refund_id, "status": status},
        )
        return status
    all_refunded = not await conn.fetchval(
        "SELECT 1 FROM return_lines WHERE return_id = $1 AND (quantity_refunded < quantity_received OR quantity_received < quantity)",
        row["return_id"],
    )
    new_status = "REFUNDED" if all_refunded else ret["status"]
    await conn.execute(
        "UPDATE returns SET status = $2, refunded_at = $3, updated_at = $3 WHERE id = $1",
        row["return_id"],
        new_status,
        now,
    )
    await _event(
        conn,
        principal,
        ret,
        new_status,
        ret["status"],
        now,
        refund={"id": refund_id, "status": status},
    )
    return status
