"""Click and collect as a storefront sees it: stores within the channel's pickup radius
of the customer, nearest first, ready within their opening hours. The test clock stands
at Monday 2026-11-23 09:00 UTC (10:00 in Paris)."""

from __future__ import annotations

from typing import Any

from tests.api.storefront_world import add_locations, location_input, stock
from tests.fixtures import World, variables
from tests.support import Api

OPTIONS = """query ($input: FulfillmentOptionsInput!) { fulfillmentOptions(input: $input) {
  options { method distanceKm deliverBy pickupLocation { code } } explanation } }"""
HOURS = """{ locations { code openingHours { day opens closes } } }"""
STORES = ["ST-PARIS-02", "ST-STRASBOURG", "ST-GENEVE", "ST-NICE"]
BASKET = [{"sku": "MUG-STONE", "quantity": 1}]


async def stores_everywhere(api: Api, world: World, **changes: Any) -> None:
    await add_locations(api, world, STORES, **changes)
    for code in ["ST-PARIS-11", *STORES]:
        await stock(api, world.admin, code, [{"sku": "MUG-STONE", "onHand": 5}])


def pickups(result: dict[str, Any]) -> list[tuple[str, float | None]]:
    return [
        (o["pickupLocation"]["code"], o["distanceKm"])
        for o in result["options"]
        if o["method"] == "PICKUP"
    ]


async def set_radius(api: Api, world: World, km: float) -> dict[str, Any]:
    v = variables("UpsertChannel")
    v["input"]["publishTarget"] = None
    v["input"]["network"] = [*v["input"]["network"], *STORES]
    v["input"]["sourcing"]["pickupRadiusKm"] = km
    return (await api.op("UpsertChannel", v, key=world.admin))["upsertChannel"]


async def test_pickup_stores_within_the_radius_nearest_first(api: Api, world: World) -> None:
    await stores_everywhere(api, world)
    v = variables("FulfillmentOptions")
    v["input"]["items"] = BASKET
    result = (await api.run(OPTIONS, v, key=world.channel))["fulfillmentOptions"]
    # The default radius is 50 km: the two Paris stores, the nearer first; Geneva, Nice
    # and Strasbourg are said to be too far.
    assert pickups(result) == [("ST-PARIS-11", 0.8), ("ST-PARIS-02", 3.1)]
    notes = result["explanation"]["pickup"]
    assert notes["ST-GENEVE"]["offered"] is False
    assert notes["ST-GENEVE"]["reason"] == "BEYOND_RADIUS"
    assert notes["ST-GENEVE"]["radiusKm"] == 50
    assert notes["ST-GENEVE"]["distanceKm"] > 50
    assert notes["ST-GENEVE"]["note"].startswith("beyond the channel's 50 km pickup radius")
    assert result["explanation"]["pickupRadiusKm"] == 50

    assert (await set_radius(api, world, 1000))["userErrors"] == []
    wide = (await api.run(OPTIONS, v, key=world.channel))["fulfillmentOptions"]
    assert [code for code, _ in pickups(wide)] == [
        "ST-PARIS-11",
        "ST-PARIS-02",
        "ST-STRASBOURG",
        "ST-GENEVE",
        "ST-NICE",
    ]
    distances = [d for _, d in pickups(wide)]
    assert distances == sorted(distances)
    refused = await set_radius(api, world, 0)
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("OUT_OF_RANGE", ["input", "sourcing", "pickupRadiusKm"])
    ]


async def test_a_pickup_is_ready_within_the_stores_opening_hours(api: Api, world: World) -> None:
    # ST-PARIS-02 is closed on Mondays and opens at 11:00 local time the other days: an
    # order at 10:00 on Monday, ready two hours later by its preparation, is ready when
    # it opens on Tuesday.
    hours = [
        {"day": day, "opens": "11:00", "closes": "19:00"}
        for day in ("TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY")
    ]
    await stores_everywhere(api, world, openingHours=hours)
    v = variables("FulfillmentOptions")
    v["input"]["items"] = BASKET
    result = (await api.run(OPTIONS, v, key=world.channel))["fulfillmentOptions"]
    ready = {
        o["pickupLocation"]["code"]: o["deliverBy"]
        for o in result["options"]
        if o["pickupLocation"]
    }
    assert ready == {
        "ST-PARIS-11": "2026-11-23T11:00:00Z",  # hours not known: 12:00 Paris, as before
        "ST-PARIS-02": "2026-11-24T10:00:00Z",  # Tuesday 11:00 Paris
    }
    listed = await api.run(HOURS, key=world.admin)
    by_code = {n["code"]: n["openingHours"] for n in listed["locations"]}
    assert by_code["ST-PARIS-02"][0] == {"day": "TUESDAY", "opens": "11:00", "closes": "19:00"}
    assert by_code["ST-PARIS-11"] is None


async def test_impossible_opening_hours_are_refused(api: Api, world: World) -> None:
    bad = location_input(
        "ST-NICE",
        openingHours=[
            {"day": "MONDAY", "opens": "25:00", "closes": "19:00"},
            {"day": "TUESDAY", "opens": "19:00", "closes": "10:00"},
            {"day": "WEDNESDAY", "opens": "10:00", "closes": "14:00"},
            {"day": "WEDNESDAY", "opens": "13:00", "closes": "19:00"},
        ],
    )
    res = (await api.op("UpsertLocations", {"input": [bad]}, key=world.admin))["upsertLocations"]
    assert [(e["code"], e["field"]) for e in res["userErrors"]] == [
        ("INVALID_OPENING_HOURS", ["input", 0, "openingHours", 0, "opens"]),
        ("INVALID_OPENING_HOURS", ["input", 0, "openingHours", 1, "closes"]),
        ("INVALID_OPENING_HOURS", ["input", 0, "openingHours", 3, "opens"]),
    ]
