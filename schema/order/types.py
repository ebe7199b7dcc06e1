"""GraphQL types of orders and their lines and events."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain.access.principal import Role
from domain.availability import disclosure
from domain.events.catalog import concerns, public_payload
from domain.order.queries import EventRow, LineRow, OrderRow
from schema.availability.resolvers import DeliveryMethod, ServiceLevel, SplitPreference
from schema.base import JSON, Address, InfoT, Money, Node, UserError, to_global_id
from schema.loaders import (
    channel_by_id,
    lines_of_order,
    location_by_id,
    now_or_later,
    shipments_of_order,
)

if TYPE_CHECKING:
    from schema.catalog.types import Location
    from schema.channel.types import Channel
    from schema.fulfillment.types import Shipment
    from schema.returns.resolvers import Return


@strawberry.enum(description="Where an order stands, derived from its lines and shipments.")
class OrderStatus(Enum):
    PLACED = "PLACED"
    BACKORDERED = "BACKORDERED"
    CONFIRMED = "CONFIRMED"
    IN_PREPARATION = "IN_PREPARATION"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    PARTIALLY_DELIVERED = "PARTIALLY_DELIVERED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


@strawberry.enum(description="Where the order's returns stand.")
class ReturnStatus(Enum):
    NONE = "NONE"
    REQUESTED = "REQUESTED"
    IN_PROGRESS = "IN_PROGRESS"
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"
    RETURNED = "RETURNED"


@strawberry.type(description="Who ordered.")
class Customer:
    email: str = strawberry.field(description="Email (lower case).")
    name: str | None = strawberry.field(description="Name.")
    phone: str | None = strawberry.field(description="Phone.")


@strawberry.type(description="B2B details of an order.")
class B2BDetails:
    company: str | None = strawberry.field(description="The buying company.")
    purchase_order_number: str | None = strawberry.field(
        description="The buyer's purchase order number."
    )
    sales_rep: str | None = strawberry.field(description="The sales rep who took it.")


@strawberry.type(description="A SKU on an order, and what became of its units.")
class OrderLine(Node):
    line_number: int = strawberry.field(description="Position on the order, from 1.")
    sku: str = strawberry.field(description="The SKU.")
    quantity: int = strawberry.field(description="Units ordered.")
    unit_price: Money = strawberry.field(description="Price of one unit.")
    discount: Money = strawberry.field(
        description="Discount on the whole line as placed (all `quantity` units)."
    )
    tax: Money = strawberry.field(
        description="Tax included in the line's amount as placed (all `quantity` units)."
    )
    quantity_cancelled: int = strawberry.field(description="Units cancelled.")
    quantity_allocated: int = strawberry.field(
        description="Units allocated to a location (reserved)."
    )
    quantity_backordered: int = strawberry.field(description="Units waiting for inbound supply.")
    quantity_shipped: int = strawberry.field(description="Units shipped or picked up.")
    quantity_delivered: int = strawberry.field(description="Units delivered or picked up.")
    quantity_returned: int = strawberry.field(description="Units returned.")
    order_pk: strawberry.Private[int]

    @classmethod
    def of(cls, r: LineRow, currency: str) -> OrderLine:
        return cls(
            id=to_global_id("OrderLine", r.id),
            line_number=r.line_number,
            sku=r.sku,
            quantity=r.quantity,
            unit_price=Money.of(r.unit_price_minor, currency),
            discount=Money.of(r.discount_minor, currency),
            tax=Money.of(r.tax_minor, currency),
            quantity_cancelled=r.quantity_cancelled,
            quantity_allocated=r.quantity_allocated,
            quantity_backordered=r.quantity_backordered,
            quantity_shipped=r.quantity_shipped,
            quantity_delivered=r.quantity_delivered,
            quantity_returned=r.quantity_returned,
            order_pk=r.order_id,
        )


@strawberry.type(
    description=(
        "An order's amounts as placed, before any cancellation: its history. Cancelled"
        " units come off the order's own amounts, never off these."
    )
)
class OrderTotals:
    subtotal: Money = strawberry.field(description="Sum of unit price x quantity ordered.")
    discount: Money = strawberry.field(description="Sum of the line discounts.")
    tax: Money = strawberry.field(description="Tax included in the amounts.")
    shipping: Money = strawberry.field(description="Shipping charged.")
    total: Money = strawberry.field(description="subtotal - discount + shipping.")


@strawberry.type(description="One thing that happened to an order.")
class OrderEvent:
    sequence: int = strawberry.field(
        description="Gap-free position in the order's history, from 1."
    )
    type: str = strawberry.field(description="What happened, e.g. ORDER_PLACED, SHIPMENT_SHIPPED.")
    occurred_at: dt.datetime = strawberry.field(description="When.")
    actor: str | None = strawberry.field(
        description="Who: a key's role and name, a customer, or system."
    )
    payload: JSON | None = strawberry.field(
        description=(
            "Details, with stable keys per type; ids are global ids (as `node(id:)` takes). A "
            "partner is shown the part that concerns its locations."
        )
    )

    @classmethod
    def of(cls, e: EventRow, locations: frozenset[int] | None = None) -> OrderEvent:
        return cls(
            sequence=e.sequence,
            type=e.type,
            occurred_at=e.occurred_at,
            actor=e.actor,
            # the JSON scalar takes any JSON value
            payload=public_payload(e.type, e.payload, locations=locations),  # type: ignore[arg-type]
        )


def _as_placed(original: int | None, current: int) -> int:
    """An amount as placed: kept apart once a cancellation changed it, else the current."""
    return current if original is None else original


@strawberry.type(description="One purchase, from any channel.")
class Order(Node):
    number: str = strawberry.field(description="Human number to read and say, e.g. 100045-4.")
    external_id: str = strawberry.field(description="The channel's own id, unique per channel.")
    customer: Customer = strawberry.field(description="Who ordered.")
    status: OrderStatus = strawberry.field(description="Derived from lines and shipments.")
    return_status: ReturnStatus = strawberry.field(description="Where its returns stand.")
    placed_at: dt.datetime = strawberry.field(description="When it was placed.")
    currency: str = strawberry.field(description="ISO 4217 currency of all its amounts.")
    subtotal: Money = strawberry.field(
        description="Sum of unit price x units still ordered (cancelled units excluded)."
    )
    discount: Money = strawberry.field(
        description=(
            "Discount on the units still ordered: each line's discount spread over its units"
            " to the minor unit, as refunds spread it, cancelled units taking their share."
        )
    )
    tax: Money = strawberry.field(
        description="Tax included in the amounts of the units still ordered, spread the same way."
    )
    shipping: Money = strawberry.field(
        description="Shipping charged: as placed while any unit is still ordered, 0 once all are cancelled."
    )
    total: Money = strawberry.field(
        description=(
            "subtotal - discount + shipping: what the units still ordered are worth. Refunds"
            " of returned units are not taken off (see the returns' refunds)."
        )
    )
    original_totals: OrderTotals = strawberry.field(
        description="The amounts as placed, kept as history whatever was cancelled since."
    )
    delivery_method: DeliveryMethod = strawberry.field(description="Shipped, or collected.")
    service_level: ServiceLevel | None = strawberry.field(description="When shipped.")
    split_preference: SplitPreference = strawberry.field(description="As sourced.")
    shipping_address: Address | None = strawberry.field(description="Where it goes, when shipped.")
    b2b: B2BDetails | None = strawberry.field(description="B2B details, on B2B channels.")
    row: strawberry.Private[OrderRow]

    @classmethod
    def of(cls, r: OrderRow) -> Order:
        c = r.currency
        return cls(
            id=to_global_id("Order", r.id),
            number=r.number,
            external_id=r.external_id,
            customer=Customer(email=r.customer_email, name=r.customer_name, phone=r.customer_phone),
            status=OrderStatus(r.status),
            return_status=ReturnStatus(r.return_status),
            placed_at=r.placed_at,
            currency=c,
            subtotal=Money.of(r.subtotal_minor, c),
            discount=Money.of(r.discount_minor, c),
            tax=Money.of(r.tax_minor, c),
            shipping=Money.of(r.shipping_minor, c),
            total=Money.of(r.total_minor, c),
            original_totals=OrderTotals(
                subtotal=Money.of(_as_placed(r.original_subtotal_minor, r.subtotal_minor), c),
                discount=Money.of(_as_placed(r.original_discount_minor, r.discount_minor), c),
                tax=Money.of(_as_placed(r.original_tax_minor, r.tax_minor), c),
                shipping=Money.of(_as_placed(r.original_shipping_minor, r.shipping_minor), c),
                total=Money.of(_as_placed(r.original_total_minor, r.total_minor), c),
            ),
            delivery_method=DeliveryMethod(r.delivery_method),
            service_level=ServiceLevel(r.service_level) if r.service_level else None,
            split_preference=SplitPreference(r.split_preference),
            shipping_address=(
                Address(
                    name=r.ship_name,
                    line1=r.ship_line1,
                    line2=r.ship_line2,
                    city=r.ship_city or "",
                    postal_code=r.ship_postal_code or "",
                    country_code=r.ship_country_code or "",
                )
                if r.ship_line1
                else None
            ),
            b2b=(
                B2BDetails(
                    company=r.company,
                    purchase_order_number=r.purchase_order_number,
                    sales_rep=r.sales_rep,
                )
                if r.company
                else None
            ),
            row=r,
        )

    # Not async: they answer at once when the loaders hold the data already (see
    # now_or_later), and only await when they must.
    @strawberry.field(description="The channel it came from.")
    def channel(self, info: InfoT) -> Annotated[Channel, strawberry.lazy("schema.channel.types")]:
        from schema.channel.types import Channel

        loader = info.context.loader("channel", channel_by_id)
        return now_or_later(loader, self.row.channel_id, Channel.of, shared=True)

    @strawberry.field(description="Its lines.")
    def lines(self, info: InfoT) -> list[OrderLine]:
        currency = self.row.currency
        return now_or_later(
            info.context.loader("lines", lines_of_order),
            self.row.id,
            lambda rows: [OrderLine.of(r, currency) for r in rows],
        )

    @strawberry.field(description="Its shipments: one per location and method, as sourced.")
    def shipments(
        self, info: InfoT
    ) -> list[Annotated[Shipment, strawberry.lazy("schema.fulfillment.types")]]:
        from schema.fulfillment.types import Shipment

        order = self.row
        return now_or_later(
            info.context.loader("shipments", shipments_of_order),
            order.id,
            lambda rows: [Shipment.of(r, order) for r in rows],
        )

    @strawberry.field(description="Its return cases.")
    async def returns(
        self, info: InfoT
    ) -> list[Annotated[Return, strawberry.lazy("schema.returns.resolvers")]]:
        from schema.loaders import returns_of_order
        from schema.returns.resolvers import Return

        rows = await info.context.loader("order_returns", returns_of_order).load(self.row.id)
        return [Return.of(r) for r in rows]

    @strawberry.field(description="For click and collect: the store.")
    async def pickup_location(
        self, info: InfoT
    ) -> Annotated[Location, strawberry.lazy("schema.catalog.types")] | None:
        from schema.catalog.types import Location

        if self.row.pickup_location_id is None:
            return None
        return Location.of(
            await info.context.loader("location", location_by_id).load(self.row.pickup_location_id)
        )

    @strawberry.field(
        description=(
            "The sourcing plan stored at placement and the reasons that chose it. Admins see it "
            "whole (`view`: ADMIN); a channel or customer sees the channel's view (`view`: CHANNEL): "
            "no location's stock, priority or cost."
        )
    )
    async def sourcing_decision(self, info: InfoT) -> JSON | None:
        from domain.order.models import Order as OrderModel

        async with info.context.session() as session:
            order = await session.get(OrderModel, self.row.id)
        if order is None or order.sourcing_decision is None:
            return None
        return disclosure.plan_for(info.context.principal, order.sourcing_decision)  # type: ignore[return-value]

    @strawberry.field(
        description="Its history, in sequence order (a partner: the events that concern its locations)."
    )
    async def events(
        self,
        info: InfoT,
        first: Annotated[
            int | None, strawberry.argument(description="At most 100 (default 100).")
        ] = None,
        after_sequence: Annotated[
            int | None, strawberry.argument(description="Only events after this one.")
        ] = None,
    ) -> list[OrderEvent]:
        from domain.order.queries import events_of

        size = 100 if first is None else max(0, min(first, 100))
        async with info.context.session() as session:
            rows = await events_of(session, self.row.id, after_sequence or 0, size)
        p = info.context.principal
        if p.role is Role.PARTNER:
            # What its webhooks and its event stream show it, no more.
            return [
                OrderEvent.of(e, p.location_ids)
                for e in rows
                if concerns(e.payload, p.location_ids)
            ]
        return [OrderEvent.of(e) for e in rows]


@strawberry.type(description="Result of an order mutation.")
class OrderPayload:
    order: Order | None = strawberry.field(
        description=(
            "The order as it now stands. With DUPLICATE_EXTERNAL_ID: the order the channel already "
            "has under that externalId, unchanged."
        )
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed, if so.")
