"""Carrier events: a carrier's (or a TMS's) scans of a parcel it was handed.

Events may arrive late, twice or out of order: a duplicate event id is ignored, an
older event joins the history without moving the shipment, and the shipment never
moves backwards. An event dated ahead of the service's clock (beyond a small skew) is
refused: kept, it would make every real event that follows look older than it, and
freeze the parcel's status.

Who may record them: an admin; a partner for the shipments of its locations (a 3PL
with its own TMS); a CARRIER key for the parcels handed to its carrier, and nothing
else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from domain.access.principal import Principal, Role
from domain.availability.calendar import iso
from domain.errors import Collector, DomainError, InvalidState
from domain.events import catalog as events
from domain.fulfillment import carriers
from domain.fulfillment.lifecycle import (
    CARRIER_NEXT,
    CARRIER_STATUSES,
    ShipmentNotFound,
    event,
    lines_of,
    lock_shipment,
    set_status,
)
from domain.order.events import append_event

# How far ahead of the service's clock a carrier's own clock may run.
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)


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


def _check(principal: Principal, data: TrackingData, now: dt.datetime) -> str | None:
    """Validate the event; returns the carrier it speaks for, when known."""
    errors = Collector()
    carrier = data.carrier
    if principal.role is Role.CARRIER:
        # A carrier key speaks for its own carrier only, and need not say which.
        if carrier is not None and carrier != principal.carrier:
            errors.add(
                "CARRIER_MISMATCH",
                f"this key records the events of {principal.carrier} only",
                ["input", "carrier"],
            )
        carrier = principal.carrier
    if data.status not in CARRIER_STATUSES:
        errors.add("INVALID_STATUS", f"{data.status} is not a carrier status", ["input", "status"])
    if data.occurred_at.tzinfo is None:
        errors.add("INVALID", "occurredAt needs a time zone offset", ["input", "occurredAt"])
    elif data.occurred_at > now + MAX_CLOCK_SKEW:
        errors.add(
            "OCCURRED_IN_FUTURE",
            f"occurredAt {data.occurred_at.isoformat()} is ahead of the service's clock"
            f" ({now.isoformat()}) by more than {int(MAX_CLOCK_SKEW.total_seconds() // 60)}"
            " minutes: check the sender's clock and time zone",
            ["input", "occurredAt"],
        )
    if not 1 <= len(data.event_id) <= 200:
        errors.add("INVALID", "eventId must be 1-200 characters", ["input", "eventId"])
    if data.carrier is not None and not carriers.is_known(data.carrier):
        errors.add("UNKNOWN_CARRIER", f"unknown carrier {data.carrier!r}", ["input", "carrier"])
    if data.shipment_id is None and not (carrier and data.tracking_number):
        errors.add(
            "REQUIRED", "give shipmentId, or carrier and trackingNumber", ["input", "shipmentId"]
        )
    errors.raise_if_any()
    return carrier


async def record_tracking_event(
    conn: Any, principal: Principal, data: TrackingData, now: dt.datetime
) -> TrackingOutcome:
    """A carrier's scan. Idempotent by (carrier, event id); late and out-of-order events
    join the history without moving the shipment backwards."""
    carrier = _check(principal, data, now)
    shipment_id = data.shipment_id
    if shipment_id is None:
        shipment_id = await conn.fetchval(
            "SELECT id FROM shipments WHERE carrier = $1 AND tracking_number = $2",
            carrier,
            data.tracking_number,
        )
        if shipment_id is None:
            raise ShipmentNotFound(
                "no shipment with this carrier and tracking number",
                field=["input", "trackingNumber"],
            )
    shipment = await lock_shipment(conn, principal, shipment_id, carrier_view=True)
    carrier = carrier or shipment.carrier
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
            type=events.TRACKING_EVENT_RECORDED,
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
        lines = await lines_of(conn, shipment.id)
        await conn.execute(
            "UPDATE order_lines l SET quantity_delivered = l.quantity_delivered + t.q"
            " FROM unnest($1::bigint[], $2::int[]) AS t(id, q) WHERE l.id = t.id",
            [r["order_line_id"] for r in lines],
            [r["quantity"] for r in lines],
        )
    await set_status(conn, shipment, data.status, now, **columns)
    await event(conn, principal, shipment, data.status, now, **detail)
    if data.status == "RETURNED_TO_SENDER":
        from domain.returns.service import open_carrier_return

        await open_carrier_return(conn, principal, shipment_id=shipment.id, now=now)
    return TrackingOutcome(shipment.id, duplicate=False, applied=True)
