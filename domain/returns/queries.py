"""Reading return cases and refunds, batched for dataloaders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import driver_connection


@dataclass(frozen=True, slots=True)
class ReturnRow:
    id: int
    number: str
    order_id: int
    channel_id: int
    status: str
    initiated_by: str
    receiving_location_id: int
    rejection_reason: str | None
    requested_at: dt.datetime
    approved_at: dt.datetime | None
    received_at: dt.datetime | None
    refunded_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ReturnLineRow:
    id: int
    return_id: int
    order_line_id: int
    sku: str
    quantity: int
    reason_code: str
    reason_note: str | None
    quantity_received: int
    condition: str | None
    disposition: str | None
    quantity_restocked: int
    quantity_repair: int
    quantity_repaired: int
    quantity_disposed: int
    quantity_to_vendor: int
    quantity_refunded: int


@dataclass(frozen=True, slots=True)
class RefundRow:
    id: int
    return_id: int
    currency: str
    amount_minor: int
    shipping_minor: int
    status: str
    provider_reference: str | None
    created_at: dt.datetime


_RETURN_COLUMNS = (
    "id, number, order_id, channel_id, status, initiated_by, receiving_location_id, rejection_reason,"
    " requested_at, approved_at, received_at, refunded_at"
)


async def returns_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, ReturnRow]:
    conn = await driver_connection(session)
    rows = await conn.fetch(
        f"SELECT {_RETURN_COLUMNS} FROM returns WHERE id = ANY($1::bigint[])", list(ids)
    )
    return {r["id"]: ReturnRow(**dict(r)) for r in rows}


async def returns_by_order(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[ReturnRow]]:
    conn = await driver_connection(session)
    rows = await conn.fetch(
        f"SELECT {_RETURN_COLUMNS} FROM returns WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, id",
        list(order_ids),
    )
    out: dict[int, list[ReturnRow]] = {}
    for r in rows:
        out.setdefault(r["order_id"], []).append(ReturnRow(**dict(r)))
    return out


async def lines_by_return(
    session: AsyncSession, return_ids: Sequence[int]
) -> dict[int, list[ReturnLineRow]]:
    conn = await driver_connection(session)
    rows = await conn.fetch(
        "SELECT id, return_id, order_line_id, sku, quantity, reason_code, reason_note, quantity_received, condition,"
        " disposition, quantity_restocked, quantity_repair, quantity_repaired, quantity_disposed, quantity_to_vendor,"
        " quantity_refunded FROM return_lines WHERE return_id = ANY($1::bigint[]) ORDER BY return_id, id",
        list(return_ids),
    )
    out: dict[int, list[ReturnLineRow]] = {}
    for r in rows:
        out.setdefault(r["return_id"], []).append(ReturnLineRow(**dict(r)))
    return out


async def refunds_by_return(
    session: AsyncSession, return_ids: Sequence[int]
) -> dict[int, list[RefundRow]]:
    conn = await driver_connection(session)
    rows = await conn.fetch(
        "SELECT id, return_id, currency, amount_minor, shipping_minor, status, provider_reference, created_at"
        " FROM refunds WHERE return_id = ANY($1::bigint[]) ORDER BY return_id, id",
        list(return_ids),
    )
    out: dict[int, list[RefundRow]] = {}
    for r in rows:
        out.setdefault(r["return_id"], []).append(RefundRow(**dict(r)))
    return out


async def refund_by_id(session: AsyncSession, refund_id: int) -> Any:
    conn = await driver_connection(session)
    row = await conn.fetchrow(
        "SELECT id, return_id, currency, amount_minor, shipping_minor, status, provider_reference, created_at"
        " FROM refunds WHERE id = $1",
        refund_id,
    )
    return RefundRow(**dict(row)) if row else None
