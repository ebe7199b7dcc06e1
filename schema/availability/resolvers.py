"""Availability to promise: what a channel may sell, and how a basket can be fulfilled."""

from __future__ import annotations

import datetime as dt
from enum import Enum

import strawberry

from domain.access.principal import Role
from domain.availability import options as fulfilment
from domain.availability import service as atp
from domain.errors import DomainError
from domain.sourcing.planner import PlannedShipment
from schema.base import JSON, InfoT, authorize, refusal
from schema.catalog.types import Location
from schema.loaders import location_by_id


@strawberry.enum(description="How sellable a SKU is on a channel.")
class AvailabilityStatus(Enum):
    IN_STOCK = "IN_STOCK"
    LOW_STOCK = "LOW_STOCK"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    BACKORDERABLE = "BACKORDERABLE"
    UNKNOWN = strawberry.enum_value(
        "UNKNOWN",
        description="No product has this SKU (deleted or mistyped): nothing can be sold.",
    )


@strawberry.enum(description="Shipping to an address, or click and collect at a store.")
class DeliveryMethod(Enum):
    SHIP = "SHIP"
    PICKUP = "PICKUP"


@strawberry.enum(description="Carrier service level.")
class ServiceLevel(Enum):
    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


@strawberry.enum(description="Fewer parcels, or the earliest delivery.")
class SplitPreference(Enum):
    CONSOLIDATE = "CONSOLIDATE"
    FASTEST = "FASTEST"


@strawberry.type(description="What a channel may sell of one SKU now.")
class SkuAvailability:
    sku: str = strawberry.field(description="The SKU.")
    available: int = strawberry.field(
        description="Units the channel may sell now: its network's available units after its allocation rules."
    )
    status: AvailabilityStatus = strawberry.field(
        description="In stock, low, out, backorderable, or UNKNOWN (no such product; available 0)."
    )
    next_available_at: dt.datetime | None = strawberry.field(
        description="For a SKU the channel cannot sell now: when inbound supply is expected."
    )


@strawberry.type(description="A quantity of a SKU.")
class SkuQuantity:
    sku: str = strawberry.field(description="The SKU.")
    quantity: int = strawberry.field(description="Units.")


@strawberry.type(
    description="Requested units of a basket line and what the channel may sell of it."
)
class RequestedAvailability:
    sku: str = strawberry.field(description="The SKU.")
    requested: int = strawberry.field(description="Units in the basket.")
    available: int = strawberry.field(description="Units the channel may sell now.")
    status: AvailabilityStatus = strawberry.field(
        description=(
            "The SKU's status as `availability` gives it; UNKNOWN for a SKU no product has "
            "(available 0, not sourced)."
        )
    )


@strawberry.type(name="PlannedShipment", description="A shipment a plan would create.")
class PlannedShipmentView:
    lines: list[SkuQuantity] = strawberry.field(description="What it would carry.")
    ship_by: dt.datetime | None = strawberry.field(
        description="When it would leave (null for pickups)."
    )
    deliver_by: dt.datetime | None = strawberry.field(
        description="When it would be delivered, or ready for pickup."
    )
    method: DeliveryMethod = strawberry.field(description="Shipped, or prepared for pickup.")
    distance_km: float | None = strawberry.field(
        description="Distance to the destination, if known."
    )
    location_id: strawberry.Private[int]

    @strawberry.field(description="Where it would be sent from.")
    async def location(self, info: InfoT) -> Location:
        m = await info.context.loader("location", location_by_id).load(self.location_id)
        return Location.of(m)

    @classmethod
    def of(cls, s: PlannedShipment) -> PlannedShipmentView:
        return cls(
            lines=[SkuQuantity(sku=k, quantity=v) for k, v in sorted(s.lines.items())],
            ship_by=s.ship_by,
            deliver_by=s.deliver_by,
            method=DeliveryMethod(s.method),
            distance_km=round(s.distance_km, 1) if s.distance_km is not None else None,
            location_id=s.site.location_id,
        )


@strawberry.type(name="FulfillmentOption", description="One way the basket can reach the customer.")
class FulfillmentOptionView:
    method: DeliveryMethod = strawberry.field(description="Ship, or click and collect.")
    complete: bool = strawberry.field(description="Whether it serves the whole basket.")
    parcel_count: int = strawberry.field(description="Shipments it takes.")
    deliver_by: dt.datetime | None = strawberry.field(
        description=(
            "When the last parcel is delivered, or when the pickup is ready (within the store's "
            "opening hours: its next opening if preparation ends after hours)."
        )
    )
    split_preference: SplitPreference | None = strawberry.field(
        description="For shipping: the preference this plan follows (fewer parcels, or earliest delivery)."
    )
    shipments: list[PlannedShipmentView] = strawberry.field(description="The shipments it takes.")
    distance_km: float | None = strawberry.field(
        description=(
            "For click and collect: the store's great-circle distance from the destination (km), "
            "when the destination is known; stores beyond the channel's pickupRadiusKm are not "
            "offered."
        )
    )
    pickup_location_id: strawberry.Private[int | None]

    @strawberry.field(description="For click and collect: the store.")
    async def pickup_location(self, info: InfoT) -> Location | None:
        if self.pickup_location_id is None:
            return None
        m = await info.context.loader("location", location_by_id).load(self.pickup_location_id)
        return Location.of(m)


@strawberry.type(name="FulfillmentOptions", description="How a basket can be fulfilled, and why.")
class FulfillmentOptionsView:
    lines: list[RequestedAvailability] = strawberry.field(
        description="Per SKU: requested and sellable."
    )
    options: list[FulfillmentOptionView] = strawberry.field(
        description=(
            "Shipping plans first (the channel's default preference first), then click-and-collect "
            "stores within the channel's pickupRadiusKm of the destination, nearest first (without "
            "a destination: every store, earliest ready first)."
        )
    )
    explanation: JSON = strawberry.field(
        description=(
            "Rules, buffers and stock that shaped the answer, with stable keys. Admins see the "
            "network's stock per location (`view`: ADMIN); a channel sees only its own sellable "
            "quantities and the plans made for it (`view`: CHANNEL)."
        )
    )


@strawberry.input(description="A SKU and a quantity.")
class BasketItemInput:
    sku: str = strawberry.field(description="The SKU.")
    quantity: int = strawberry.field(description="Units, 1 or more.")


@strawberry.input(description="Where the basket would go.")
class DestinationInput:
    postal_code: str = strawberry.field(description="Postal code.")
    country_code: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    city: str | None = strawberry.field(default=None, description="City.")
    latitude: float | None = strawberry.field(
        default=None,
        description=(
            "WGS84 latitude, -90 to 90, for distance rules; with longitude or not at all "
            "(INVALID_COORDINATES). Without coordinates, the postal code's area (else the city) "
            "stands for the destination where it is known (explanation.destination.approximated)."
        ),
    )
    longitude: float | None = strawberry.field(
        default=None, description="WGS84 longitude, -180 to 180; with latitude or not at all."
    )


@strawberry.input(description="A basket to promise.")
class FulfillmentOptionsInput:
    channel: str = strawberry.field(description="Channel code.")
    items: list[BasketItemInput] = strawberry.field(description="The basket.")
    destination: DestinationInput | None = strawberry.field(
        default=None, description="Where it would go."
    )
    service_level: ServiceLevel = strawberry.field(
        default=ServiceLevel.STANDARD, description="Carrier service."
    )


@strawberry.type
class AvailabilityQuery:
    @strawberry.field(
        description=(
            "What a channel may sell of each SKU now (up to 500 SKUs): the sum over its network of "
            "available units, after its allocation rules. The same numbers placeOrder accepts. One "
            "entry per SKU asked for, in the order asked (repeats once); a SKU no product has is "
            "UNKNOWN with 0 available, never an error for the whole list."
        )
    )
    async def availability(
        self, info: InfoT, channel: str, skus: list[str]
    ) -> list[SkuAvailability]:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        try:
            async with info.context.session() as session:
                rows = await atp.availability(session, principal, channel, skus, info.context.now())
        except DomainError as exc:
            raise refusal(exc) from None
        return [
            SkuAvailability(
                sku=r.sku,
                available=r.available,
                status=AvailabilityStatus(r.status),
                next_available_at=r.next_available_at,
            )
            for r in rows
        ]

    @strawberry.field(
        description=(
            "How a basket can be fulfilled: shipping plans with parcels, ship-by and deliver-by, and stores "
            "that can serve the whole basket for click and collect, with an explanation."
        )
    )
    async def fulfillment_options(
        self, info: InfoT, input: FulfillmentOptionsInput
    ) -> FulfillmentOptionsView:
        principal = authorize(info, Role.ADMIN, Role.CHANNEL)
        dest = input.destination
        try:
            async with info.context.session() as session:
                result = await fulfilment.fulfillment_options(
                    session,
                    principal,
                    channel_code=input.channel,
                    items=[(i.sku, i.quantity) for i in input.items],
                    destination=fulfilment.Destination(
                        country_code=dest.country_code,
                        postal_code=dest.postal_code,
                        city=dest.city,
                        latitude=dest.latitude,
                        longitude=dest.longitude,
                    )
                    if dest
                    else None,
                    service_level=input.service_level.value,
                    now=info.context.now(),
                )
        except DomainError as exc:
            raise refusal(exc) from None
        return FulfillmentOptionsView(
            lines=[
                RequestedAvailability(
                    sku=x.sku,
                    requested=x.requested,
                    available=x.available,
                    status=AvailabilityStatus(x.status),
                )
                for x in result.lines
            ],
            options=[
                FulfillmentOptionView(
                    method=DeliveryMethod(o.method),
                    complete=o.complete,
                    parcel_count=len(o.plan.shipments),
                    deliver_by=o.plan.deliver_by,
                    split_preference=SplitPreference(o.plan.preference)
                    if o.method == "SHIP"
                    else None,
                    shipments=[PlannedShipmentView.of(s) for s in o.plan.shipments],
                    distance_km=round(o.distance_km, 1) if o.distance_km is not None else None,
                    pickup_location_id=o.pickup_site.location_id if o.pickup_site else None,
                )
                for o in result.options
            ],
            explanation=result.explanation,  # type: ignore[arg-type]  # JSON scalar takes any JSON value
        )
