"""GraphQL types of products and locations."""

from __future__ import annotations

from enum import Enum

import strawberry

from domain.catalog import models
from domain.catalog.service import AddressData, LocationData, ProductData
from schema.base import Address, AddressInput, Money, MoneyInput, Node, to_global_id


@strawberry.enum(description="What kind of place a location is.")
class LocationKind(Enum):
    WAREHOUSE = "WAREHOUSE"
    STORE = "STORE"
    THIRD_PARTY = "THIRD_PARTY"
    DROPSHIP = "DROPSHIP"


@strawberry.type(
    description="A place that holds stock: warehouse, store, 3PL site or dropship partner."
)
class Location(Node):
    code: str = strawberry.field(description="Unique human code, e.g. WH-LYON.")
    name: str = strawberry.field(description="Display name.")
    kind: LocationKind = strawberry.field(description="What kind of place this is.")
    address: Address = strawberry.field(description="Postal address.")
    latitude: float = strawberry.field(description="WGS84 latitude.")
    longitude: float = strawberry.field(description="WGS84 longitude.")
    timezone: str = strawberry.field(description="IANA time zone; cut-off hours are in it.")
    can_ship: bool = strawberry.field(description="Ships parcels to customers.")
    can_pickup: bool = strawberry.field(description="Customers can collect orders here.")
    priority: int = strawberry.field(description="Sourcing priority: lower is preferred.")
    cost_per_shipment: Money | None = strawberry.field(
        description="Cost of sending one shipment from here."
    )
    handling_days: int = strawberry.field(description="Working days from order to dispatch.")
    cutoff_hour: int = strawberry.field(
        description="Local hour (0-23) before which an order counts as received today."
    )
    daily_capacity: int | None = strawberry.field(description="Shipments it can prepare per day.")

    @classmethod
    def of(cls, m: models.Location) -> Location:
        return cls(
            id=to_global_id("Location", m.id),
            code=m.code,
            name=m.name,
            kind=LocationKind(m.kind),
            address=Address(
                name=m.address_name,
                line1=m.address_line1,
                line2=m.address_line2,
                city=m.city,
                postal_code=m.postal_code,
                country_code=m.country_code,
            ),
            latitude=m.latitude,
            longitude=m.longitude,
            timezone=m.timezone,
            can_ship=m.can_ship,
            can_pickup=m.can_pickup,
            priority=m.priority,
            cost_per_shipment=(
                Money.of(m.cost_per_shipment_minor, m.cost_currency)
                if m.cost_per_shipment_minor is not None and m.cost_currency
                else None
            ),
            handling_days=m.handling_days,
            cutoff_hour=m.cutoff_hour,
            daily_capacity=m.daily_capacity,
        )


@strawberry.input(description="A location to create, or to update by its code.")
class LocationInput:
    code: str = strawberry.field(
        description="Unique code; an existing location with it is updated."
    )
    name: str = strawberry.field(description="Display name.")
    kind: LocationKind = strawberry.field(description="What kind of place this is.")
    address: AddressInput = strawberry.field(description="Postal address.")
    latitude: float = strawberry.field(description="WGS84 latitude.")
    longitude: float = strawberry.field(description="WGS84 longitude.")
    timezone: str = strawberry.field(description="IANA time zone, e.g. Europe/Paris.")
    can_ship: bool = strawberry.field(description="Ships parcels to customers.")
    can_pickup: bool = strawberry.field(description="Customers can collect orders here.")
    priority: int = strawberry.field(
        default=100, description="Sourcing priority: lower is preferred."
    )
    cost_per_shipment: MoneyInput | None = strawberry.field(
        default=None, description="Cost of one shipment."
    )
    handling_days: int = strawberry.field(
        default=1, description="Working days from order to dispatch."
    )
    cutoff_hour: int = strawberry.field(default=14, description="Local cut-off hour, 0-23.")
    daily_capacity: int | None = strawberry.field(default=None, description="Shipments per day.")

    def to_data(self) -> LocationData:
        a = self.address
        return LocationData(
            code=self.code,
            name=self.name,
            kind=self.kind.value,
            address=AddressData(
                name=a.name,
                line1=a.line1,
                line2=a.line2,
                city=a.city,
                postal_code=a.postal_code,
                country_code=a.country_code,
                latitude=a.latitude,
                longitude=a.longitude,
            ),
            latitude=self.latitude,
            longitude=self.longitude,
            timezone=self.timezone,
            can_ship=self.can_ship,
            can_pickup=self.can_pickup,
            priority=self.priority,
            cost_per_shipment=(
                (str(self.cost_per_shipment.amount), self.cost_per_shipment.currency)
                if self.cost_per_shipment
                else None
            ),
            handling_days=self.handling_days,
            cutoff_hour=self.cutoff_hour,
            daily_capacity=self.daily_capacity,
        )


@strawberry.type(description="A sellable SKU.")
class Product(Node):
    sku: str = strawberry.field(description="Unique stock-keeping unit.")
    name: str = strawberry.field(description="Display name.")
    weight_grams: int | None = strawberry.field(description="Shipping weight in grams.")
    hs_code: str | None = strawberry.field(description="Harmonized System code, for customs.")
    country_of_origin: str | None = strawberry.field(description="ISO 3166-1 alpha-2, for customs.")
    returnable: bool = strawberry.field(description="Whether customers may return it.")
    return_window_days: int | None = strawberry.field(
        description="Days after delivery it may be returned; the channel's policy when null."
    )

    @classmethod
    def of(cls, m: models.Product) -> Product:
        return cls(
            id=to_global_id("Product", m.id),
            sku=m.sku,
            name=m.name,
            weight_grams=m.weight_grams,
            hs_code=m.hs_code,
            country_of_origin=m.country_of_origin,
            returnable=m.returnable,
            return_window_days=m.return_window_days,
        )


@strawberry.input(description="A product to create, or to update by its SKU.")
class ProductInput:
    sku: str = strawberry.field(description="Unique SKU; an existing product with it is updated.")
    name: str = strawberry.field(description="Display name.")
    weight_grams: int | None = strawberry.field(
        default=None, description="Shipping weight in grams."
    )
    hs_code: str | None = strawberry.field(
        default=None, description="Harmonized System code (6-10 digits)."
    )
    country_of_origin: str | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2."
    )
    returnable: bool = strawberry.field(
        default=True, description="Whether customers may return it."
    )
    return_window_days: int | None = strawberry.field(
        default=None,
        description="Days after delivery it may be returned; the channel's policy when null.",
    )

    def to_data(self) -> ProductData:
        return ProductData(
            sku=self.sku,
            name=self.name,
            weight_grams=self.weight_grams,
            hs_code=self.hs_code,
            country_of_origin=self.country_of_origin,
            returnable=self.returnable,
            return_window_days=self.return_window_days,
        )
