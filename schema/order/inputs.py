"""Inputs of order operations."""

from __future__ import annotations

import datetime as dt

import strawberry

from domain.catalog.service import AddressData
from domain.order.placement import OrderLineData, PlaceOrderData
from schema.availability.resolvers import DeliveryMethod, ServiceLevel, SplitPreference
from schema.base import AddressInput, MoneyInput
from schema.inputs import direct_input
from schema.order.types import OrderStatus


def _money(value: MoneyInput | None) -> tuple[str, str] | None:
    return (str(value.amount), value.currency) if value is not None else None


@direct_input
@strawberry.input(description="Who orders.")
class CustomerInput:
    email: str = strawberry.field(
        description="Email; the customer is found or created by it, per channel."
    )
    name: str | None = strawberry.field(default=None, description="Name.")
    phone: str | None = strawberry.field(default=None, description="Phone.")


@direct_input
@strawberry.input(description="A SKU, how many, and at what price.")
class OrderLineInput:
    sku: str = strawberry.field(description="The SKU.")
    quantity: int = strawberry.field(description="Units, 1 to 100,000.")
    unit_price: MoneyInput = strawberry.field(
        description="Price of one unit, in the channel's currency."
    )
    discount: MoneyInput | None = strawberry.field(
        default=None, description="Discount on the whole line."
    )
    tax: MoneyInput | None = strawberry.field(
        default=None, description="Tax included in the line's amount."
    )


@direct_input
@strawberry.input(description="How the order reaches the customer.")
class DeliveryInput:
    method: DeliveryMethod = strawberry.field(description="SHIP or PICKUP.")
    service_level: ServiceLevel | None = strawberry.field(
        default=None, description="For SHIP: STANDARD or EXPRESS."
    )
    pickup_location: str | None = strawberry.field(
        default=None, description="For PICKUP: the store's code."
    )


@direct_input
@strawberry.input(description="B2B details (B2B channels).")
class B2BInput:
    company: str = strawberry.field(description="The buying company.")
    purchase_order_number: str | None = strawberry.field(
        default=None, description="The buyer's PO number."
    )
    sales_rep: str | None = strawberry.field(default=None, description="The sales rep.")


@direct_input
@strawberry.input(description="An order to place (or to preview the sourcing of).")
class PlaceOrderInput:
    channel: str = strawberry.field(
        description="Channel code; a channel key places for its own channel only."
    )
    external_id: str = strawberry.field(
        description="The channel's own order id, unique per channel."
    )
    customer: CustomerInput = strawberry.field(description="Who orders.")
    lines: list[OrderLineInput] = strawberry.field(
        description="What is ordered (up to 5,000 lines)."
    )
    delivery: DeliveryInput = strawberry.field(description="How it reaches the customer.")
    shipping_address: AddressInput | None = strawberry.field(
        default=None, description="Required to ship."
    )
    shipping_price: MoneyInput | None = strawberry.field(
        default=None, description="Shipping charged."
    )
    split_preference: SplitPreference | None = strawberry.field(
        default=None,
        description="Fewer parcels or earliest delivery; the channel's strategy decides when null.",
    )
    b2b: B2BInput | None = strawberry.field(default=None, description="B2B details (B2B channels).")

    def to_data(self) -> PlaceOrderData:
        a = self.shipping_address
        return PlaceOrderData(
            channel_code=self.channel,
            external_id=self.external_id,
            customer_email=self.customer.email,
            customer_name=self.customer.name,
            customer_phone=self.customer.phone,
            lines=[
                OrderLineData(
                    sku=x.sku,
                    quantity=x.quantity,
                    unit_price=(str(x.unit_price.amount), x.unit_price.currency),
                    discount=_money(x.discount),
                    tax=_money(x.tax),
                )
                for x in self.lines
            ],
            delivery_method=self.delivery.method.value,
            service_level=self.delivery.service_level.value
            if self.delivery.service_level
            else None,
            pickup_location_code=self.delivery.pickup_location,
            shipping_address=(
                AddressData(
                    line1=a.line1,
                    city=a.city,
                    postal_code=a.postal_code,
                    country_code=a.country_code,
                    name=a.name,
                    line2=a.line2,
                    latitude=a.latitude,
                    longitude=a.longitude,
                )
                if a
                else None
            ),
            latitude=a.latitude if a else None,
            longitude=a.longitude if a else None,
            shipping_price=_money(self.shipping_price),
            split_preference=self.split_preference.value if self.split_preference else None,
            company=self.b2b.company if self.b2b else None,
            purchase_order_number=self.b2b.purchase_order_number if self.b2b else None,
            sales_rep=self.b2b.sales_rep if self.b2b else None,
        )


@strawberry.input(description="Filters of the orders list; all optional, combined with AND.")
class OrderFilter:
    channel: str | None = strawberry.field(default=None, description="Channel code.")
    status: list[OrderStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    placed_after: dt.datetime | None = strawberry.field(
        default=None, description="Placed at or after."
    )
    placed_before: dt.datetime | None = strawberry.field(default=None, description="Placed before.")
    sku: str | None = strawberry.field(default=None, description="Has a line of this SKU.")
    customer_email: str | None = strawberry.field(default=None, description="The customer's email.")


@strawberry.input(description="Units of one line to cancel.")
class CancelLineInput:
    order_line_id: strawberry.ID = strawberry.field(description="The order line's global id.")
    quantity: int = strawberry.field(description="Units to cancel.")


@strawberry.input(description="Some units of some lines to cancel.")
class CancelOrderLinesInput:
    order_id: strawberry.ID = strawberry.field(description="The order.")
    lines: list[CancelLineInput] = strawberry.field(description="What to cancel.")
    reason: str | None = strawberry.field(default=None, description="Why, for the history.")
