"""Receiving returned goods at a location: one parcel, matched to the case(s) it closes.

A warehouse names what it receives by the case (its id, or the RMA number on the label)
or by the order's number. By order number, a parcel may hold the units of several open
cases of that order (two returns sent together): each SKU received is matched against
every open case expected at this location, oldest first, and only a SKU on none of them
is unknown. Every case that receives units gets its own RETURN_STATUS_CHANGED event.

Locks follow the order every writer follows: the order row, then the cases (by id),
then their lines, then stock rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.access.principal import Principal
from domain.errors import Collector, DomainError, InvalidState, NotFound
from domain.inventory.service import Movement, lock_levels, post_movements
from domain.returns.models import CONDITIONS, DISPOSITIONS
from domain.returns.numbers import parse_return_number
from domain.returns.service import RECEIVABLE, ReturnNotFound, _event, _lock_return

_COLUMN = {
    "RESTOCK": "quantity_restocked",
    "REPAIR": "quantity_repair",
    "DISPOSE": "quantity_disposed",
    "RETURN_TO_VENDOR": "quantity_to_vendor",
}


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    sku: str
    quantity: int
    condition: str
    disposition: str


@dataclass(frozen=True, slots=True)
class Parcel:
    """What arrived and how the warehouse names it: one of `return_id`, `return_number`
    or `order_number`."""

    location_code: str
    lines: Sequence[ReceiptLine]
    return_id: int | None = None
    return_number: str | None = None
    order_number: str | None = None


async def receive_parcel(
    conn: Any, principal: Principal, parcel: Parcel, now: dt.datetime
) -> list[int]:
    """Record what arrived, line by line, with its condition and disposition; stock
    moves at once (RESTOCK: available again; REPAIR: quarantined in `damaged`). Returns
    the cases that received units, oldest first."""
    location_id = await conn.fetchval(
        "SELECT id FROM locations WHERE code = $1", parcel.location_code
    )
    if location_id is None or not principal.can_act_at_location(location_id):
        raise NotFound(
            f"no location {parcel.location_code!r}",
            field=["input", "location"],
            code="UNKNOWN_LOCATION",
        )
    named = [
        x is not None and x != ""
        for x in (parcel.return_id, parcel.return_number, parcel.order_number)
    ]
    if sum(named) != 1:
        raise DomainError(
            "give one of returnId, returnNumber or orderNumber",
            field=["input", "orderNumber"],
            code="REQUIRED" if not any(named) else "INVALID",
        )
    if parcel.order_number:
        cases = await _open_cases_of_order(conn, parcel.order_number, location_id)
        where = f"any open return of order {parcel.order_number.strip()} expected here"
    else:
        return_id = parcel.return_id
        if return_id is None:
            return_id = await _by_number(conn, parcel.return_number or "")
        case = await _lock_return(conn, principal, return_id, receiving=True)
        if case["receiving_location_id"] != location_id:
            raise DomainError(
                "this return is expected at another location",
                field=["input", "location"],
                code="WRONG_LOCATION",
            )
        if case["status"] not in RECEIVABLE:
            raise InvalidState(
                f"the return is {case['status']}; it cannot be received",
                field=["input", "returnId"],
            )
        cases = [case]
        where = "this return"
    expected = await conn.fetch(
        "SELECT id, return_id, order_line_id, sku, quantity - quantity_received AS open"
        " FROM return_lines WHERE return_id = ANY($1::bigint[]) ORDER BY return_id, id FOR UPDATE",
        [c["id"] for c in cases],
    )
    received = _match(expected, [c["id"] for c in cases], parcel.lines, where)
    touched = [c for c in cases if any(r[0]["return_id"] == c["id"] for r in received)]
    await _record(conn, principal, touched, location_id, received, now)
    return [c["id"] for c in touched]


async def _by_number(conn: Any, text: str) -> int:
    number = parse_return_number(text)
    found = (
        await conn.fetchval("SELECT id FROM returns WHERE number = $1", number)
        if number is not None
        else None
    )
    if found is None:
        raise ReturnNotFound(f"no return {text.strip()!r}", field=["input", "returnNumber"])
    return int(found)


async def _open_cases_of_order(conn: Any, order_number: str, location_id: int) -> list[Any]:
    """The order's open cases expected at this location, oldest first, locked (the order
    row first)."""
    number = order_number.strip()
    if parse_return_number(number) is not None:
        raise DomainError(
            f"{number} is a return number: give it as returnNumber",
            field=["input", "orderNumber"],
            code="INVALID",
        )
    order_id = await conn.fetchval("SELECT id FROM orders WHERE number = $1 FOR UPDATE", number)
    cases = []
    if order_id is not None:
        cases = await conn.fetch(
            "SELECT id, number, order_id, channel_id, status, initiated_by, receiving_location_id"
            " FROM returns WHERE order_id = $1 AND receiving_location_id = $2"
            " AND status = ANY($3::text[]) ORDER BY id FOR UPDATE",
            order_id,
            location_id,
            list(RECEIVABLE),
        )
    if not cases:
        raise ReturnNotFound(
            f"no return of order {number} is expected here", field=["input", "orderNumber"]
        )
    # Case ids follow the order in which cases were opened: the oldest first.
    return list(cases)


def _match(
    expected: Sequence[Any],
    case_ids: Sequence[int],
    lines: Sequence[ReceiptLine],
    where: str,
) -> list[tuple[Any, ReceiptLine, int]]:
    """Spread each received line over the expected lines of its SKU, oldest case first:
    (return line, what was received, units). Refuses, with every reason at once, a SKU
    on none of the cases, more units than they still expect, an unknown condition or
    disposition."""
    errors = Collector()
    rank = {case_id: i for i, case_id in enumerate(case_ids)}
    by_sku: dict[str, list[Any]] = {}
    for row in sorted(expected, key=lambda r: (rank[r["return_id"]], r["id"])):
        by_sku.setdefault(row["sku"], []).append(row)
    left = {row["id"]: row["open"] for row in expected}
    out: list[tuple[Any, ReceiptLine, int]] = []
    for i, line in enumerate(lines):
        at: list[str | int] = ["input", "lines", i]
        if line.condition not in CONDITIONS:
            errors.add("INVALID", f"unknown condition {line.condition!r}", [*at, "condition"])
        if line.disposition not in DISPOSITIONS:
            errors.add("INVALID", f"unknown disposition {line.disposition!r}", [*at, "disposition"])
        rows = by_sku.get(line.sku)
        if rows is None:
            errors.add("UNKNOWN_SKU", f"{line.sku} is not on {where}", [*at, "sku"])
            continue
        still = sum(left[r["id"]] for r in rows)
        if not 1 <= line.quantity <= still:
            errors.add(
                "EXCEEDS_EXPECTED",
                f"{line.sku}: {still} units are still expected",
                [*at, "quantity"],
            )
            continue
        need = line.quantity
        for row in rows:
            take = min(need, left[row["id"]])
            if take > 0:
                out.append((row, line, take))
                left[row["id"]] -= take
                need -= take
    errors.raise_if_any()
    return out


async def _record(
    conn: Any,
    principal: Principal,
    cases: Sequence[Any],
    location_id: int,
    received: Sequence[tuple[Any, ReceiptLine, int]],
    now: dt.datetime,
) -> None:
    """Write the parcel: the return lines and order lines it fills, the stock it brings
    (every row locked at once, in the global order), then each case's status and event."""
    movements = []
    for row, line, units in received:
        column = _COLUMN[line.disposition]
        await conn.execute(
            f"UPDATE return_lines SET quantity_received = quantity_received + $2, {column} ="
            f" {column} + $2, condition = $3, disposition = $4 WHERE id = $1",
            row["id"],
            units,
            line.condition,
            line.disposition,
        )
        await conn.execute(
            "UPDATE order_lines SET quantity_returned = quantity_returned + $2 WHERE id = $1",
            row["order_line_id"],
            units,
        )
        reference = f"return:{row['return_id']}"
        if line.disposition == "RESTOCK":
            movements.append(
                Movement(
                    line.sku,
                    location_id,
                    "RETURN_RESTOCK",
                    on_hand_delta=units,
                    reason=line.condition,
                    reference=reference,
                )
            )
        elif line.disposition == "REPAIR":
            movements.append(
                Movement(
                    line.sku,
                    location_id,
                    "QUARANTINE",
                    on_hand_delta=units,
                    damaged_delta=units,
                    reason=line.condition,
                    reference=reference,
                )
            )
    if movements:
        await lock_levels(conn, location_id, sorted({m.sku for m in movements}))
        await post_movements(conn, movements, actor=principal.actor, now=now)
    for case in cases:
        complete = not await conn.fetchval(
            "SELECT 1 FROM return_lines WHERE return_id = $1 AND quantity_received < quantity",
            case["id"],
        )
        status = "RECEIVED" if complete else case["status"]
        await conn.execute(
            "UPDATE returns SET status = $2, received_at = COALESCE(received_at, $3), updated_at = $3 WHERE id = $1",
            case["id"],
            status,
            now,
        )
        await _event(
            conn,
            principal,
            case,
            status,
            case["status"],
            now,
            received=[
                {
                    "sku": line.sku,
                    "quantity": units,
                    "condition": line.condition,
                    "disposition": line.disposition,
                }
                for row, line, units in received
                if row["return_id"] == case["id"]
            ],
        )
