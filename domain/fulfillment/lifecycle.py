"""The shipment state machine and the partner operations that drive it.

    PENDING (backordered) → ALLOCATED → PICKING → PACKED → SHIPPED → IN_TRANSIT →
    OUT_FOR_DELIVERY → DELIVERED; DELIVERY_FAILED → OUT_FOR_DELIVERY again or
    RETURNED_TO_SENDER; pickup: ALLOCATED → PICKING → READY_FOR_PICKUP → PICKED_UP;
    CANCELLED only before SHIPPED (see domain/order/cancel.py).

Every operation locks the order row, then the shipment, then stock rows (the order
every writer follows), writes ledger movements for stock that leaves, refreshes the
order's derived status and appends one event, all in the caller's transaction.

Partners' systems retry after a timeout without knowing whether the first request
went through. A request for the state the shipment is already in (with the same
details: tracking number, parcels, pickup code) is that retry: it succeeds and writes
nothing (no second event, so no second email or webhook). Only a request that
contradicts the state is refused. Carrier events are in domain/fulfillment/tracking.py.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.access.principal import Principal
from domain.errors import Collector, DomainError, InvalidState, NotFound
from domain.events import catalog as events
from domain.fulfillment import carriers
from domain.inventory.service import Movement, lock_rows, post_movements
from domain.order.cancel import refresh_status
from domain.order.events import append_event

MANUAL_NEXT: dict[str, dict[str, tuple[str, ...]]] = {
    "SHIP": {
        "ALLOCATED": ("PICKING",),
        "PICKING": ("PACKED",),
        "PACKED": ("SHIPPED",),
    },
    "PICKUP": {
        "ALLOCATED": ("PICKING",),
        "PICKING": ("READY_FOR_PICKUP",),
        "PACKED": ("READY_FOR_PICKUP",),
        "READY_FOR_PICKUP": ("PICKED_UP",),
    },
}
# What carrier events may move a shipped parcel to. A parcel never moves backwards:
# an event that is not one of these from the current status only joins the history.
CARRIER_NEXT: dict[str, tuple[str, ...]] = {
    "SHIPPED": (
        "IN_TRANSIT",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
        "DELIVERY_FAILED",
        "RETURNED_TO_SENDER",
    ),
    "IN_TRANSIT": ("OUT_FOR_DELIVERY", "DELIVERED", "DELIVERY_FAILED", "RETURNED_TO_SENDER"),
    "OUT_FOR_DELIVERY": ("DELIVERED", "DELIVERY_FAILED", "RETURNED_TO_SENDER"),
    "DELIVERY_FAILED": ("OUT_FOR_DELIVERY", "DELIVERED", "RETURNED_TO_SENDER"),
}
CARRIER_STATUSES = frozenset(
    {
        "SHIPPED",
        "IN_TRANSIT",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
        "DELIVERY_FAILED",
        "RETURNED_TO_SENDER",
    }
)
# Where a shipment that has been handed to its carrier can be.
SHIPPED_OR_LATER = CARRIER_STATUSES
MAX_PICKUP_ATTEMPTS = 5


class InvalidTransition(InvalidState):
    code = "INVALID_TRANSITION"


class ShipmentNotFound(NotFound):
    code = "NOT_FOUND"


class Conflict(InvalidState):
    """The shipment is already in the requested state, with other details."""

    code = "CONFLICT"


@dataclass(frozen=True, slots=True)
class Locked:
    id: int
    order_id: int
    channel_id: int
    location_id: int
    method: str
    status: str
    pickup_code: str | None
    pickup_attempts: int
    last_tracking_at: dt.datetime | None
    carrier: str | None
    tracking_number: str | None
    service: str | None
    parcels: int | None
    weight_grams: int | None


async def lock_shipment(
    conn: Any, principal: Principal, shipment_id: int, *, carrier_view: bool = False
) -> Locked:
    """The shipment, with its order locked first; one the caller may not act on does
    not exist. Partners act for their locations; admins for all; with `carrier_view`
    (carrier events), a carrier for the parcels handed to it."""
    order_id = await conn.fetchval("SELECT order_id FROM shipments WHERE id = $1", shipment_id)
    if order_id is None:
        raise ShipmentNotFound("no such shipment", field=["shipmentId"])
    channel_id = await conn.fetchval(
        "SELECT channel_id FROM orders WHERE id = $1 FOR UPDATE", order_id
    )
    row = await conn.fetchrow(
        "SELECT id, order_id, location_id, method, status, pickup_code, pickup_attempts, last_tracking_at, carrier,"
        " tracking_number, service, parcels, weight_grams FROM shipments WHERE id = $1 FOR UPDATE",
        shipment_id,
    )
    allowed = (
        principal.can_track(row["location_id"], row["carrier"])
        if carrier_view and row is not None
        else row is not None and principal.can_act_at_location(row["location_id"])
    )
    if row is None or not allowed:
        raise ShipmentNotFound("no such shipment", field=["shipmentId"])
    return Locked(channel_id=channel_id, **dict(row))


def _refuse(shipment: Locked, wanted: str) -> InvalidTransition:
    allowed = MANUAL_NEXT.get(shipment.method, {}).get(shipment.status, ())
    if shipment.status in CARRIER_NEXT:
        allowed = (*allowed, *(f"{s} (carrier event)" for s in CARRIER_NEXT[shipment.status]))
    nxt = ", ".join(allowed) if allowed else "nothing (final)"
    return InvalidTransition(
        f"the shipment is {shipment.status}; it cannot become {wanted}. Allowed next: {nxt}",
        field=["shipmentId"],
    )


def check_manual(shipment: Locked, wanted: str) -> None:
    if wanted not in MANUAL_NEXT.get(shipment.method, {}).get(shipment.status, ()):
        raise _refuse(shipment, wanted)


async def lines_of(conn: Any, shipment_id: int) -> list[Any]:
    return list(
        await conn.fetch(
            "SELECT order_line_id, sku, quantity - quantity_cancelled AS quantity FROM shipment_lines"
            " WHERE shipment_id = $1 AND quantity > quantity_cancelled ORDER BY order_line_id",
            shipment_id,
        )
    )


async def set_status(
    conn: Any, shipment: Locked, status: str, now: dt.datetime, **columns: Any
) -> None:
    sets = ["status = $2", "updated_at = $3"]
    args: list[Any] = [shipment.id, status, now]
    for name, value in columns.items():
        args.append(value)
        sets.append(f"{name} = ${len(args)}")
    await conn.execute(f"UPDATE shipments SET {', '.join(sets)} WHERE id = $1", *args)


async def event(
    conn: Any, principal: Principal, shipment: Locked, status: str, now: dt.datetime, **extra: Any
) -> str:
    """Refresh the order's status and append the shipment's SHIPMENT_STATUS_CHANGED."""
    order_status = await refresh_status(conn, shipment.order_id)
    await append_event(
        conn,
        order_id=shipment.order_id,
        channel_id=shipment.channel_id,
        type=events.SHIPMENT_STATUS_CHANGED,
        actor=principal.actor,
        payload=events.shipment_status(
            shipment_id=shipment.id,
            location_id=shipment.location_id,
            method=shipment.method,
            previous=shipment.status,
            status=status,
            order_status=order_status,
            **extra,
        ),
        now=now,
    )
    return order_status


async def _leave_stock(
    conn: Any, principal: Principal, shipment: Locked, now: dt.datetime, *, delivered: bool
) -> None:
    """The units leave the building: on hand and reserved both go down (SHIP)."""
    lines = await lines_of(conn, shipment.id)
    await lock_rows(conn, [(r["sku"], shipment.location_id) for r in lines])
    await post_movements(
        conn,
        [
            Movement(
                r["sku"],
                shipment.location_id,
                "SHIP",
                on_hand_delta=-r["quantity"],
                reserved_delta=-r["quantity"],
                reference=f"shipment:{shipment.id}",
            )
            for r in lines
        ],
        actor=principal.actor,
        now=now,
    )
    await conn.execute(
        "UPDATE order_lines l SET quantity_shipped = l.quantity_shipped + t.q"
        + (", quantity_delivered = l.quantity_delivered + t.q" if delivered else "")
        + " FROM unnest($1::bigint[], $2::int[]) AS t(id, q) WHERE l.id = t.id",
        [r["order_line_id"] for r in lines],
        [r["quantity"] for r in lines],
    )


async def start_picking(
    conn: Any, principal: Principal, shipment_id: int, now: dt.datetime
) -> None:
    shipment = await lock_shipment(conn, principal, shipment_id)
    if shipment.status == "PICKING":
        return  # a retry: picking already started
    check_manual(shipment, "PICKING")
    await set_status(conn, shipment, "PICKING", now)
    await event(conn, principal, shipment, "PICKING", now)


async def pack(
    conn: Any,
    principal: Principal,
    shipment_id: int,
    now: dt.datetime,
    parcels: Sequence[int] | None = None,
) -> None:
    shipment = await lock_shipment(conn, principal, shipment_id)
    weights = list(parcels or [])
    if shipment.status == "PACKED":
        # A retry; other parcels than those recorded would be a different packing.
        if weights and (len(weights), sum(weights)) != (shipment.parcels, shipment.weight_grams):
            raise Conflict(
                f"the shipment is already PACKED, as {_parcels(shipment)}",
                field=["parcels"],
            )
        return
    check_manual(shipment, "PACKED")
    if any(not 1 <= w <= 1_000_000 for w in weights):
        raise DomainError("a parcel weighs 1 g to 1 t", field=["parcels"], code="OUT_OF_RANGE")
    await set_status(
        conn,
        shipment,
        "PACKED",
        now,
        parcels=len(weights) or None,
        weight_grams=sum(weights) or None,
    )
    await event(conn, principal, shipment, "PACKED", now)


@dataclass(frozen=True, slots=True)
class ShipData:
    carrier: str
    tracking_number: str
    service: str | None = None
    parcels: Sequence[int] = ()


def _parcels(shipment: Locked) -> str:
    if not shipment.parcels:
        return "no parcels recorded"
    return f"{shipment.parcels} parcel(s) weighing {shipment.weight_grams} g"


def _check_same_shipping(shipment: Locked, data: ShipData) -> None:
    """A shipped shipment asked to ship again: the same hand-over (a retry), or a conflict."""
    sent = f"{shipment.carrier} {shipment.tracking_number}"
    if (data.carrier, data.tracking_number) != (shipment.carrier, shipment.tracking_number):
        raise Conflict(
            f"the shipment already shipped as {sent}; it cannot ship again under another number",
            field=["input", "trackingNumber"],
        )
    if data.service is not None and data.service != shipment.service:
        raise Conflict(
            f"the shipment already shipped as {sent} with service {shipment.service or 'none'}",
            field=["input", "service"],
        )
    weights = list(data.parcels)
    if weights and (len(weights), sum(weights)) != (shipment.parcels, shipment.weight_grams):
        raise Conflict(
            f"the shipment already shipped as {sent}, with {_parcels(shipment)}",
            field=["input", "parcels"],
        )


async def ship(
    conn: Any, principal: Principal, shipment_id: int, data: ShipData, now: dt.datetime
) -> None:
    errors = Collector()
    if not carriers.is_known(data.carrier):
        errors.add("UNKNOWN_CARRIER", f"unknown carrier {data.carrier!r}", ["input", "carrier"])
    if not 4 <= len(data.tracking_number) <= 60 or not data.tracking_number.isalnum():
        errors.add(
            "INVALID", "trackingNumber must be 4-60 letters and digits", ["input", "trackingNumber"]
        )
    if any(not 1 <= w <= 1_000_000 for w in data.parcels):
        errors.add("OUT_OF_RANGE", "a parcel weighs 1 g to 1 t", ["input", "parcels"])
    errors.raise_if_any()
    shipment = await lock_shipment(conn, principal, shipment_id)
    if shipment.status in SHIPPED_OR_LATER and shipment.tracking_number is not None:
        _check_same_shipping(shipment, data)
        return  # a retry: handed to this carrier under this number already
    check_manual(shipment, "SHIPPED")
    taken = await conn.fetchval(
        "SELECT 1 FROM shipments WHERE carrier = $1 AND tracking_number = $2 AND id <> $3",
        data.carrier,
        data.tracking_number,
        shipment.id,
    )
    if taken:
        raise DomainError(
            "this tracking number is already on another shipment",
            field=["input", "trackingNumber"],
            code="DUPLICATE",
        )
    await _leave_stock(conn, principal, shipment, now, delivered=False)
    url = carriers.tracking_url(data.carrier, data.tracking_number)
    columns: dict[str, Any] = dict(
        carrier=data.carrier,
        service=data.service,
        tracking_number=data.tracking_number,
        tracking_url=url,
        shipped_at=now,
    )
    if data.parcels:
        columns.update(parcels=len(data.parcels), weight_grams=sum(data.parcels))
    await set_status(conn, shipment, "SHIPPED", now, **columns)
    await event(
        conn,
        principal,
        shipment,
        "SHIPPED",
        now,
        carrier=data.carrier,
        trackingNumber=data.tracking_number,
        trackingUrl=url,
    )


async def ready_for_pickup(
    conn: Any, principal: Principal, shipment_id: int, now: dt.datetime
) -> None:
    shipment = await lock_shipment(conn, principal, shipment_id)
    if shipment.status == "READY_FOR_PICKUP":
        return  # a retry: the customer already has the code; no second code, no second email
    check_manual(shipment, "READY_FOR_PICKUP")
    code = f"{secrets.randbelow(1_000_000):06d}"
    await set_status(conn, shipment, "READY_FOR_PICKUP", now, pickup_code=code, pickup_attempts=0)
    # The code goes to the customer (notification), never into partner-visible payloads.
    await event(conn, principal, shipment, "READY_FOR_PICKUP", now, pickupCode=code)


def _code_matches(shipment: Locked, code: str) -> bool:
    return bool(shipment.pickup_code) and hmac.compare_digest(
        str(shipment.pickup_code), code.strip()
    )


@dataclass(frozen=True, slots=True)
class PickupOutcome:
    picked_up: bool
    attempts_left: int


async def confirm_pickup(
    conn: Any, principal: Principal, shipment_id: int, code: str, now: dt.datetime
) -> PickupOutcome:
    """Hand the order over if the code matches. A wrong code is counted (and committed:
    the caller returns the refusal after commit); after five, the shipment is locked."""
    shipment = await lock_shipment(conn, principal, shipment_id)
    if shipment.status == "PICKED_UP":
        if _code_matches(shipment, code):
            return PickupOutcome(True, MAX_PICKUP_ATTEMPTS - shipment.pickup_attempts)
        raise Conflict(
            "the shipment was already picked up, with another code", field=["pickupCode"]
        )
    check_manual(shipment, "PICKED_UP")
    if shipment.pickup_attempts >= MAX_PICKUP_ATTEMPTS:
        raise InvalidState(
            "too many wrong pickup codes: ask the customer to contact support",
            field=["pickupCode"],
            code="PICKUP_LOCKED",
        )
    if not _code_matches(shipment, code):
        attempts = shipment.pickup_attempts + 1
        await conn.execute(
            "UPDATE shipments SET pickup_attempts = $2 WHERE id = $1", shipment.id, attempts
        )
        return PickupOutcome(False, MAX_PICKUP_ATTEMPTS - attempts)
    await _leave_stock(conn, principal, shipment, now, delivered=True)
    await set_status(conn, shipment, "PICKED_UP", now, delivered_at=now)
    await event(conn, principal, shipment, "PICKED_UP", now)
    return PickupOutcome(True, MAX_PICKUP_ATTEMPTS - shipment.pickup_attempts)
