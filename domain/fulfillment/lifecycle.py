"""The shipment state machine and the partner operations that drive it.

    PENDING (backordered) → ALLOCATED → PICKING → PACKED → SHIPPED → IN_TRANSIT →
    OUT_FOR_DELIVERY → DELIVERED; DELIVERY_FAILED → OUT_FOR_DELIVERY again or
    RETURNED_TO_SENDER; pickup: ALLOCATED → PICKING → READY_FOR_PICKUP → PICKED_UP;
    CANCELLED only before SHIPPED (see domain/order/cancel.py).

Every operation locks the order row, then the shipment, then stock rows (the order
every writer follows), writes ledger movements for stock that leaves, refreshes the
order's derived status and appends one event, all in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.access.principal import Principal
from domain.availability.calendar import iso
from domain.errors import Collector, DomainError, InvalidState, NotFound
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
MAX_PICKUP_ATTEMPTS = 5


class InvalidTransition(InvalidState):
    code = "INVALID_TRANSITION"


class ShipmentNotFound(NotFound):
    code = "NOT_FOUND"


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


async def lock_shipment(
    conn: Any, principal: Principal, shipment_id: int, *, carrier_view: bool = False
) -> Locked:
    """The shipment, with its order locked first; one the caller may not act on does
    not exist. Partners act for their locations; admins for all."""
    order_id = await conn.fetchval("SELECT order_id FROM shipments WHERE id = $1", shipment_id)
    if order_id is None:
        raise ShipmentNotFound("no such shipment", field=["shipmentId"])
    channel_id = await conn.fetchval(
        "SELECT channel_id FROM orders WHERE id = $1 FOR UPDATE", order_id
    )
    row = await conn.fetchrow(
        "SELECT id, order_id, location_id, method, status, pickup_code, pickup_attempts, last_tracking_at, carrier,"
        " tracking_number FROM shipments WHERE id = $1 FOR UPDATE",
        shipment_id,
    )
    if row is None or not principal.can_act_at_location(row["location_id"]):
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


async def _lines(conn: Any, shipment_id: int) -> list[Any]:
    return list(
        await conn.fetch(
            "SELECT order_line_id, sku, quantity - quantity_cancelled AS quantity FROM shipment_lines"
            " WHERE shipment_id = $1 AND quantity > quantity_cancelled ORDER BY order_line_id",
            shipment_id,
        )
    )


async def _set_status(
    conn: Any, shipment: Locked, status: str, now: dt.datetime, **columns: Any
) -> None:
    sets = ["status = $2", "updated_at = $3"]
    args: list[Any] = [shipment.id, status, now]
    for name, value in columns.items():
        args.append(value)
        sets.append(f"{name} = ${len(args)}")
    await conn.execute(f"UPDATE shipments SET {', '.join(sets)} WHERE id = $1", *args)


async def _event(
    conn: Any, principal: Principal, shipment: Locked, status: str, now: dt.datetime, **extra: Any
) -> str:
    order_status = await refresh_status(conn, shipment.order_id)
    await append_event(
        conn,
        order_id=shipment.order_id,
        channel_id=shipment.channel_id,
        type="SHIPMENT_STATUS_CHANGED",
        actor=principal.actor,
        payload={
            "shipmentId": shipment.id,
            "locationId": shipment.location_id,
            "method": shipment.method,
            "from": shipment.status,
            "status": status,
            "orderStatus": order_status,
            **extra,
        },
        now=now,
    )
    return order_status


async def _leave_stock(
    conn: Any, principal: Principal, shipment: Locked, now: dt.datetime, *, delivered: bool
) -> None:
    """The units leave the building: on hand and reserved both go down (SHIP)."""
    lines = await _lines(conn, shipment.id)
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
    check_manual(shipment, "PICKING")
    await _set_status(conn, shipment, "PICKING", now)
    await _event(conn, principal, shipment, "PICKING", now)


async def pack(
    conn: Any,
    principal: Principal,
    shipment_id: int,
    now: dt.datetime,
    parcels: Sequence[int] | None = None,
) -> None:
    shipment = await lock_shipment(conn, principal, shipment_id)
    check_manual(shipment, "PACKED")
    weights = list(parcels or [])
    if any(not 1 <= w <= 1_000_000 for w in weights):
        raise DomainError("a parcel weighs 1 g to 1 t", field=["parcels"], code="OUT_OF_RANGE")
    await _set_status(
        conn,
        shipment,
        "PACKED",
        now,
        parcels=len(weights) or None,
        weight_grams=sum(weights) or None,
    )
    await _event(conn, principal, shipment, "PACKED", now)


@dataclass(frozen=True, slots=True)
class ShipData:
    carrier: str
    tracking_number: str
    service: str | None = None
    parcels: Sequence[int] = ()


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
    await _set_status(conn, shipment, "SHIPPED", now, **columns)
    await _event(
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
    check_manual(shipment, "READY_FOR_PICKUP")
    code = f"{secrets.randbelow(1_000_000):06d}"
    await _set_status(conn, shipment, "READY_FOR_PICKUP", now, pickup_code=code, pickup_attempts=0)
    # The code goes to the customer (notification), never into partner-visible payloads.
    await _event(conn, principal, shipment, "READY_FOR_PICKUP", now, pickupCode=code)


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
    check_manual(shipment, "PICKED_UP")
    if shipment.pickup_attempts >= MAX_PICKUP_ATTEMPTS:
        raise InvalidState(
            "too many wrong pickup codes: ask the customer to contact support",
            field=["pickupCode"],
            code="PICKUP_LOCKED",
        )
    if not shipment.pickup_code or not hmac.compare_digest(shipment.pickup_code, code.strip()):
        attempts = shipment.pickup_attempts + 1
        await conn.execute(
            "UPDATE shipments SET pickup_attempts = $2 WHERE id = $1", shipment.id, attempts
        )
        return PickupOutcome(False, MAX_PICKUP_ATTEMPTS - attempts)
    await _leave_stock(conn, principal, shipment, now, delivered=True)
    await _set_status(conn, shipment, "PICKED_UP", now, delivered_at=now)
    await _event(conn, principal, shipment, "PICKED_UP", now)
    return PickupOutcome(True, MAX_PICKUP_ATTEMPTS - shipment.pickup_attempts)


@dataclass(frozen=True, slots=True)
class TrackingData:
    event_id: str
    status: str
    occurred_at: dt.datetime
    shipment_id: int | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    location: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TrackingOutcome:
    shipment_id: int
    duplicate: bool
    applied: bool


async def record_tracking_event(
    conn: Any, principal: Principal, data: TrackingData, now: dt.datetime
) -> TrackingOutcome:
    """A carrier's scan. Idempotent by (carrier, event id); late and out-of-order events
    join the history without moving the shipment backwards."""
    errors = Collector()
    if data.status not in CARRIER_STATUSES:
        errors.add("INVALID_STATUS", f"{data.status} is not a carrier status", ["input", "status"])
    if data.occurred_at.tzinfo is None:
        errors.add("INVALID", "occurredAt needs a time zone offset", ["input", "occurredAt"])
    if not 1 <= len(data.event_id) <= 200:
        errors.add("INVALID", "eventId must be 1-200 characters", ["input", "eventId"])
    if data.carrier is not None and not carriers.is_known(data.carrier):
        errors.add("UNKNOWN_CARRIER", f"unknown carrier {data.carrier!r}", ["input", "carrier"])
    if data.shipment_id is None and not (data.carrier and data.tracking_number):
        errors.add(
            "REQUIRED", "give shipmentId, or carrier and trackingNumber", ["input", "shipmentId"]
        )
    errors.raise_if_any()
    shipment_id = data.shipment_id
    if shipment_id is None:
        shipment_id = await conn.fetchval(
            "SELECT id FROM shipments WHERE carrier = $1 AND tracking_number = $2",
            data.carrier,
            data.tracking_number,
        )
        if shipment_id is None:
            raise ShipmentNotFound(
                "no shipment with this carrier and tracking number",
                field=["input", "trackingNumber"],
            )
    shipment = await lock_shipment(conn, principal, shipment_id)
    carrier = data.carrier or shipment.carrier
    if carrier is None:
        raise InvalidState(
            "the shipment has not shipped: no carrier yet", field=["input", "carrier"]
        )
    if shipment.carrier is not None and carrier != shipment.carrier:
        raise DomainError(
            "this shipment travels with another carrier",
            field=["input", "carrier"],
            code="CARRIER_MISMATCH",
        )
    duplicate = await conn.fetchval(
        "SELECT 1 FROM tracking_events WHERE carrier = $1 AND event_id = $2", carrier, data.event_id
    )
    if duplicate:
        return TrackingOutcome(shipment.id, duplicate=True, applied=False)
    newer = shipment.last_tracking_at is None or data.occurred_at >= shipment.last_tracking_at
    applied = newer and data.status in CARRIER_NEXT.get(shipment.status, ())
    await conn.execute(
        "INSERT INTO tracking_events (shipment_id, carrier, event_id, status, occurred_at, location, description, applied,"
        " recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        shipment.id,
        carrier,
        data.event_id,
        data.status,
        data.occurred_at,
        data.location,
        data.description,
        applied,
        now,
    )
    detail = {
        "trackingEventId": data.event_id,
        "carrierStatus": data.status,
        "occurredAt": iso(data.occurred_at),
        "where": data.location,
    }
    if not applied:
        await append_event(
            conn,
            order_id=shipment.order_id,
            channel_id=shipment.channel_id,
            type="TRACKING_EVENT_RECORDED",
            actor=principal.actor,
            payload={
                "shipmentId": shipment.id,
                "locationId": shipment.location_id,
                "status": shipment.status,
                "applied": False,
                **detail,
            },
            now=now,
        )
        return TrackingOutcome(shipment.id, duplicate=False, applied=False)
    columns: dict[str, Any] = {"last_tracking_at": data.occurred_at}
    if data.status == "DELIVERED":
        columns["delivered_at"] = data.occurred_at
        lines = await _lines(conn, shipment.id)
        await conn.execute(
            "UPDATE order_lines l SET quantity_delivered = l.quantity_delivered + t.q"
            " FROM unnest($1::bigint[], $2::int[]) AS t(id, q) WHERE l.id = t.id",
            [r["order_line_id"] for r in lines],
            [r["quantity"] for r in lines],
        )
    await _set_status(conn, shipment, data.status, now, **columns)
    await _event(conn, principal, shipment, data.status, now, **detail)
    if data.status == "RETURNED_TO_SENDER":
        from domain.returns.service import open_carrier_return

        await open_carrier_return(conn, principal, shipment_id=shipment.id, now=now)
    return TrackingOutcome(shipment.id, duplicate=False, applied=True)
