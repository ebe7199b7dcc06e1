"""GraphQL types of shipments."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain.access.principal import Role
from domain.order.queries import OrderRow, ShipmentRow
from schema.base import Address, InfoT, Node, UserError, authorize, to_global_id
from schema.catalog.types import Location
from schema.loaders import location_by_id, now_or_later, order_by_id, tracking_of_shipment

if TYPE_CHECKING:
    from schema.order.types import Order


@strawberry.enum(description="Where a shipment stands.")
class ShipmentStatus(Enum):
    PENDING = "PENDING"
    ALLOCATED = "ALLOCATED"
    PICKING = "PICKING"
    PACKED = "PACKED"
    SHIPPED = "SHIPPED"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    RETURNED_TO_SENDER = "RETURNED_TO_SENDER"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    PICKED_UP = "PICKED_UP"
    CANCELLED = "CANCELLED"


@strawberry.type(description="A carrier's scan of a shipment.")
class TrackingEvent:
    status: ShipmentStatus = strawberry.field(description="What the carrier reported.")
    occurred_at: dt.datetime = strawberry.field(description="When it happened.")
    location: str | None = strawberry.field(description="Where, as the carrier says it.")
    description: str | None = strawberry.field(description="The carrier's words.")
    applied: bool = strawberry.field(
        description="Whether it moved the shipment (false: late, duplicate step or out of order)."
    )


@strawberry.type(description="Units of one order line in a shipment.")
class ShipmentLine:
    sku: str = strawberry.field(description="The SKU.")
    quantity: int = strawberry.field(description="Units, net of cancellations.")
    order_line_id: strawberry.ID = strawberry.field(description="Global id of the order line.")


@strawberry.type(description="The part of an order one location sends, or prepares for pickup.")
class Shipment(Node):
    status: ShipmentStatus = strawberry.field(description="Where it stands.")
    method: str = strawberry.field(description="SHIP or PICKUP.")
    lines: list[ShipmentLine] = strawberry.field(description="What it carries.")
    shipping_address: Address | None = strawberry.field(
        description="Where it goes (shipped orders)."
    )
    service_level: str | None = strawberry.field(description="STANDARD or EXPRESS.")
    carrier: str | None = strawberry.field(description="Carrier, once shipped.")
    service: str | None = strawberry.field(description="Carrier service, once shipped.")
    tracking_number: str | None = strawberry.field(description="Carrier tracking number.")
    tracking_url: str | None = strawberry.field(description="Where the customer can follow it.")
    ship_by: dt.datetime | None = strawberry.field(description="When it must leave the location.")
    deliver_by: dt.datetime | None = strawberry.field(
        description="Promised delivery (or pickup-ready) time."
    )
    shipped_at: dt.datetime | None = strawberry.field(description="When it left.")
    delivered_at: dt.datetime | None = strawberry.field(
        description="When it was delivered or picked up."
    )
    row: strawberry.Private[ShipmentRow]

    @classmethod
    def of(cls, r: ShipmentRow, order: OrderRow | None = None) -> Shipment:
        address = None
        if order is not None and r.method == "SHIP" and order.ship_line1:
            address = Address(
                name=order.ship_name,
                line1=order.ship_line1,
                line2=order.ship_line2,
                city=order.ship_city or "",
                postal_code=order.ship_postal_code or "",
                country_code=order.ship_country_code or "",
            )
        return cls(
            id=to_global_id("Shipment", r.id),
            status=ShipmentStatus(r.status),
            method=r.method,
            lines=[
                ShipmentLine(sku=sku, quantity=q, order_line_id=to_global_id("OrderLine", line))
                for line, sku, q in r.lines
            ],
            shipping_address=address,
            service_level=r.service_level,
            carrier=r.carrier,
            service=r.service,
            tracking_number=r.tracking_number,
            tracking_url=r.tracking_url,
            ship_by=r.ship_by,
            deliver_by=r.deliver_by,
            shipped_at=r.shipped_at,
            delivered_at=r.delivered_at,
            row=r,
        )

    @strawberry.field(description="The location that sends or hands it over.")
    def location(self, info: InfoT) -> Location:
        loader = info.context.loader("location", location_by_id)
        return now_or_later(loader, self.row.location_id, Location.of, shared=True)

    @strawberry.field(description="The order it belongs to (not for carriers).")
    async def order(self, info: InfoT) -> Annotated[Order, strawberry.lazy("schema.order.types")]:
        from schema.order.types import Order

        # A carrier is handed parcels, not orders: the customer's order is not its to read.
        authorize(info, Role.ADMIN, Role.PARTNER, Role.CHANNEL, Role.CUSTOMER)

        return Order.of(await info.context.loader("order", order_by_id).load(self.row.order_id))

    @strawberry.field(
        description="The carrier's scans, oldest first (including late ones that moved nothing)."
    )
    async def tracking_events(self, info: InfoT) -> list[TrackingEvent]:
        rows = await info.context.loader("tracking", tracking_of_shipment).load(self.row.id)
        return [
            TrackingEvent(
                status=ShipmentStatus(r.status),
                occurred_at=r.occurred_at,
                location=r.location,
                description=r.description,
                applied=r.applied,
            )
            for r in rows
        ]

    @strawberry.field(
        description="Printable packing slip (PDF); `.html` instead of `.pdf` for HTML."
    )
    def packing_slip_url(self) -> str:
        return f"/shipments/{self.id}/packing-slip.pdf"

    @strawberry.field(
        description="Code the customer shows to collect a pickup; for the customer and the channel, not the store."
    )
    def pickup_code(self, info: InfoT) -> str | None:
        if info.context.principal.role in (Role.CUSTOMER, Role.CHANNEL, Role.ADMIN):
            return self.row.pickup_code
        return None


@strawberry.type(description="Result of a shipment mutation.")
class ShipmentPayload:
    shipment: Shipment | None = strawberry.field(description="The shipment as it now stands.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")
