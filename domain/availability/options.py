"""Fulfilment options of a basket: shipping plans and click-and-collect stores, with
the rules and buffers that shaped them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal
from domain.availability import disclosure
from domain.availability.rules import status_of
from domain.availability.service import (
    UNKNOWN,
    ChannelConfig,
    NetworkStock,
    channel_config,
    network_stock,
)
from domain.catalog.service import check_coordinates
from domain.errors import Collector, DomainError
from domain.geo import Approximation, approximate, haversine_km, is_country
from domain.sourcing.planner import (
    CONSOLIDATE,
    FASTEST,
    Plan,
    Site,
    SourcingRequest,
    default_preference,
    plan,
)


@dataclass(frozen=True, slots=True)
class LineAvailability:
    sku: str
    requested: int
    available: int
    status: str


@dataclass(frozen=True, slots=True)
class FulfillmentOption:
    method: str
    pickup_site: Site | None
    plan: Plan
    distance_km: float | None = None  # of a pickup store from the destination

    @property
    def complete(self) -> bool:
        return self.plan.complete


@dataclass(frozen=True, slots=True)
class FulfillmentOptions:
    lines: list[LineAvailability]
    options: list[FulfillmentOption]
    explanation: dict[str, Any]


MAX_BASKET_LINES = 200


@dataclass(frozen=True, slots=True)
class Destination:
    country_code: str
    postal_code: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None


def _away(site: Site, where: tuple[float, float] | None) -> float | None:
    """Great-circle km from the destination, if it is known."""
    return haversine_km(site.latitude, site.longitude, *where) if where is not None else None


def _locate(
    destination: Destination | None,
) -> tuple[tuple[float, float] | None, Approximation | None]:
    """The destination's coordinates (checked), else its postal code's area or town."""
    if destination is None:
        return None, None
    errors = Collector()
    at: list[str | int] = ["input", "destination"]
    if not is_country(destination.country_code):
        errors.add(
            "INVALID_COUNTRY",
            f"{destination.country_code!r} is not an ISO 3166-1 alpha-2 country code",
            [*at, "countryCode"],
        )
    check_coordinates(errors, destination.latitude, destination.longitude, at)
    errors.raise_if_any()
    if destination.latitude is not None and destination.longitude is not None:
        return (destination.latitude, destination.longitude), None
    approximated = approximate(destination.country_code, destination.postal_code, destination.city)
    if approximated is None:
        return None, None
    return (approximated.latitude, approximated.longitude), approximated


def _status(
    channel: ChannelConfig, stock: NetworkStock, sku: str, sellable: int, now: dt.datetime
) -> str:
    """The line's status as `availability` gives it for the SKU."""
    if sku in stock.unknown:
        return UNKNOWN
    inbound = stock.next_inbound.get(sku)
    return status_of(
        sellable,
        threshold=channel.allocation.low_stock_threshold,
        backorderable=channel.allow_backorders
        and sellable == 0
        and inbound is not None
        and inbound[1] > now,
    )


async def fulfillment_options(
    session: AsyncSession,
    principal: Principal,
    *,
    channel_code: str,
    items: Sequence[tuple[str, int]],
    destination: Destination | None,
    service_level: str,
    now: dt.datetime,
) -> FulfillmentOptions:
    """How a basket can reach the customer: shipping plans (fewest parcels and earliest
    delivery, when they differ) and every store that can serve the whole basket for
    click and collect; with the rules and buffers that shaped the answer."""
    if not items:
        raise DomainError("the basket is empty", field=["input", "items"], code="REQUIRED")
    if len(items) > MAX_BASKET_LINES:
        raise DomainError(
            f"at most {MAX_BASKET_LINES} basket lines", field=["input", "items"], code="TOO_MANY"
        )
    for i, (_, qty) in enumerate(items):
        if not 1 <= qty <= 100_000:
            raise DomainError(
                "quantity must be between 1 and 100,000",
                field=["input", "items", i, "quantity"],
                code="OUT_OF_RANGE",
            )
    where, approximated = _locate(destination)
    channel = await channel_config(session, principal, channel_code, ["input", "channel"])
    stock = await network_stock(session, channel.id, [sku for sku, _ in items])
    requested: dict[str, int] = {}
    for sku, qty in items:
        requested[sku] = requested.get(sku, 0) + qty
    # A SKU no product has is 0 sellable: the rest of the basket is still answered.
    sellable = {
        sku: 0
        if sku in stock.unknown
        else channel.allocation.sellable(sku, stock.network_available[sku])
        for sku in requested
    }
    lines = [
        LineAvailability(sku, qty, sellable[sku], _status(channel, stock, sku, sellable[sku], now))
        for sku, qty in requested.items()
    ]
    default = default_preference(channel.rules)

    options: list[FulfillmentOption] = []
    seen_plans: set[tuple[tuple[str, tuple[tuple[str, int], ...]], ...]] = set()
    for preference in (default, CONSOLIDATE if default == FASTEST else FASTEST):
        ship = plan(
            stock.sites,
            SourcingRequest(
                lines=list(requested.items()),
                method="SHIP",
                rules=channel.rules,
                max_splits=channel.max_splits,
                now=now,
                service_level=service_level,
                split_preference=preference,
                destination=where,
                sellable=sellable,
            ),
        )
        signature = tuple(
            sorted((s.site.code, tuple(sorted(s.lines.items()))) for s in ship.shipments)
        )
        if ship.shipments and signature not in seen_plans:
            seen_plans.add(signature)
            options.append(FulfillmentOption("SHIP", None, ship))

    # Per store, why it is offered or not: structured, with a note for people.
    pickup_notes: dict[str, dict[str, Any]] = {}
    pickups: list[FulfillmentOption] = []
    for site in stock.sites:
        if not site.can_pickup:
            continue
        away = _away(site, where)
        if away is not None and away > channel.pickup_radius_km:
            pickup_notes[site.code] = {
                "offered": False,
                "reason": "BEYOND_RADIUS",
                "distanceKm": round(away, 1),
                "radiusKm": channel.pickup_radius_km,
                "note": f"beyond the channel's {channel.pickup_radius_km:g} km pickup radius"
                f" ({away:.0f} km)",
            }
            continue
        pick = plan(
            stock.sites,
            SourcingRequest(
                lines=list(requested.items()),
                method="PICKUP",
                rules=channel.rules,
                max_splits=1,
                now=now,
                split_preference=CONSOLIDATE,
                pickup_location_id=site.location_id,
                sellable=sellable,
            ),
        )
        if pick.complete:
            pickups.append(FulfillmentOption("PICKUP", site, pick, away))
            pickup_notes[site.code] = {"offered": True, "note": "serves the whole basket"}
        else:
            pickup_notes[site.code] = {
                "offered": False,
                "reason": "SHORT",
                "short": [
                    {"sku": sku, "quantity": qty} for sku, qty in sorted(pick.unallocated.items())
                ],
                "note": "cannot serve the whole basket",
            }
    # Nearest first (then the earliest ready); without a destination, the earliest ready.
    pickups.sort(
        key=lambda o: (
            o.distance_km or 0.0,
            o.plan.deliver_by or now,
            o.pickup_site.code if o.pickup_site else "",
        )
    )
    options.extend(pickups)

    explanation = {
        "channel": channel.code,
        "serviceLevel": service_level,
        "destination": {
            "countryCode": destination.country_code if destination else None,
            "latitude": where[0] if where else None,
            "longitude": where[1] if where else None,
            "approximated": approximated.explain() if approximated else None,
        },
        "strategy": {
            "rules": list(channel.rules),
            "maxSplits": channel.max_splits,
            "defaultPreference": default,
        },
        "skus": {
            sku: {"unknown": True, "requested": qty, "sellable": 0}
            if sku in stock.unknown
            else {
                **channel.allocation.explain(sku, stock.network_available[sku]),
                "requested": qty,
                "locations": stock.per_location[sku],
            }
            for sku, qty in requested.items()
        },
        "shipping": [o.plan.explanation() for o in options if o.method == "SHIP"],
        "pickup": pickup_notes,
        "pickupRadiusKm": channel.pickup_radius_km if where is not None else None,
        "rules": [
            "available = onHand - reserved - safetyStock - damaged, per location, never below 0",
            "sellable = floor(network available x sharePercent / 100) - buffer, never below 0; excluded SKUs 0",
            "ship-by: cut-off hour in the location's time zone, then handling days (Mon-Fri)",
            "deliver-by: transit days by distance and service level (Mon-Fri), by 20:00",
        ],
    }
    return FulfillmentOptions(
        lines=lines, options=options, explanation=disclosure.options_for(principal, explanation)
    )
