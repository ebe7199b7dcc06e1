"""Changing stock: absolute counts from partners, signed adjustments, inbound receipts.

Every change is written as a ledger movement in the same transaction as the level it
changes. Batches are validated whole before anything is written, and written with a
handful of set-based statements (arrays unnested in SQL), so a 10,000-line count
from a WMS is a few round trips, not 10,000.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal
from domain.db import driver_connection
from domain.errors import Collector, DomainError, NotFound

MAX_LINES = 20_000
MAX_QUANTITY = 10_000_000
ADJUSTMENT_REASONS = ("CYCLE_COUNT", "DAMAGED", "LOST", "FOUND", "RECEIPT", "OTHER")


class UnknownLocation(NotFound):
    code = "UNKNOWN_LOCATION"


@dataclass(frozen=True, slots=True)
class CountLine:
    sku: str
    on_hand: int
    safety_stock: int | None = None
    reorder_point: int | None = None


@dataclass(frozen=True, slots=True)
class AdjustLine:
    sku: str
    delta: int
    reason: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class LevelRow:
    sku: str
    location_id: int
    on_hand: int
    reserved: int
    safety_stock: int
    damaged: int
    incoming: int
    reorder_point: int | None

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock - self.damaged)


@dataclass(frozen=True, slots=True)
class IgnoredLine:
    line: int
    sku: str
    reason: str
    counted_at: dt.datetime | None
    on_hand: int | None = None  # on hand in force (the newer count, and what moved since)


def stale_count_errors(ignored: Sequence[IgnoredLine], as_of: dt.datetime) -> list[DomainError]:
    """One refusal per count line not applied because a newer count is in force. A WMS
    that reads only `userErrors` must not take a stale line for an applied one."""
    return [
        DomainError(
            f"{i.sku}: not applied, this count (asOf {as_of.isoformat()}) is not newer than the"
            f" count in force (counted at {i.counted_at.isoformat() if i.counted_at else 'unknown'},"
            f" onHand now {i.on_hand if i.on_hand is not None else 'unknown'}); the other lines"
            " were applied",
            field=["input", "levels", i.line],
            code="STALE_COUNT",
        )
        for i in ignored
    ]


@dataclass(frozen=True, slots=True)
class SyncResult:
    levels: list[LevelRow]
    ignored: list[IgnoredLine]


LEVEL_COLUMNS = (
    "sku, location_id, on_hand, reserved, safety_stock, damaged, incoming, reorder_point"
)
RETURNING_LEVEL = ", ".join(f"s.{c}" for c in LEVEL_COLUMNS.split(", "))


def level_of(record: Any) -> LevelRow:
    return LevelRow(
        sku=record["sku"],
        location_id=record["location_id"],
        on_hand=record["on_hand"],
        reserved=record["reserved"],
        safety_stock=record["safety_stock"],
        damaged=record["damaged"],
        incoming=record["incoming"],
        reorder_point=record["reorder_point"],
    )


async def location_for(
    session: AsyncSession, principal: Principal, code: str, field: list[str | int]
) -> int:
    """The location's id if the principal may act there; a location that is not theirs
    is answered exactly as one that does not exist."""
    conn = await driver_connection(session)
    location_id = await conn.fetchval("SELECT id FROM locations WHERE code = $1", code)
    if location_id is None or not principal.can_act_at_location(location_id):
        raise UnknownLocation(f"no location {code!r}", field=field)
    return int(location_id)


async def known_skus(conn: Any, skus: Sequence[str]) -> set[str]:
    rows = await conn.fetch("SELECT sku FROM products WHERE sku = ANY($1::text[])", list(set(skus)))
    return {r["sku"] for r in rows}


def _check_quantity(errors: Collector, value: int | None, at: list[str | int], name: str) -> None:
    if value is not None and not 0 <= value <= MAX_QUANTITY:
        errors.add("OUT_OF_RANGE", f"{name} must be between 0 and {MAX_QUANTITY:,}", [*at, name])


async def set_stock_levels(
    session: AsyncSession,
    principal: Principal,
    *,
    location_code: str,
    as_of: dt.datetime,
    lines: Sequence[CountLine],
    reference: str,
    now: dt.datetime,
) -> SyncResult:
    """Apply absolute counts taken at `as_of`. A line older than (or as old as) the last
    count applied to its SKU and location is ignored and reported, not applied."""
    errors = Collector()
    location_id = await location_for(session, principal, location_code, ["input", "location"])
    if as_of.tzinfo is None:
        errors.add("INVALID", "asOf needs a time zone offset", ["input", "asOf"])
    elif as_of > now + dt.timedelta(minutes=5):
        errors.add("OUT_OF_RANGE", "asOf is in the future", ["input", "asOf"])
    if not lines:
        errors.add("REQUIRED", "at least one line is required", ["input", "levels"])
    if len(lines) > MAX_LINES:
        errors.add("TOO_MANY", f"at most {MAX_LINES:,} lines per call", ["input", "levels"])
        errors.raise_if_any()
    conn = await driver_connection(session)
    known = await known_skus(conn, [line.sku for line in lines])
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        at: list[str | int] = ["input", "levels", i]
        if line.sku not in known:
            errors.add("UNKNOWN_SKU", f"no product {line.sku!r}", [*at, "sku"])
        if line.sku in seen:
            errors.add(
                "DUPLICATE",
                f"SKU {line.sku!r} appears twice (lines {seen[line.sku]} and {i})",
                [*at, "sku"],
            )
        seen[line.sku] = i
        _check_quantity(errors, line.on_hand, at, "onHand")
        _check_quantity(errors, line.safety_stock, at, "safetyStock")
        _check_quantity(errors, line.reorder_point, at, "reorderPoint")
    errors.raise_if_any()

    skus = sorted(seen)
    current = await lock_levels(conn, location_id, skus)
    ignored: list[IgnoredLine] = []
    apply: list[CountLine] = []
    for i, line in enumerate(lines):
        row = current[line.sku]
        if row["counted_at"] is not None and as_of <= row["counted_at"]:
            ignored.append(IgnoredLine(i, line.sku, "STALE", row["counted_at"], row["on_hand"]))
            continue
        if line.on_hand < row["reserved"] or line.on_hand < row["damaged"]:
            errors.add(
                "BELOW_RESERVED",
                f"{line.sku}: onHand {line.on_hand} is below the {row['reserved']} units reserved for"
                f" orders or the {row['damaged']} quarantined; cancel or reallocate those first",
                ["input", "levels", i, "onHand"],
            )
        apply.append(line)
    errors.raise_if_any()
    if not apply:
        return SyncResult(levels=[], ignored=ignored)

    a_skus = [line.sku for line in apply]
    await conn.execute(
        """
        INSERT INTO inventory_movements (sku, location_id, kind, on_hand_delta, reason, reference, actor, occurred_at)
        SELECT sku, $1, 'SYNC', delta, 'COUNT', $4, $5, $6
        FROM unnest($2::text[], $3::int[]) AS t(sku, delta) WHERE delta <> 0
        """,
        location_id,
        a_skus,
        [line.on_hand - current[line.sku]["on_hand"] for line in apply],
        reference,
        principal.actor,
        now,
    )
    rows = await conn.fetch(
        f"""
        UPDATE stock_levels AS s SET
            on_hand = t.on_hand,
            safety_stock = COALESCE(t.safety, s.safety_stock),
            reorder_point = COALESCE(t.reorder, s.reorder_point),
            counted_at = $6,
            updated_at = $7
        FROM unnest($2::text[], $3::int[], $4::int[], $5::int[]) AS t(sku, on_hand, safety, reorder)
        WHERE s.location_id = $1 AND s.sku = t.sku
        RETURNING {RETURNING_LEVEL}
        """,
        location_id,
        a_skus,
        [line.on_hand for line in apply],
        [line.safety_stock for line in apply],
        [line.reorder_point for line in apply],
        as_of,
        now,
    )
    by_sku = {r["sku"]: r for r in rows}
    return SyncResult(levels=[level_of(by_sku[sku]) for sku in a_skus], ignored=ignored)


async def lock_levels(conn: Any, location_id: int, skus: list[str]) -> dict[str, Any]:
    """Create missing stock rows (zero), then lock all of them, in sorted SKU order: every
    writer locks (sku, location) rows in the same global order, so none deadlock."""
    skus = sorted(skus)
    await conn.execute(
        "INSERT INTO stock_levels (sku, location_id) SELECT unnest($2::text[]), $1"
        " ON CONFLICT (sku, location_id) DO NOTHING",
        location_id,
        skus,
    )
    rows = await conn.fetch(
        f"SELECT {LEVEL_COLUMNS}, counted_at FROM stock_levels"
        " WHERE location_id = $1 AND sku = ANY($2::text[]) ORDER BY sku FOR UPDATE",
        location_id,
        skus,
    )
    return {r["sku"]: r for r in rows}


@dataclass(frozen=True, slots=True)
class Movement:
    sku: str
    location_id: int
    kind: str
    on_hand_delta: int = 0
    reserved_delta: int = 0
    damaged_delta: int = 0
    reason: str | None = None
    note: str | None = None
    reference: str | None = None


async def post_movements(
    conn: Any, movements: Sequence[Movement], *, actor: str, now: dt.datetime
) -> dict[tuple[str, int], LevelRow]:
    """Write movements to the ledger and apply their deltas to the levels, in two
    statements. The rows must exist and be locked by the caller (`lock_levels`); the
    table's constraints refuse any result that would break an invariant."""
    if not movements:
        return {}
    await conn.execute(
        """
        INSERT INTO inventory_movements
            (sku, location_id, kind, on_hand_delta, reserved_delta, damaged_delta, reason, note, reference, actor, occurred_at)
        SELECT sku, location_id, kind, oh, rs, dm, reason, note, ref, $10, $11
        FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[], $5::int[], $6::int[], $7::text[], $8::text[], $9::text[])
            AS t(sku, location_id, kind, oh, rs, dm, reason, note, ref)
        """,
        [m.sku for m in movements],
        [m.location_id for m in movements],
        [m.kind for m in movements],
        [m.on_hand_delta for m in movements],
        [m.reserved_delta for m in movements],
        [m.damaged_delta for m in movements],
        [m.reason for m in movements],
        [m.note for m in movements],
        [m.reference for m in movements],
        actor,
        now,
    )
    totals: dict[tuple[str, int], list[int]] = {}
    for m in movements:
        t = totals.setdefault((m.sku, m.location_id), [0, 0, 0])
        t[0] += m.on_hand_delta
        t[1] += m.reserved_delta
        t[2] += m.damaged_delta
    keys = sorted(totals)
    rows = await conn.fetch(
        f"""
        UPDATE stock_levels AS s SET
            on_hand = s.on_hand + t.oh, reserved = s.reserved + t.rs, damaged = s.damaged + t.dm, updated_at = $6
        FROM unnest($1::text[], $2::bigint[], $3::int[], $4::int[], $5::int[]) AS t(sku, location_id, oh, rs, dm)
        WHERE s.sku = t.sku AND s.location_id = t.location_id
        RETURNING {RETURNING_LEVEL}
        """,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [totals[k][0] for k in keys],
        [totals[k][1] for k in keys],
        [totals[k][2] for k in keys],
        now,
    )
    return {(r["sku"], r["location_id"]): level_of(r) for r in rows}


async def adjust_stock(
    session: AsyncSession,
    principal: Principal,
    *,
    location_code: str,
    lines: Sequence[AdjustLine],
    reference: str,
    now: dt.datetime,
    field_prefix: Sequence[str | int] = ("input", "lines"),
) -> list[LevelRow]:
    """Signed corrections with a reason (cycle count, damage, loss, found, receipt)."""
    errors = Collector()
    location_id = await location_for(session, principal, location_code, ["input", "location"])
    if not lines:
        errors.add("REQUIRED", "at least one line is required", list(field_prefix))
    if len(lines) > MAX_LINES:
        errors.add("TOO_MANY", f"at most {MAX_LINES:,} lines per call", list(field_prefix))
        errors.raise_if_any()
    conn = await driver_connection(session)
    known = await known_skus(conn, [line.sku for line in lines])
    for i, line in enumerate(lines):
        at = [*field_prefix, i]
        if line.sku not in known:
            errors.add("UNKNOWN_SKU", f"no product {line.sku!r}", [*at, "sku"])
        if line.delta == 0 or abs(line.delta) > MAX_QUANTITY:
            errors.add(
                "OUT_OF_RANGE",
                f"delta must be non-zero and at most {MAX_QUANTITY:,} in size",
                [*at, "delta"],
            )
        if line.reason not in ADJUSTMENT_REASONS:
            errors.add("INVALID", f"unknown reason {line.reason!r}", [*at, "reason"])
        if line.note is not None and len(line.note) > 1000:
            errors.add("TOO_LONG", "note must be at most 1,000 characters", [*at, "note"])
    errors.raise_if_any()

    current = await lock_levels(conn, location_id, [line.sku for line in lines])
    running = {sku: row["on_hand"] for sku, row in current.items()}
    for i, line in enumerate(lines):
        running[line.sku] += line.delta
        row = current[line.sku]
        floor = max(row["reserved"], row["damaged"])
        if running[line.sku] < floor:
            code = "NEGATIVE_STOCK" if running[line.sku] < 0 else "BELOW_RESERVED"
            errors.add(
                code,
                f"{line.sku}: on hand would become {running[line.sku]}, below the {floor} units"
                " reserved for orders or quarantined",
                [*field_prefix, i, "delta"],
            )
    errors.raise_if_any()
    levels = await post_movements(
        conn,
        [
            Movement(
                sku=line.sku,
                location_id=location_id,
                kind="RECEIPT" if line.reason == "RECEIPT" else "ADJUSTMENT",
                on_hand_delta=line.delta,
                reason=line.reason,
                note=line.note,
                reference=reference,
            )
            for line in lines
        ],
        actor=principal.actor,
        now=now,
    )
    return [levels[(line.sku, location_id)] for line in dict.fromkeys(lines)]


async def levels_of_sku(
    session: AsyncSession, sku: str, location_ids: Sequence[int] | None
) -> list[LevelRow]:
    conn = await driver_connection(session)
    query = f"SELECT {RETURNING_LEVEL} FROM stock_levels s JOIN locations l ON l.id = s.location_id WHERE s.sku = $1"
    args: list[Any] = [sku]
    if location_ids is not None:
        query += " AND s.location_id = ANY($2::bigint[])"
        args.append(list(location_ids))
    return [level_of(r) for r in await conn.fetch(query + " ORDER BY l.code", *args)]


async def low_stock(
    session: AsyncSession, location_ids: Sequence[int] | None, limit: int
) -> list[LevelRow]:
    """Levels at or below their reorder point, the most urgent (furthest below) first."""
    conn = await driver_connection(session)
    available = "GREATEST(s.on_hand - s.reserved - s.safety_stock - s.damaged, 0)"
    query = f"SELECT {RETURNING_LEVEL} FROM stock_levels s WHERE s.reorder_point IS NOT NULL AND {available} <= s.reorder_point"
    args: list[Any] = [limit]
    if location_ids is not None:
        query += " AND s.location_id = ANY($2::bigint[])"
        args.append(list(location_ids))
    query += f" ORDER BY {available} - s.reorder_point, s.sku, s.location_id LIMIT $1"
    return [level_of(r) for r in await conn.fetch(query, *args)]


@dataclass(frozen=True, slots=True)
class Discrepancy:
    sku: str
    location_id: int
    on_hand: int
    ledger_on_hand: int
    reserved: int
    ledger_reserved: int
    damaged: int
    ledger_damaged: int


async def ledger_discrepancies(session: AsyncSession) -> list[Discrepancy]:
    """Stock levels whose quantities differ from the sums of their movements."""
    conn = await driver_connection(session)
    rows = await conn.fetch(
        """
        WITH ledger AS (
            SELECT sku, location_id, SUM(on_hand_delta) AS oh, SUM(reserved_delta) AS rs, SUM(damaged_delta) AS dm
            FROM inventory_movements GROUP BY sku, location_id
        )
        SELECT COALESCE(s.sku, l.sku) AS sku, COALESCE(s.location_id, l.location_id) AS location_id,
               COALESCE(s.on_hand, 0) AS on_hand, COALESCE(l.oh, 0)::int AS ledger_on_hand,
               COALESCE(s.reserved, 0) AS reserved, COALESCE(l.rs, 0)::int AS ledger_reserved,
               COALESCE(s.damaged, 0) AS damaged, COALESCE(l.dm, 0)::int AS ledger_damaged
        FROM stock_levels s FULL JOIN ledger l ON l.sku = s.sku AND l.location_id = s.location_id
        WHERE COALESCE(s.on_hand, 0) <> COALESCE(l.oh, 0)
           OR COALESCE(s.reserved, 0) <> COALESCE(l.rs, 0)
           OR COALESCE(s.damaged, 0) <> COALESCE(l.dm, 0)
        ORDER BY 1, 2
        """
    )
    return [Discrepancy(**dict(r)) for r in rows]


async def lock_rows(conn: Any, keys: Sequence[tuple[str, int]]) -> None:
    """Lock existing stock rows across locations, in the global (sku, location) order."""
    if not keys:
        return
    ordered = sorted(set(keys))
    await conn.execute(
        "SELECT 1 FROM stock_levels s JOIN unnest($1::text[], $2::bigint[]) AS t(sku, location_id)"
        " ON s.sku = t.sku AND s.location_id = t.location_id ORDER BY s.sku, s.location_id FOR UPDATE OF s",
        [k[0] for k in ordered],
        [k[1] for k in ordered],
    )
