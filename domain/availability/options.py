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
from domain.errors import DomainError
from domain.geo import haversine_km
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

    @property
    def complete(self) -> bool:
        return self.plan.complete


@dataclass(frozen=True, slots=True)
class FulfillmentOptions:
    lines: list[LineAvailability]
    options: list[FulfillmentOption]
    explanation: dict[str, Any]


MAX_BASKET_LINES = 200


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
    destination: tuple[float, float] | None,
    country_code: str | None,
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
                destination=destination,
                sellable=sellable,
            ),
        )
        signature = tuple(
            sorted((s.site.code, tuple(sorted(s.lines.items()))) for s in ship.shipments)
        )
        if ship.shipments and signature not in seen_plans:
            seen_plans.add(signature)
            options.append(FulfillmentOption("SHIP", None, ship))

    pickup_notes: dict[str, str] = {}
    pickups: list[FulfillmentOption] = []
    for site in stock.sites:
        if not site.can_pickup:
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
            pickups.append(FulfillmentOption("PICKUP", site, pick))
            pickup_notes[site.code] = "serves the whole basket"
        else:
            short = {sku: qty for sku, qty in pick.unallocated.items()}
            pickup_notes[site.code] = f"cannot serve the whole basket (short: {short})"
    if destination is not None:
        pickups.sort(
            key=lambda o: (
                haversine_km(o.pickup_site.latitude, o.pickup_site.longitude, *destination)
                if o.pickup_site
                else 0
            )
        )
    else:
        pickups.sort(
            key=lambda o: (o.plan.deliver_by or now, o.pickup_site.code if o.pickup_site else "")
        )
    options.extend(pickups)

    explanation = {
        "channel": channel.code,
        "serviceLevel": service_level,
        "destination": {
            "countryCode": country_code,
            "latitude": destination[0] if destination else None,
            "longitude": destination[1] if destination else None,
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
