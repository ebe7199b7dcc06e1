"""Availability to promise, read from the database: per SKU for a channel, and the
fulfilment options of a basket. One round trip for the hot `availability` query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.principal import Principal
from domain.availability.rules import Allocation, status_of
from domain.db import driver_connection
from domain.errors import Collector, DomainError, NotFound
from domain.geo import check_coordinates, haversine_km
from domain.sourcing.planner import (
    CONSOLIDATE,
    FASTEST,
    Plan,
    Site,
    SourcingRequest,
    default_preference,
    plan,
)

MAX_SKUS = 500


class UnknownChannel(NotFound):
    code = "UNKNOWN_CHANNEL"


class UnknownSku(DomainError):
    code = "UNKNOWN_SKU"


@dataclass(frozen=True, slots=True)
class SkuAvailability:
    sku: str
    available: int
    status: str
    next_available_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    id: int
    code: str
    currency: str
    allocation: Allocation
    allow_backorders: bool
    rules: tuple[str, ...]
    max_splits: int
    kind: str


_AVAILABILITY_SQL = """
WITH ch AS (SELECT id, allocation, allow_backorders FROM channels WHERE code = $1),
req AS (SELECT DISTINCT unnest($2::text[]) AS sku),
lv AS (
    SELECT s.sku, SUM(GREATEST(s.on_hand - s.reserved - s.safety_stock - s.damaged, 0))::int AS available
    FROM stock_levels s JOIN channel_locations cl ON cl.location_id = s.location_id
    WHERE cl.channel_id = (SELECT id FROM ch) AND s.sku = ANY($2::text[])
    GROUP BY s.sku
),
inb AS (
    SELECT l.sku, MIN(i.expected_at) AS next_at
    FROM inbound_supply_lines l
    JOIN inbound_supplies i ON i.id = l.supply_id AND i.status = 'OPEN'
    JOIN channel_locations cl ON cl.location_id = i.location_id AND cl.channel_id = (SELECT id FROM ch)
    WHERE l.sku = ANY($2::text[]) AND l.quantity > l.quantity_received
    GROUP BY l.sku
)
SELECT ch.id AS channel_id, ch.allocation::text AS allocation, ch.allow_backorders,
       req.sku, p.sku IS NOT NULL AS known, COALESCE(lv.available, 0) AS available, inb.next_at
FROM ch CROSS JOIN req
LEFT JOIN products p ON p.sku = req.sku
LEFT JOIN lv ON lv.sku = req.sku
LEFT JOIN inb ON inb.sku = req.sku
"""


def check_skus(skus: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(skus))
    if len(unique) > MAX_SKUS:
        raise DomainError(f"at most {MAX_SKUS} SKUs per request", field=["skus"], code="TOO_MANY")
    return unique


async def availability(
    session: AsyncSession,
    principal: Principal,
    channel_code: str,
    skus: Sequence[str],
    now: dt.datetime,
) -> list[SkuAvailability]:
    """What the channel may sell of each SKU now, with a status and, for SKUs it cannot
    sell now, when inbound supply is expected to bring them back."""
    unique = check_skus(skus)
    conn = await driver_connection(session)
    rows = await conn.fetch(_AVAILABILITY_SQL, channel_code, unique)
    if not rows:
        # No row at all: the channel does not exist (or no SKU was asked for).
        if unique or not await conn.fetchval(
            "SELECT id FROM channels WHERE code = $1", channel_code
        ):
            raise UnknownChannel(f"no channel {channel_code!r}", field=["channel"])
        return []
    if not principal.can_see_channel(rows[0]["channel_id"]):
        raise UnknownChannel(f"no channel {channel_code!r}", field=["channel"])
    unknown = [r["sku"] for r in rows if not r["known"]]
    if unknown:
        raise UnknownSku(f"unknown SKUs: {', '.join(sorted(unknown))}", field=["skus"])
    allocation = Allocation.from_config(orjson.loads(rows[0]["allocation"]))
    backorders = rows[0]["allow_backorders"]
    by_sku = {r["sku"]: r for r in rows}
    out = []
    for sku in unique:
        r = by_sku[sku]
        sellable = allocation.sellable(sku, r["available"])
        next_at = (
            r["next_at"]
            if sellable == 0 and r["next_at"] is not None and r["next_at"] > now
            else None
        )
        out.append(
            SkuAvailability(
                sku=sku,
                available=sellable,
                status=status_of(
                    sellable,
                    threshold=allocation.low_stock_threshold,
                    backorderable=backorders and next_at is not None,
                ),
                next_available_at=next_at,
            )
        )
    return out


async def channel_config(
    session: AsyncSession, principal: Principal, code: str, field: list[str | int]
) -> ChannelConfig:
    conn = await driver_connection(session)
    row = await conn.fetchrow(CHANNEL_SQL, code)
    if row is None or not principal.can_see_channel(row["id"]):
        raise UnknownChannel(f"no channel {code!r}", field=field)
    sourcing = orjson.loads(row["sourcing"])
    return ChannelConfig(
        id=row["id"],
        code=row["code"],
        currency=row["currency"],
        allocation=Allocation.from_config(orjson.loads(row["allocation"])),
        allow_backorders=row["allow_backorders"],
        rules=tuple(sourcing.get("rules", ())),
        max_splits=int(sourcing.get("maxSplits", 3)),
        kind=row["kind"],
    )


# The statements of channel_config and network_stock (bench/place_order.py issues them).
CHANNEL_SQL = (
    "SELECT id, code, kind, currency, allocation::text AS allocation, allow_backorders,"
    " sourcing::text AS sourcing FROM channels WHERE code = $1"
)
NETWORK_SQL = (
    "SELECT l.id, l.code, l.latitude, l.longitude, l.timezone, l.can_ship, l.can_pickup, l.priority,"
    " l.cost_per_shipment_minor, l.handling_days, l.cutoff_hour"
    " FROM locations l JOIN channel_locations cl ON cl.location_id = l.id WHERE cl.channel_id = $1"
    " ORDER BY l.code"
)
NETWORK_LEVELS_SQL = (
    "SELECT s.sku, s.location_id, s.on_hand, s.reserved, s.safety_stock, s.damaged"
    " FROM stock_levels s JOIN channel_locations cl ON cl.location_id = s.location_id"
    " WHERE cl.channel_id = $1 AND s.sku = ANY($2::text[])"
)
NEXT_INBOUND_SQL = (
    "SELECT DISTINCT ON (l.sku) l.sku, i.location_id, i.expected_at"
    " FROM inbound_supply_lines l JOIN inbound_supplies i ON i.id = l.supply_id AND i.status = 'OPEN'"
    " JOIN channel_locations cl ON cl.location_id = i.location_id AND cl.channel_id = $1"
    " WHERE l.sku = ANY($2::text[]) AND l.quantity > l.quantity_received"
    " ORDER BY l.sku, i.expected_at"
)


@dataclass(frozen=True, slots=True)
class NetworkStock:
    sites: list[Site]
    network_available: dict[str, int]
    per_location: dict[str, dict[str, dict[str, int]]]  # sku -> location code -> quantities
    next_inbound: dict[str, tuple[int, dt.datetime]]  # sku -> (location id, expected at)


async def network_stock(
    session: AsyncSession,
    channel_id: int,
    skus: Sequence[str],
    *,
    lock: bool = False,
    checked: bool = False,
) -> NetworkStock:
    """Every location of the channel's network with its usable stock of these SKUs.
    `checked`: the caller has already refused unknown SKUs (one query less)."""
    conn = await driver_connection(session)
    unique = sorted(set(skus))
    if not checked:
        known = {
            r["sku"]
            for r in await conn.fetch(
                "SELECT sku FROM products WHERE sku = ANY($1::text[])", unique
            )
        }
        missing = [s for s in unique if s not in known]
        if missing:
            raise UnknownSku(f"unknown SKUs: {', '.join(missing)}", field=["items"])
    locations = await conn.fetch(NETWORK_SQL, channel_id)
    levels = await conn.fetch(
        NETWORK_LEVELS_SQL + (" ORDER BY s.sku, s.location_id FOR UPDATE OF s" if lock else ""),
        channel_id,
        unique,
    )
    inbound = await conn.fetch(NEXT_INBOUND_SQL, channel_id, unique)
    code_of = {r["id"]: r["code"] for r in locations}
    stock: dict[int, dict[str, int]] = {}
    network_available = dict.fromkeys(unique, 0)
    per_location: dict[str, dict[str, dict[str, int]]] = {sku: {} for sku in unique}
    for r in levels:
        available = max(0, r["on_hand"] - r["reserved"] - r["safety_stock"] - r["damaged"])
        stock.setdefault(r["location_id"], {})[r["sku"]] = available
        network_available[r["sku"]] += available
        per_location[r["sku"]][code_of[r["location_id"]]] = {
            "onHand": r["on_hand"],
            "reserved": r["reserved"],
            "safetyStock": r["safety_stock"],
            "damaged": r["damaged"],
            "available": available,
        }
    sites = [
        Site(
            location_id=r["id"],
            code=r["code"],
            latitude=r["latitude"],
            longitude=r["longitude"],
            timezone=r["timezone"],
            can_ship=r["can_ship"],
            can_pickup=r["can_pickup"],
            priority=r["priority"],
            cost_minor=r["cost_per_shipment_minor"],
            handling_days=r["handling_days"],
            cutoff_hour=r["cutoff_hour"],
            stock=stock.get(r["id"], {}),
        )
        for r in locations
    ]
    return NetworkStock(
        sites=sites,
        network_available=network_available,
        per_location=per_location,
        next_inbound={r["sku"]: (r["location_id"], r["expected_at"]) for r in inbound},
    )


@dataclass(frozen=True, slots=True)
class LineAvailability:
    sku: str
    requested: int
    available: int


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
    if destination is not None:
        bad_place = Collector()
        check_coordinates(bad_place, *destination, ["input", "destination"])
        if bad_place:
            raise bad_place.errors[0]
    channel = await channel_config(session, principal, channel_code, ["input", "channel"])
    stock = await network_stock(session, channel.id, [sku for sku, _ in items])
    requested: dict[str, int] = {}
    for sku, qty in items:
        requested[sku] = requested.get(sku, 0) + qty
    sellable = {
        sku: channel.allocation.sellable(sku, stock.network_available[sku]) for sku in requested
    }
    lines = [LineAvailability(sku, qty, sellable[sku]) for sku, qty in requested.items()]
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
            sku: {
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
    return FulfillmentOptions(lines=lines, options=options, explanation=explanation)
