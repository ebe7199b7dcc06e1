"""Inbound supply: purchase orders and transfers on their way, counted in `incoming`
and in future availability until received into stock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal
from domain.catalog.service import check_code
from domain.db import driver_connection
from domain.errors import Collector, InvalidState, NotFound
from domain.inventory.service import (
    MAX_QUANTITY,
    Movement,
    known_skus,
    location_for,
    lock_levels,
    post_movements,
)

KINDS = ("PURCHASE_ORDER", "TRANSFER")


@dataclass(frozen=True, slots=True)
class SupplyLine:
    sku: str
    quantity: int


async def create_inbound_supply(
    session: AsyncSession,
    principal: Principal,
    *,
    reference: str,
    kind: str,
    location_code: str,
    expected_at: dt.datetime,
    lines: Sequence[SupplyLine],
) -> int:
    errors = Collector()
    location_id = await location_for(session, principal, location_code, ["input", "location"])
    check_code(errors, reference, ["input", "reference"], "reference")
    if kind not in KINDS:
        errors.add("INVALID", f"unknown kind {kind!r}", ["input", "kind"])
    if expected_at.tzinfo is None:
        errors.add("INVALID", "expectedAt needs a time zone offset", ["input", "expectedAt"])
    if not lines:
        errors.add("REQUIRED", "at least one line is required", ["input", "lines"])
    conn = await driver_connection(session)
    known = await known_skus(conn, [line.sku for line in lines])
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if line.sku not in known:
            errors.add("UNKNOWN_SKU", f"no product {line.sku!r}", ["input", "lines", i, "sku"])
        if line.sku in seen:
            errors.add("DUPLICATE", f"SKU {line.sku!r} appears twice", ["input", "lines", i, "sku"])
        seen.add(line.sku)
        if not 1 <= line.quantity <= MAX_QUANTITY:
            errors.add(
                "OUT_OF_RANGE", "quantity must be positive", ["input", "lines", i, "quantity"]
            )
    if await conn.fetchval("SELECT 1 FROM inbound_supplies WHERE reference = $1", reference):
        errors.add(
            "DUPLICATE", f"an inbound supply {reference!r} already exists", ["input", "reference"]
        )
    errors.raise_if_any()
    supply_id = await conn.fetchval(
        "INSERT INTO inbound_supplies (reference, kind, location_id, expected_at) VALUES ($1, $2, $3, $4) RETURNING id",
        reference,
        kind,
        location_id,
        expected_at,
    )
    await conn.execute(
        "INSERT INTO inbound_supply_lines (supply_id, sku, quantity) SELECT $1, * FROM unnest($2::text[], $3::int[])",
        supply_id,
        [line.sku for line in lines],
        [line.quantity for line in lines],
    )
    await lock_levels(conn, location_id, [line.sku for line in lines])
    await conn.execute(
        "UPDATE stock_levels s SET incoming = s.incoming + t.q FROM unnest($2::text[], $3::int[]) AS t(sku, q)"
        " WHERE s.location_id = $1 AND s.sku = t.sku",
        location_id,
        [line.sku for line in lines],
        [line.quantity for line in lines],
    )
    return int(supply_id)


async def _open_supply(
    conn: object, supply_id: int, principal: Principal, *, retry_of: str | None = None
) -> tuple[int, dict[str, tuple[int, int]]] | None:
    """The supply's location and lines (sku -> ordered, received), locked; None when it is
    already `retry_of` (the state the caller asks for: a retry, nothing to do)."""
    row = await conn.fetchrow(  # type: ignore[attr-defined]
        "SELECT location_id, status FROM inbound_supplies WHERE id = $1 FOR UPDATE", supply_id
    )
    if row is None or not principal.can_act_at_location(row["location_id"]):
        raise NotFound("no such inbound supply", field=["id"])
    if retry_of is not None and row["status"] == retry_of:
        return None
    if row["status"] != "OPEN":
        raise InvalidState(f"the inbound supply is {row['status']}", field=["id"])
    lines = await conn.fetch(  # type: ignore[attr-defined]
        "SELECT sku, quantity, quantity_received FROM inbound_supply_lines WHERE supply_id = $1 ORDER BY sku",
        supply_id,
    )
    return row["location_id"], {r["sku"]: (r["quantity"], r["quantity_received"]) for r in lines}


async def receive_inbound_supply(
    session: AsyncSession,
    principal: Principal,
    *,
    supply_id: int,
    lines: Sequence[SupplyLine],
    reference: str,
    now: dt.datetime,
) -> str:
    """Receive units into stock (RECEIPT movements); returns the supply's status."""
    conn = await driver_connection(session)
    found = await _open_supply(conn, supply_id, principal)
    assert found is not None  # without retry_of, it answers or raises
    location_id, expected = found
    errors = Collector()
    for i, line in enumerate(lines):
        if line.sku not in expected:
            errors.add(
                "UNKNOWN_SKU", f"{line.sku!r} is not on this supply", ["input", "lines", i, "sku"]
            )
        elif not 1 <= line.quantity <= expected[line.sku][0] - expected[line.sku][1]:
            errors.add(
                "OUT_OF_RANGE",
                f"{line.sku}: {expected[line.sku][0] - expected[line.sku][1]} units are still expected",
                ["input", "lines", i, "quantity"],
            )
    errors.raise_if_any()
    await lock_levels(conn, location_id, [line.sku for line in lines])
    await post_movements(
        conn,
        [
            Movement(
                line.sku,
                location_id,
                "RECEIPT",
                on_hand_delta=line.quantity,
                reason="INBOUND",
                reference=reference,
            )
            for line in lines
        ],
        actor=principal.actor,
        now=now,
    )
    skus = [line.sku for line in lines]
    qtys = [line.quantity for line in lines]
    await conn.execute(
        "UPDATE stock_levels s SET incoming = GREATEST(s.incoming - t.q, 0) FROM unnest($2::text[], $3::int[]) AS t(sku, q)"
        " WHERE s.location_id = $1 AND s.sku = t.sku",
        location_id,
        skus,
        qtys,
    )
    await conn.execute(
        "UPDATE inbound_supply_lines l SET quantity_received = l.quantity_received + t.q"
        " FROM unnest($2::text[], $3::int[]) AS t(sku, q) WHERE l.supply_id = $1 AND l.sku = t.sku",
        supply_id,
        skus,
        qtys,
    )
    status = await conn.fetchval(
        "UPDATE inbound_supplies SET status = CASE WHEN NOT EXISTS ("
        " SELECT 1 FROM inbound_supply_lines WHERE supply_id = $1 AND quantity_received < quantity)"
        " THEN 'RECEIVED' ELSE 'OPEN' END WHERE id = $1 RETURNING status",
        supply_id,
    )
    return str(status)


async def cancel_inbound_supply(
    session: AsyncSession, principal: Principal, supply_id: int
) -> None:
    conn = await driver_connection(session)
    found = await _open_supply(conn, supply_id, principal, retry_of="CANCELLED")
    if found is None:
        return  # cancelled already: a retry changes nothing
    location_id, expected = found
    await lock_levels(conn, location_id, list(expected))
    await conn.execute(
        "UPDATE stock_levels s SET incoming = GREATEST(s.incoming - t.q, 0) FROM unnest($2::text[], $3::int[]) AS t(sku, q)"
        " WHERE s.location_id = $1 AND s.sku = t.sku",
        location_id,
        list(expected),
        [q - r for q, r in expected.values()],
    )
    await conn.execute("UPDATE inbound_supplies SET status = 'CANCELLED' WHERE id = $1", supply_id)
