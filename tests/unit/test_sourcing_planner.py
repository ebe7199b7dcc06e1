"""Sourcing planner: which locations send which units, and why.

Hand-computed expectations for domain/sourcing/planner.py (DOMAIN.md, Sourcing).

Map (haversine, km, from the Paris destination): Lille 203.5, Lyon 391.5, Marseille
660.5; Lyon-Marseille 277.6, Lille-Marseille 833.9.

`NOW` is Tuesday 2026-06-09 09:00 UTC = 11:00 in Paris (CEST). Every site is in
Europe/Paris with cut-off 14, so with 1 handling day (the default here) it ships
Wednesday 10 June 14:00 and, STANDARD to Paris, delivers:
  Paris (0 km) / Lille: 1 day -> Thursday 11 June 20:00
  Lyon / Marseille:     2 days -> Friday 12 June 20:00
With 0 handling days a site ships Tuesday 14:00 and Lille/Paris deliver Wednesday.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from domain.availability.calendar import iso
from domain.sourcing.planner import (
    CONSOLIDATE,
    FASTEST,
    Plan,
    Site,
    SourcingRequest,
    default_preference,
    plan,
)

PARIS_TZ = "Europe/Paris"
NOW = dt.datetime(2026, 6, 9, 9, 0, tzinfo=dt.UTC)

PARIS = (48.8566, 2.3522)
LYON = (45.764, 4.8357)
LILLE = (50.6292, 3.0573)
MARSEILLE = (43.2965, 5.3698)


def paris_time(month: int, day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=ZoneInfo(PARIS_TZ))


def site(
    location_id: int,
    code: str,
    where: tuple[float, float],
    stock: Mapping[str, int],
    *,
    can_ship: bool = True,
    can_pickup: bool = False,
    priority: int = 10,
    cost_minor: int | None = 500,
    handling_days: int = 1,
    cutoff_hour: int = 14,
) -> Site:
    return Site(
        location_id=location_id,
        code=code,
        latitude=where[0],
        longitude=where[1],
        timezone=PARIS_TZ,
        can_ship=can_ship,
        can_pickup=can_pickup,
        priority=priority,
        cost_minor=cost_minor,
        handling_days=handling_days,
        cutoff_hour=cutoff_hour,
        stock=dict(stock),
    )


def request(
    lines: Sequence[tuple[str, int]],
    *,
    rules: Sequence[str] = ("DISTANCE",),
    preference: str | None = None,
    destination: tuple[float, float] | None = PARIS,
    max_splits: int = 3,
    method: str = "SHIP",
    pickup_location_id: int | None = None,
    sellable: Mapping[str, int] | None = None,
    service_level: str = "STANDARD",
) -> SourcingRequest:
    return SourcingRequest(
        lines=list(lines),
        method=method,
        rules=list(rules),
        max_splits=max_splits,
        now=NOW,
        service_level=service_level,
        split_preference=preference,
        pickup_location_id=pickup_location_id,
        destination=destination,
        sellable=sellable,
    )


def shipped(result: Plan) -> list[tuple[str, str, dict[str, int]]]:
    """(location, method, lines) of each shipment, in plan order."""
    return [(s.site.code, s.method, dict(s.lines)) for s in result.shipments]


def locations(result: Plan) -> set[str]:
    return {s.site.code for s in result.shipments}


def step(result: Plan, name: str) -> list[dict[str, Any]]:
    return [r for r in result.reasons if r.get("step") == name]


BASKET = [("SKU-A", 1), ("SKU-B", 2)]
FULL = {"SKU-A": 5, "SKU-B": 5}


def three_full_warehouses() -> list[Site]:
    return [
        site(2, "LYON", LYON, FULL),
        site(3, "LILLE", LILLE, FULL),
        site(4, "MARSEILLE", MARSEILLE, FULL),
    ]


# --- default preference ----------------------------------------------------------------


def test_default_preference_is_whichever_plan_level_rule_comes_first() -> None:
    assert default_preference(["FEWEST_PARCELS", "EARLIEST_DELIVERY"]) == CONSOLIDATE
    assert default_preference(["DISTANCE", "EARLIEST_DELIVERY", "FEWEST_PARCELS"]) == FASTEST
    assert default_preference(["DISTANCE", "COST"]) == FASTEST


def test_the_orders_split_preference_wins_over_the_channels_rules() -> None:
    sites = three_full_warehouses()
    result = plan(sites, request(BASKET, rules=["EARLIEST_DELIVERY"], preference=CONSOLIDATE))
    assert result.preference == CONSOLIDATE
    result = plan(sites, request(BASKET, rules=["FEWEST_PARCELS"]))
    assert result.preference == CONSOLIDATE
    result = plan(sites, request(BASKET, rules=["FEWEST_PARCELS"], preference=FASTEST))
    assert result.preference == FASTEST


# --- DISTANCE --------------------------------------------------------------------------


def test_distance_picks_the_nearest_location() -> None:
    result = plan(three_full_warehouses(), request(BASKET, rules=["DISTANCE"]))
    assert shipped(result) == [("LILLE", "SHIP", {"SKU-A": 1, "SKU-B": 2})]
    assert result.complete
    assert round(result.shipments[0].distance_km or 0, 1) == 203.5


def test_distance_picks_the_nearest_location_that_can_serve() -> None:
    sites = [
        site(2, "LYON", LYON, FULL),
        site(3, "LILLE", LILLE, {"SKU-A": 0, "SKU-B": 0}),
        site(4, "MARSEILLE", MARSEILLE, FULL),
    ]
    result = plan(sites, request(BASKET, rules=["DISTANCE"], preference=CONSOLIDATE))
    assert shipped(result) == [("LYON", "SHIP", {"SKU-A": 1, "SKU-B": 2})]


def test_distance_is_measured_to_the_destination() -> None:
    # to Marseille: Lyon (277.6 km) is nearer than Lille (833.9 km)
    sites = [site(2, "LYON", LYON, FULL), site(3, "LILLE", LILLE, FULL)]
    result = plan(sites, request(BASKET, rules=["DISTANCE"], destination=MARSEILLE))
    assert locations(result) == {"LYON"}
    assert round(result.shipments[0].distance_km or 0, 1) == 277.6


def test_distance_breaks_a_tie_between_equally_fast_locations() -> None:
    # Lyon and Marseille both deliver Friday; Lyon is nearer to Paris
    sites = [site(2, "LYON", LYON, FULL), site(4, "MARSEILLE", MARSEILLE, FULL)]
    for preference in (CONSOLIDATE, FASTEST):
        result = plan(sites, request(BASKET, rules=["DISTANCE"], preference=preference))
        assert locations(result) == {"LYON"}


# --- PRIORITY --------------------------------------------------------------------------


def test_priority_first_in_the_rules_beats_distance() -> None:
    # same delivery day (Friday) from Lyon and Marseille; Marseille has priority 1
    sites = [
        site(2, "LYON", LYON, FULL, priority=5),
        site(4, "MARSEILLE", MARSEILLE, FULL, priority=1),
    ]
    for preference in (CONSOLIDATE, FASTEST):
        by_priority = plan(
            sites, request(BASKET, rules=["PRIORITY", "DISTANCE"], preference=preference)
        )
        by_distance = plan(
            sites, request(BASKET, rules=["DISTANCE", "PRIORITY"], preference=preference)
        )
        assert locations(by_priority) == {"MARSEILLE"}
        assert locations(by_distance) == {"LYON"}


def test_consolidate_with_one_parcel_either_way_follows_the_ranking_rules() -> None:
    # Both Lille (Thursday) and Marseille (Friday) can send everything in one parcel.
    # The channel ranks by PRIORITY, then DISTANCE, and the order wants fewest parcels:
    # the priority-1 location is chosen, not the faster one (delivery speed is the
    # FASTEST preference, not a ranking rule of this strategy).
    sites = [
        site(3, "LILLE", LILLE, FULL, priority=5),
        site(4, "MARSEILLE", MARSEILLE, FULL, priority=1),
    ]
    result = plan(sites, request(BASKET, rules=["FEWEST_PARCELS", "PRIORITY", "DISTANCE"]))
    assert result.preference == CONSOLIDATE
    assert shipped(result) == [("MARSEILLE", "SHIP", {"SKU-A": 1, "SKU-B": 2})]


def test_fastest_puts_earliest_delivery_before_priority() -> None:
    # Lille delivers Thursday, Marseille Friday: FASTEST takes Lille despite priority
    sites = [
        site(3, "LILLE", LILLE, FULL, priority=5),
        site(4, "MARSEILLE", MARSEILLE, FULL, priority=1),
    ]
    result = plan(sites, request(BASKET, rules=["PRIORITY", "DISTANCE"], preference=FASTEST))
    assert locations(result) == {"LILLE"}
    assert result.deliver_by == paris_time(6, 11, 20)


# --- COST ------------------------------------------------------------------------------


def test_cost_picks_the_cheapest_location() -> None:
    # Lyon and Marseille both deliver Friday; Marseille is cheaper per shipment
    sites = [
        site(2, "LYON", LYON, FULL, cost_minor=900),
        site(4, "MARSEILLE", MARSEILLE, FULL, cost_minor=300),
    ]
    for preference in (CONSOLIDATE, FASTEST):
        by_cost = plan(sites, request(BASKET, rules=["COST", "DISTANCE"], preference=preference))
        by_distance = plan(
            sites, request(BASKET, rules=["DISTANCE", "COST"], preference=preference)
        )
        assert locations(by_cost) == {"MARSEILLE"}
        assert locations(by_distance) == {"LYON"}


def test_cost_ranks_a_location_without_a_cost_last() -> None:
    sites = [
        site(2, "LYON", LYON, FULL, cost_minor=None),
        site(4, "MARSEILLE", MARSEILLE, FULL, cost_minor=2_000),
    ]
    result = plan(sites, request(BASKET, rules=["COST"], preference=CONSOLIDATE))
    assert locations(result) == {"MARSEILLE"}


def test_consolidate_with_one_parcel_either_way_picks_the_cheapest() -> None:
    # Lille (Thursday, 9.00) or Marseille (Friday, 3.00), one parcel either way: a
    # channel ranking by COST under FEWEST_PARCELS pays 3.00.
    sites = [
        site(3, "LILLE", LILLE, FULL, cost_minor=900),
        site(4, "MARSEILLE", MARSEILLE, FULL, cost_minor=300),
    ]
    result = plan(sites, request(BASKET, rules=["FEWEST_PARCELS", "COST"]))
    assert locations(result) == {"MARSEILLE"}


# --- MOST_STOCK ------------------------------------------------------------------------


def test_most_stock_uses_the_location_with_most_of_the_basket_first() -> None:
    # basket A x2, B x2; all deliver Friday (no destination: longest band), max 2 parcels.
    # X holds A2 (2 of the basket), Y holds A1 B2 (3), Z holds B2 (2); X cheapest.
    basket = [("SKU-A", 2), ("SKU-B", 2)]
    sites = [
        site(1, "X", LYON, {"SKU-A": 2}, cost_minor=100),
        site(2, "Y", LYON, {"SKU-A": 1, "SKU-B": 2}, cost_minor=300),
        site(3, "Z", LYON, {"SKU-B": 2}, cost_minor=200),
    ]
    by_cost = plan(
        sites, request(basket, rules=["COST"], preference=FASTEST, destination=None, max_splits=2)
    )
    by_stock = plan(
        sites,
        request(
            basket, rules=["MOST_STOCK", "COST"], preference=FASTEST, destination=None, max_splits=2
        ),
    )
    assert shipped(by_cost) == [
        ("X", "SHIP", {"SKU-A": 2}),
        ("Z", "SHIP", {"SKU-B": 2}),
    ]
    assert shipped(by_stock) == [
        ("Y", "SHIP", {"SKU-A": 1, "SKU-B": 2}),
        ("X", "SHIP", {"SKU-A": 1}),
    ]
    assert by_cost.complete and by_stock.complete


def test_most_stock_balances_by_sending_from_the_location_holding_more() -> None:
    # Both can send the single unit; Marseille holds 50 of it, Lyon 1. MOST_STOCK (to
    # balance stock) sends from Marseille even though Lyon sorts first by code.
    sites = [
        site(2, "LYON", LYON, {"SKU-A": 1}),
        site(4, "MARSEILLE", MARSEILLE, {"SKU-A": 50}),
    ]
    for preference in (CONSOLIDATE, FASTEST):
        result = plan(
            sites,
            request([("SKU-A", 1)], rules=["MOST_STOCK"], preference=preference, destination=None),
        )
        assert shipped(result) == [("MARSEILLE", "SHIP", {"SKU-A": 1})]


# --- CONSOLIDATE vs FASTEST ------------------------------------------------------------


def split_or_slow_single() -> list[Site]:
    """Lille has A and Paris has B, both same-day shippers (deliver Wednesday); Marseille
    has both but one handling day and two transit days (delivers Friday)."""
    return [
        site(1, "PARIS", PARIS, {"SKU-B": 5}, handling_days=0),
        site(3, "LILLE", LILLE, {"SKU-A": 5}, handling_days=0),
        site(4, "MARSEILLE", MARSEILLE, FULL, handling_days=1),
    ]


def test_consolidate_prefers_one_location_with_everything_over_two_nearer_ones() -> None:
    result = plan(split_or_slow_single(), request(BASKET, preference=CONSOLIDATE))
    assert shipped(result) == [("MARSEILLE", "SHIP", {"SKU-A": 1, "SKU-B": 2})]
    assert result.deliver_by == paris_time(6, 12, 20)
    assert result.shipments[0].ship_by == paris_time(6, 10, 14)


def test_fastest_prefers_a_split_that_delivers_earlier_than_one_slow_location() -> None:
    result = plan(split_or_slow_single(), request(BASKET, preference=FASTEST))
    assert sorted(shipped(result)) == [
        ("LILLE", "SHIP", {"SKU-A": 1}),
        ("PARIS", "SHIP", {"SKU-B": 2}),
    ]
    assert result.complete
    assert result.deliver_by == paris_time(6, 10, 20)
    for shipment in result.shipments:
        assert shipment.ship_by == paris_time(6, 9, 14)


def test_fastest_never_splits_when_one_location_is_as_fast() -> None:
    sites = [*split_or_slow_single(), site(5, "LILLE-2", LILLE, FULL, handling_days=0)]
    result = plan(sites, request(BASKET, preference=FASTEST))
    assert shipped(result) == [("LILLE-2", "SHIP", {"SKU-A": 1, "SKU-B": 2})]


def test_plan_reasons_record_both_alternatives_and_the_choice() -> None:
    result = plan(split_or_slow_single(), request(BASKET, preference=FASTEST))
    (decision,) = step(result, "plan")
    assert decision["preference"] == FASTEST
    alternatives = {a["name"]: a for a in decision["alternatives"]}
    assert alternatives["fewest parcels"]["parcels"] == 1
    assert alternatives["fewest parcels"]["chosen"] is False
    assert alternatives["earliest delivery"]["parcels"] == 2
    assert alternatives["earliest delivery"]["chosen"] is True


# --- maxSplits -------------------------------------------------------------------------


def one_sku_per_city() -> list[Site]:
    return [
        site(2, "LYON", LYON, {"SKU-B": 5}),
        site(3, "LILLE", LILLE, {"SKU-A": 5}),
        site(4, "MARSEILLE", MARSEILLE, {"SKU-C": 5}),
    ]


def test_max_splits_caps_shipments_and_leaves_the_rest_unallocated() -> None:
    basket = [("SKU-A", 1), ("SKU-B", 1), ("SKU-C", 1)]
    for preference in (CONSOLIDATE, FASTEST):
        result = plan(one_sku_per_city(), request(basket, preference=preference, max_splits=2))
        assert shipped(result) == [
            ("LILLE", "SHIP", {"SKU-A": 1}),
            ("LYON", "SHIP", {"SKU-B": 1}),
        ]
        assert result.unallocated == {"SKU-C": 1}
        assert not result.complete


def test_max_splits_one_sends_a_single_shipment() -> None:
    basket = [("SKU-A", 1), ("SKU-B", 1), ("SKU-C", 1)]
    result = plan(one_sku_per_city(), request(basket, max_splits=1))
    assert shipped(result) == [("LILLE", "SHIP", {"SKU-A": 1})]
    assert result.unallocated == {"SKU-B": 1, "SKU-C": 1}


def test_enough_splits_serve_the_whole_basket() -> None:
    basket = [("SKU-A", 1), ("SKU-B", 1), ("SKU-C", 1)]
    result = plan(one_sku_per_city(), request(basket, max_splits=3))
    assert locations(result) == {"LILLE", "LYON", "MARSEILLE"}
    assert result.complete


def test_one_sku_can_be_split_across_locations_within_max_splits() -> None:
    sites = [site(3, "LILLE", LILLE, {"SKU-A": 3}), site(2, "LYON", LYON, {"SKU-A": 4})]
    result = plan(sites, request([("SKU-A", 5)], preference=CONSOLIDATE, max_splits=2))
    # greedy cover: Lyon holds more of what is needed (4), Lille sends the last unit
    assert shipped(result) == [("LYON", "SHIP", {"SKU-A": 4}), ("LILLE", "SHIP", {"SKU-A": 1})]
    capped = plan(sites, request([("SKU-A", 5)], preference=CONSOLIDATE, max_splits=1))
    assert shipped(capped) == [("LYON", "SHIP", {"SKU-A": 4})]
    assert capped.unallocated == {"SKU-A": 1}


# --- channel allocation (sellable) -----------------------------------------------------


def test_sellable_caps_demand_and_reports_it_in_reasons() -> None:
    sites = [site(3, "LILLE", LILLE, {"SKU-A": 10})]
    result = plan(sites, request([("SKU-A", 5)], sellable={"SKU-A": 2}))
    assert shipped(result) == [("LILLE", "SHIP", {"SKU-A": 2})]
    assert result.unallocated == {"SKU-A": 3}
    assert step(result, "allocation") == [
        {"step": "allocation", "sku": "SKU-A", "requested": 5, "sellable": 2}
    ]


def test_sellable_above_demand_changes_nothing() -> None:
    sites = [site(3, "LILLE", LILLE, {"SKU-A": 10})]
    result = plan(sites, request([("SKU-A", 5)], sellable={"SKU-A": 8}))
    assert shipped(result) == [("LILLE", "SHIP", {"SKU-A": 5})]
    assert result.complete
    assert step(result, "allocation") == []


def test_a_sku_missing_from_sellable_is_not_sourced() -> None:
    sites = [site(3, "LILLE", LILLE, FULL)]
    result = plan(sites, request(BASKET, sellable={"SKU-A": 1}))
    assert shipped(result) == [("LILLE", "SHIP", {"SKU-A": 1})]
    assert result.unallocated == {"SKU-B": 2}


def test_repeated_lines_of_one_sku_are_summed() -> None:
    sites = [site(3, "LILLE", LILLE, {"SKU-A": 10})]
    result = plan(sites, request([("SKU-A", 2), ("SKU-A", 3)], sellable={"SKU-A": 4}))
    assert shipped(result) == [("LILLE", "SHIP", {"SKU-A": 4})]
    assert result.unallocated == {"SKU-A": 1}


# --- pickup ----------------------------------------------------------------------------

STORE_ID = 10


def paris_store(stock: Mapping[str, int], **kw: Any) -> Site:
    return site(
        STORE_ID,
        "PARIS-STORE",
        PARIS,
        stock,
        can_ship=False,
        can_pickup=True,
        handling_days=0,
        cutoff_hour=18,
        **kw,
    )


def test_pickup_at_a_store_with_the_whole_basket_is_one_pickup_shipment() -> None:
    sites = [paris_store(FULL), site(3, "LILLE", LILLE, FULL)]
    result = plan(
        sites,
        request(BASKET, method="PICKUP", pickup_location_id=STORE_ID, preference=CONSOLIDATE),
    )
    assert shipped(result) == [("PARIS-STORE", "PICKUP", {"SKU-A": 1, "SKU-B": 2})]
    assert result.complete
    (pickup,) = result.shipments
    assert pickup.ship_by is None
    # 11:00 Paris on Tuesday, handling 0, before cut-off 18 -> ready 13:00
    assert pickup.deliver_by == paris_time(6, 9, 13)
    (note,) = step(result, "pickup")
    assert note["location"] == "PARIS-STORE"
    assert note["whole basket"] is True


def test_pickup_missing_a_line_with_consolidate_leaves_the_rest_unallocated() -> None:
    sites = [paris_store({"SKU-A": 5}), site(3, "LILLE", LILLE, FULL)]
    result = plan(
        sites,
        request(BASKET, method="PICKUP", pickup_location_id=STORE_ID, preference=CONSOLIDATE),
    )
    assert shipped(result) == [("PARIS-STORE", "PICKUP", {"SKU-A": 1})]
    assert result.unallocated == {"SKU-B": 2}
    (note,) = step(result, "pickup")
    assert note["whole basket"] is False


def test_pickup_missing_a_line_with_fastest_ships_the_rest_from_elsewhere() -> None:
    sites = [paris_store({"SKU-A": 5}), site(3, "LILLE", LILLE, FULL)]
    result = plan(
        sites,
        request(BASKET, method="PICKUP", pickup_location_id=STORE_ID, preference=FASTEST),
    )
    assert shipped(result) == [
        ("PARIS-STORE", "PICKUP", {"SKU-A": 1}),
        ("LILLE", "SHIP", {"SKU-B": 2}),
    ]
    assert result.complete


def test_pickup_missing_a_line_with_fastest_but_no_destination_leaves_the_rest() -> None:
    sites = [paris_store({"SKU-A": 5}), site(3, "LILLE", LILLE, FULL)]
    result = plan(
        sites,
        request(
            BASKET,
            method="PICKUP",
            pickup_location_id=STORE_ID,
            preference=FASTEST,
            destination=None,
        ),
    )
    assert shipped(result) == [("PARIS-STORE", "PICKUP", {"SKU-A": 1})]
    assert result.unallocated == {"SKU-B": 2}


def test_pickup_plus_shipped_rest_respects_max_splits() -> None:
    # maxSplits is the most shipments one order may be split into: with 1, the pickup
    # is the only shipment and what the store lacks stays unallocated.
    sites = [paris_store({"SKU-A": 5}), site(3, "LILLE", LILLE, FULL)]
    result = plan(
        sites,
        request(
            BASKET,
            method="PICKUP",
            pickup_location_id=STORE_ID,
            preference=FASTEST,
            max_splits=1,
        ),
    )
    assert len(result.shipments) <= 1
    assert shipped(result) == [("PARIS-STORE", "PICKUP", {"SKU-A": 1})]
    assert result.unallocated == {"SKU-B": 2}


def test_pickup_at_a_location_that_cannot_do_click_and_collect_is_unallocated() -> None:
    sites = [site(3, "LILLE", LILLE, FULL, can_pickup=False)]
    result = plan(
        sites, request(BASKET, method="PICKUP", pickup_location_id=3, preference=CONSOLIDATE)
    )
    assert result.shipments == []
    assert result.unallocated == {"SKU-A": 1, "SKU-B": 2}
    assert step(result, "pickup") == [
        {"step": "pickup", "result": "location cannot do click and collect"}
    ]


def test_pickup_at_an_unknown_location_is_unallocated() -> None:
    result = plan(
        [paris_store(FULL)],
        request(BASKET, method="PICKUP", pickup_location_id=999, preference=CONSOLIDATE),
    )
    assert result.shipments == []
    assert result.unallocated == {"SKU-A": 1, "SKU-B": 2}


def test_pickup_after_the_store_cutoff_is_ready_next_working_day_at_ten() -> None:
    late = dt.datetime(2026, 6, 9, 17, 0, tzinfo=dt.UTC)  # 19:00 Paris, after cut-off 18
    req = SourcingRequest(
        lines=BASKET,
        method="PICKUP",
        rules=["DISTANCE"],
        max_splits=3,
        now=late,
        split_preference=CONSOLIDATE,
        pickup_location_id=STORE_ID,
    )
    result = plan([paris_store(FULL)], req)
    assert result.shipments[0].deliver_by == paris_time(6, 10, 10)


# --- locations that cannot ship, no candidates -----------------------------------------


def test_a_location_that_cannot_ship_is_never_used_for_ship() -> None:
    sites = [paris_store(FULL), site(2, "LYON", LYON, FULL)]
    for preference in (CONSOLIDATE, FASTEST):
        result = plan(sites, request(BASKET, preference=preference))
        assert shipped(result) == [("LYON", "SHIP", {"SKU-A": 1, "SKU-B": 2})]
        (candidates,) = step(result, "candidates")
        assert [c["location"] for c in candidates["locations"]] == ["LYON"]


def test_only_non_shipping_stock_leaves_everything_unallocated() -> None:
    result = plan([paris_store(FULL)], request(BASKET))
    assert result.shipments == []
    assert result.unallocated == {"SKU-A": 1, "SKU-B": 2}


def test_no_candidates_leaves_everything_unallocated() -> None:
    result = plan([], request(BASKET))
    assert result.shipments == []
    assert result.unallocated == {"SKU-A": 1, "SKU-B": 2}
    assert not result.complete
    assert result.deliver_by is None
    assert step(result, "plan") == [
        {"step": "plan", "result": "no location can ship any of the basket"}
    ]


def test_locations_without_any_of_the_basket_are_not_candidates() -> None:
    sites = [site(3, "LILLE", LILLE, {"SKU-Z": 100}), site(2, "LYON", LYON, FULL)]
    result = plan(sites, request(BASKET))
    (candidates,) = step(result, "candidates")
    assert [c["location"] for c in candidates["locations"]] == ["LYON"]


# --- determinism and explanation -------------------------------------------------------


def busy_network() -> list[Site]:
    """Seven distinct locations with overlapping stock and equal ranks in places."""
    return [
        site(1, "PARIS", PARIS, {"SKU-B": 5}, handling_days=0, cost_minor=400),
        site(2, "LYON", LYON, {"SKU-A": 1, "SKU-C": 2}, cost_minor=400),
        site(3, "LILLE", LILLE, {"SKU-A": 5}, handling_days=0),
        site(4, "MARSEILLE", MARSEILLE, {"SKU-A": 2, "SKU-B": 3, "SKU-C": 1}),
        site(5, "LYON-2", LYON, {"SKU-B": 1, "SKU-C": 1}, priority=1),
        site(6, "LILLE-2", LILLE, {"SKU-C": 4}, cost_minor=None),
        site(7, "MARSEILLE-2", MARSEILLE, {"SKU-A": 2, "SKU-B": 3}, handling_days=3),
    ]


def test_same_input_gives_the_same_plan() -> None:
    sites = busy_network()
    basket = [("SKU-A", 2), ("SKU-B", 3), ("SKU-C", 1)]
    for preference in (CONSOLIDATE, FASTEST):
        req = request(basket, rules=["DISTANCE", "PRIORITY", "COST"], preference=preference)
        first = plan(sites, req).explanation()
        assert plan(sites, req).explanation() == first


def test_order_of_the_candidate_list_does_not_change_the_plan() -> None:
    sites = busy_network()
    basket = [("SKU-A", 2), ("SKU-B", 3), ("SKU-C", 1)]
    rule_sets = [["COST", "MOST_STOCK"], ["DISTANCE", "PRIORITY"], ["PRIORITY"], []]
    for rules, preference in itertools.product(rule_sets, (CONSOLIDATE, FASTEST)):
        req = request(basket, rules=rules, preference=preference)
        expected = plan(sites, req).explanation()
        shuffled = list(sites)
        random.Random(7).shuffle(shuffled)
        assert plan(shuffled, req).explanation() == expected
        assert plan(list(reversed(sites)), req).explanation() == expected


def test_explanation_has_stable_keys() -> None:
    result = plan(split_or_slow_single(), request(BASKET, preference=CONSOLIDATE))
    explained = result.explanation()
    assert list(explained) == ["preference", "shipments", "unallocated", "steps"]
    assert explained["preference"] == CONSOLIDATE
    assert explained["unallocated"] == {}
    assert explained["shipments"] == [
        {
            "location": "MARSEILLE",
            "method": "SHIP",
            "lines": {"SKU-A": 1, "SKU-B": 2},
            "shipBy": iso(paris_time(6, 10, 14)),
            "deliverBy": iso(paris_time(6, 12, 20)),
            "distanceKm": 660.5,
        }
    ]
    assert [s["step"] for s in explained["steps"]] == ["candidates", "plan"]


def test_explanation_of_a_pickup_has_no_ship_by_nor_distance() -> None:
    result = plan(
        [paris_store(FULL)],
        request(BASKET, method="PICKUP", pickup_location_id=STORE_ID, preference=CONSOLIDATE),
    )
    (shipment,) = result.explanation()["shipments"]
    assert shipment["method"] == "PICKUP"
    assert shipment["shipBy"] is None
    assert shipment["distanceKm"] is None
    assert shipment["deliverBy"] == iso(paris_time(6, 9, 13))


def test_explanation_lists_unallocated_sorted_by_sku() -> None:
    result = plan([], request([("SKU-B", 1), ("SKU-A", 2)]))
    assert list(result.explanation()["unallocated"].items()) == [("SKU-A", 2), ("SKU-B", 1)]


def test_express_service_shortens_the_promise() -> None:
    # Marseille -> Paris 660.5 km: STANDARD 2 days (Friday), EXPRESS 1 day (Thursday)
    sites = [site(4, "MARSEILLE", MARSEILLE, FULL)]
    standard = plan(sites, request(BASKET))
    express = plan(sites, request(BASKET, service_level="EXPRESS"))
    assert standard.deliver_by == paris_time(6, 12, 20)
    assert express.deliver_by == paris_time(6, 11, 20)


# --- ties among plans of as few parcels ------------------------------------------------

PARIS_NORD = (48.98, 2.47)
BORDEAUX = (44.869, -0.554)


def tees_and_a_mug_network() -> list[Site]:
    """Bordeaux holds the most tees but no mug; Paris-Nord has the mug and most of the
    tees; Lille the rest of the tees. Two parcels either way."""
    return [
        site(1, "BORDEAUX", BORDEAUX, {"TEE": 600}, priority=30),
        site(2, "PARIS-NORD", PARIS_NORD, {"TEE": 400, "MUG": 5}, priority=10),
        site(3, "LILLE", LILLE, {"TEE": 200}, priority=20),
    ]


def test_consolidate_breaks_a_tie_of_parcels_by_the_strategys_later_rules() -> None:
    # 500 tees + 1 mug to Paris. Greedy cover starts with Bordeaux (it covers 500) and
    # adds Paris-Nord for the mug: two parcels, Bordeaux 2 days away. Paris-Nord + Lille
    # is two parcels too, nearer, and delivered a day earlier: that is the plan.
    basket = [("TEE", 500), ("MUG", 1)]
    rules = ["FEWEST_PARCELS", "DISTANCE", "PRIORITY", "COST", "MOST_STOCK"]
    result = plan(tees_and_a_mug_network(), request(basket, rules=rules))
    assert result.preference == CONSOLIDATE
    assert shipped(result) == [
        ("PARIS-NORD", "SHIP", {"TEE": 400, "MUG": 1}),
        ("LILLE", "SHIP", {"TEE": 100}),
    ]
    assert result.deliver_by == paris_time(6, 11, 20)
    (decision,) = step(result, "plan")
    assert decision["tieBreak"] == [
        "DISTANCE",
        "PRIORITY",
        "COST",
        "MOST_STOCK",
        "EARLIEST_DELIVERY",
        "DISTANCE",
        "RANK",
    ]
    assert decision["plansCompared"] >= 2


def test_consolidate_ties_without_a_ranking_rule_go_to_the_earliest_delivery() -> None:
    # No ranking rule after FEWEST_PARCELS: the earlier of two two-parcel plans wins.
    basket = [("TEE", 500), ("MUG", 1)]
    result = plan(tees_and_a_mug_network(), request(basket, rules=["FEWEST_PARCELS"]))
    assert locations(result) == {"PARIS-NORD", "LILLE"}
    assert result.deliver_by == paris_time(6, 11, 20)


def test_consolidate_never_trades_a_parcel_for_an_earlier_delivery() -> None:
    # Bordeaux alone has everything (one parcel, Friday): it beats two faster parcels.
    sites = [*tees_and_a_mug_network(), site(4, "BORDEAUX-2", BORDEAUX, {"TEE": 600, "MUG": 1})]
    basket = [("TEE", 500), ("MUG", 1)]
    result = plan(sites, request(basket, rules=["FEWEST_PARCELS", "DISTANCE"]))
    assert shipped(result) == [("BORDEAUX-2", "SHIP", {"TEE": 500, "MUG": 1})]
