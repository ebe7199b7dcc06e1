"""Sourcing: which locations send which units of an order.

Pure and deterministic: given the candidate locations with their usable stock, the
channel's strategy and the order's wishes, it returns a plan and the reasons that
chose it. Fulfilment options, `sourcingPreview` and `placeOrder` all call it.

The strategy is an ordered list of rules. Two are plan-level and chosen by the order's
split preference (or, when the order has none, by whichever comes first in the
channel's list): FEWEST_PARCELS (CONSOLIDATE) and EARLIEST_DELIVERY (FASTEST). The
others rank locations, in the order given: DISTANCE to the destination (haversine),
PRIORITY (lower first), COST per shipment (lower first), MOST_STOCK of the basket
(more first, to balance stock). PICKUP_LOCATION sends a click-and-collect order to
the chosen store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.availability import calendar
from domain.geo import haversine_km

CONSOLIDATE = "CONSOLIDATE"
FASTEST = "FASTEST"
_INF = float("inf")
_RANKING_RULES = ("DISTANCE", "PRIORITY", "COST", "MOST_STOCK", "EARLIEST_DELIVERY")
# How many of the best-ranked locations seed an alternative plan of as few parcels.
_SEEDS = 12


@dataclass(frozen=True, slots=True)
class Site:
    """A candidate location and the units of the basket's SKUs it can use now."""

    location_id: int
    code: str
    latitude: float
    longitude: float
    timezone: str
    can_ship: bool
    can_pickup: bool
    priority: int
    cost_minor: int | None
    handling_days: int
    cutoff_hour: int
    stock: Mapping[str, int]
    opening_hours: calendar.Hours | None = None  # weekly, local time; None: not known


@dataclass(frozen=True, slots=True)
class SourcingRequest:
    lines: Sequence[tuple[str, int]]
    method: str  # SHIP or PICKUP
    rules: Sequence[str]
    max_splits: int
    now: dt.datetime
    service_level: str = "STANDARD"
    split_preference: str | None = None
    pickup_location_id: int | None = None
    destination: tuple[float, float] | None = None
    # Units the channel may sell per SKU (allocation rules); demand above it is not sourced.
    sellable: Mapping[str, int] | None = None


@dataclass
class PlannedShipment:
    site: Site
    method: str
    lines: dict[str, int]
    ship_by: dt.datetime | None
    deliver_by: dt.datetime
    distance_km: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.site.code,
            "method": self.method,
            "lines": dict(sorted(self.lines.items())),
            "shipBy": calendar.iso(self.ship_by),
            "deliverBy": calendar.iso(self.deliver_by),
            "distanceKm": round(self.distance_km, 1) if self.distance_km is not None else None,
        }


@dataclass
class Plan:
    shipments: list[PlannedShipment]
    unallocated: dict[str, int]
    preference: str
    reasons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unallocated

    @property
    def deliver_by(self) -> dt.datetime | None:
        return max((s.deliver_by for s in self.shipments), default=None)

    def explanation(self) -> dict[str, Any]:
        return {
            "preference": self.preference,
            "shipments": [s.to_json() for s in self.shipments],
            "unallocated": dict(sorted(self.unallocated.items())),
            "steps": self.reasons,
        }


def default_preference(rules: Sequence[str]) -> str:
    for rule in rules:
        if rule == "FEWEST_PARCELS":
            return CONSOLIDATE
        if rule == "EARLIEST_DELIVERY":
            return FASTEST
    return FASTEST


def _distance(site: Site, destination: tuple[float, float] | None) -> float | None:
    if destination is None:
        return None
    return haversine_km(site.latitude, site.longitude, destination[0], destination[1])


def _timing(
    site: Site, request: SourcingRequest, distance: float | None
) -> tuple[dt.datetime, dt.datetime]:
    ships = calendar.ship_by(request.now, site.timezone, site.cutoff_hour, site.handling_days)
    return ships, calendar.deliver_by(ships, distance, request.service_level)


def _demand(
    request: SourcingRequest, reasons: list[dict[str, Any]]
) -> tuple[dict[str, int], dict[str, int]]:
    """Requested units per SKU, capped by what the channel may sell."""
    demand: dict[str, int] = {}
    for sku, qty in request.lines:
        demand[sku] = demand.get(sku, 0) + qty
    capped: dict[str, int] = {}
    unallocated: dict[str, int] = {}
    for sku, qty in demand.items():
        limit = qty if request.sellable is None else min(qty, request.sellable.get(sku, 0))
        capped[sku] = limit
        if limit < qty:
            unallocated[sku] = qty - limit
            reasons.append({"step": "allocation", "sku": sku, "requested": qty, "sellable": limit})
    return capped, unallocated


def _take(stock: Mapping[str, int], demand: dict[str, int]) -> dict[str, int]:
    """What a site can serve of the demand, per SKU. (The planner's innermost loop: plain
    statements, no generator, as it runs for every candidate of every order.)"""
    taken = {}
    for sku, need in demand.items():
        have = stock.get(sku, 0)
        if have > 0 and need > 0:
            taken[sku] = have if have < need else need
    return taken


def _covered(stock: Mapping[str, int], demand: dict[str, int]) -> int:
    """How many units of the demand a site can serve: sum(_take(...).values())."""
    units = 0
    for sku, need in demand.items():
        have = stock.get(sku, 0)
        if have > 0 and need > 0:
            units += have if have < need else need
    return units


def _remove(demand: dict[str, int], taken: Mapping[str, int]) -> None:
    for sku, qty in taken.items():
        demand[sku] -= qty
        if demand[sku] == 0:
            del demand[sku]


def plan(sites: Sequence[Site], request: SourcingRequest) -> Plan:
    reasons: list[dict[str, Any]] = []
    preference = request.split_preference or default_preference(request.rules)
    demand, unallocated = _demand(request, reasons)
    demand = {k: v for k, v in demand.items() if v > 0}
    shipments: list[PlannedShipment] = []

    if request.method == "PICKUP":
        store = next((s for s in sites if s.location_id == request.pickup_location_id), None)
        if store is None or not store.can_pickup:
            reasons.append({"step": "pickup", "result": "location cannot do click and collect"})
        else:
            taken = _take(store.stock, demand)
            ready = calendar.pickup_ready_by(
                request.now,
                store.timezone,
                store.cutoff_hour,
                store.handling_days,
                store.opening_hours,
            )
            if taken:
                shipments.append(PlannedShipment(store, "PICKUP", taken, None, ready, None))
                _remove(demand, taken)
            reasons.append(
                {
                    "step": "pickup",
                    "location": store.code,
                    "whole basket": not demand,
                    "readyBy": calendar.iso(ready),
                }
            )
        if demand and not (preference == FASTEST and request.destination is not None):
            # Consolidating pickups wait for the whole basket at the store: the rest is
            # not sourced elsewhere (the caller refuses or backorders it).
            for sku, qty in demand.items():
                unallocated[sku] = unallocated.get(sku, 0) + qty
            return Plan(shipments, unallocated, preference, reasons)
        sites = [s for s in sites if s.location_id != request.pickup_location_id]

    if demand:
        ship_plan = _plan_shipping(
            sites, request, demand, preference, request.max_splits - len(shipments), reasons
        )
        shipments.extend(ship_plan.shipments)
        for sku, qty in ship_plan.unallocated.items():
            unallocated[sku] = unallocated.get(sku, 0) + qty
    return Plan(shipments, unallocated, preference, reasons)


def _plan_shipping(
    sites: Sequence[Site],
    request: SourcingRequest,
    demand: dict[str, int],
    preference: str,
    max_splits: int,
    reasons: list[dict[str, Any]],
) -> Plan:
    if max_splits < 1:
        reasons.append({"step": "plan", "result": "no shipment left within maxSplits"})
        return Plan([], dict(demand), preference)
    candidates = []
    for site in sites:
        if not site.can_ship or not any(site.stock.get(sku, 0) > 0 for sku in demand):
            continue
        distance = _distance(site, request.destination)
        ships, delivers = _timing(site, request, distance)
        # Uncapped: MOST_STOCK balances stock, so a location holding more ranks higher
        # even when both could serve the order.
        basket_stock = sum(site.stock.get(sku, 0) for sku in demand)
        rank: list[Any] = []
        for rule in request.rules:
            if rule == "DISTANCE":
                rank.append(distance if distance is not None else _INF)
            elif rule == "PRIORITY":
                rank.append(site.priority)
            elif rule == "COST":
                rank.append(site.cost_minor if site.cost_minor is not None else _INF)
            elif rule == "MOST_STOCK":
                rank.append(-basket_stock)
            elif rule == "EARLIEST_DELIVERY":
                rank.append(delivers)
        rank.append(site.code)
        candidates.append((tuple(rank), site, distance, ships, delivers))
    candidates.sort(key=lambda c: c[0])
    reasons.append(
        {
            "step": "candidates",
            "ranking": [r for r in request.rules if r in _RANKING_RULES],
            "locations": [
                {
                    "location": site.code,
                    "distanceKm": round(distance, 1) if distance is not None else None,
                    "deliverBy": calendar.iso(delivers),
                    "priority": site.priority,
                    "costMinor": site.cost_minor,
                    "canServe": dict(sorted(_take(site.stock, demand).items())),
                }
                for _, site, distance, _, delivers in candidates
            ],
        }
    )
    if not candidates:
        reasons.append({"step": "plan", "result": "no location can ship any of the basket"})
        return Plan([], dict(demand), preference)

    def build(order: list[Any], greedy_cover: bool, seed: Any = None) -> Plan:
        left = dict(demand)
        chosen: list[PlannedShipment] = []
        pool = list(order)
        while left and pool and len(chosen) < max_splits:
            # Greedy cover: the location covering most of what is left, ties by rank
            # (pool order); otherwise simply the next by rank. A seed is taken first.
            if seed is not None and not chosen:
                best = seed
            elif greedy_cover:
                best = max(pool, key=lambda c: _covered(c[1].stock, left))
            else:
                best = pool[0]
            pool.remove(best)
            taken = _take(best[1].stock, left)
            if not taken:
                continue
            _, site, distance, ships, delivers = best
            chosen.append(PlannedShipment(site, "SHIP", taken, ships, delivers, distance))
            _remove(left, taken)
        return Plan(chosen, left, preference)

    consolidated = build(candidates, greedy_cover=True)
    fastest = build(sorted(candidates, key=lambda c: (c[4], c[0])), greedy_cover=False)
    alternatives = [consolidated, fastest]
    if len(consolidated.shipments) > 1:
        # Greedy cover finds the fewest parcels, but not which plan of that many parcels
        # is best: the location holding most of the basket is not always part of the
        # nearest or fastest pair. Seeding the cover with each of the best-ranked
        # locations gives the other plans of as few parcels to compare.
        for seed in candidates[:_SEEDS]:
            alternatives.append(build(candidates, greedy_cover=True, seed=seed))
    position = {c[1].location_id: i for i, c in enumerate(candidates)}
    held = {c[1].location_id: sum(c[1].stock.get(sku, 0) for sku in demand) for c in candidates}

    def short(p: Plan) -> int:
        return sum(p.unallocated.values())

    def latest(p: Plan) -> dt.datetime:
        return p.deliver_by or dt.datetime.max.replace(tzinfo=dt.UTC)

    def kilometres(p: Plan) -> float:
        return round(sum(s.distance_km or 0.0 for s in p.shipments), 3)

    def ranking(p: Plan) -> tuple[Any, ...]:
        """The strategy's ranking rules, in its order, applied to a whole plan: total
        distance, priority and cost of its shipments, most stock held, latest delivery;
        then the earliest delivery, the shortest distance and the locations' ranks."""
        key: list[Any] = []
        for rule in request.rules:
            if rule == "DISTANCE":
                key.append(kilometres(p))
            elif rule == "PRIORITY":
                key.append(sum(s.site.priority for s in p.shipments))
            elif rule == "COST":
                key.append(
                    sum(
                        _INF if s.site.cost_minor is None else s.site.cost_minor
                        for s in p.shipments
                    )
                )
            elif rule == "MOST_STOCK":
                key.append(-sum(held[s.site.location_id] for s in p.shipments))
            elif rule == "EARLIEST_DELIVERY":
                key.append(latest(p))
        key += [latest(p), kilometres(p), sorted(position[s.site.location_id] for s in p.shipments)]
        return tuple(key)

    def fewest_parcels(p: Plan) -> tuple[Any, ...]:
        return (short(p), len(p.shipments), *ranking(p))

    def earliest_delivery(p: Plan) -> tuple[Any, ...]:
        return (short(p), latest(p), len(p.shipments), *ranking(p))

    # min() keeps the first of equals: the plain greedy plan, then the fastest.
    best_consolidated = min(alternatives, key=fewest_parcels)
    best_fastest = min([fastest, *alternatives], key=earliest_delivery)
    best_plan = best_consolidated if preference == CONSOLIDATE else best_fastest
    reasons.append(
        {
            "step": "plan",
            "preference": preference,
            "maxSplits": max_splits,
            "alternatives": [
                {
                    "name": name,
                    "parcels": len(p.shipments),
                    "deliverBy": calendar.iso(p.deliver_by),
                    "unallocatedUnits": short(p),
                    "chosen": p is best_plan,
                }
                for name, p in (
                    ("fewest parcels", best_consolidated),
                    ("earliest delivery", best_fastest),
                )
            ],
            "plansCompared": len({_signature(p) for p in alternatives}),
            "tieBreak": [r for r in request.rules if r in _RANKING_RULES]
            + ["EARLIEST_DELIVERY", "DISTANCE", "RANK"],
        }
    )
    return best_plan


def _signature(p: Plan) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    return tuple(sorted((s.site.code, tuple(sorted(s.lines.items()))) for s in p.shipments))
