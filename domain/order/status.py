"""Order status, derived from lines and shipments; never set by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SHIPPED_OR_BEYOND = frozenset(
    {
        "SHIPPED",
        "IN_TRANSIT",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
        "DELIVERY_FAILED",
        "RETURNED_TO_SENDER",
        "PICKED_UP",
    }
)
DELIVERED = frozenset({"DELIVERED", "PICKED_UP"})
IN_PREPARATION = frozenset({"PICKING", "PACKED", "READY_FOR_PICKUP"})


@dataclass(frozen=True, slots=True)
class LineQuantities:
    quantity: int
    cancelled: int


def order_status(lines: Sequence[LineQuantities], shipment_statuses: Sequence[str]) -> str:
    """PLACED → BACKORDERED / CONFIRMED → IN_PREPARATION → PARTIALLY_SHIPPED → SHIPPED →
    PARTIALLY_DELIVERED → DELIVERED; CANCELLED when every line is cancelled."""
    if lines and all(line.cancelled >= line.quantity for line in lines):
        return "CANCELLED"
    active = [s for s in shipment_statuses if s != "CANCELLED"]
    if not active:
        return "PLACED"
    delivered = [s for s in active if s in DELIVERED]
    shipped = [s for s in active if s in SHIPPED_OR_BEYOND]
    if delivered and len(delivered) == len(active):
        return "DELIVERED"
    if delivered:
        return "PARTIALLY_DELIVERED"
    if shipped and len(shipped) == len(active):
        return "SHIPPED"
    if shipped:
        return "PARTIALLY_SHIPPED"
    if any(s in IN_PREPARATION for s in active):
        return "IN_PREPARATION"
    if any(s == "PENDING" for s in active):
        return "BACKORDERED"
    return "CONFIRMED"


def return_status(
    delivered_units: int, returned_units: int, open_return_units: int, requested_only: bool
) -> str:
    """NONE, REQUESTED (a case awaits approval), IN_PROGRESS (approved, not all received),
    PARTIALLY_RETURNED, RETURNED (everything delivered came back)."""
    if open_return_units:
        return "REQUESTED" if requested_only else "IN_PROGRESS"
    if returned_units == 0:
        return "NONE"
    if returned_units >= delivered_units:
        return "RETURNED"
    return "PARTIALLY_RETURNED"
