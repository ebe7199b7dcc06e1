"""Sourcing as a storefront sees it through fulfillmentOptions and placeOrder, on a
wider network (tests/api/storefront_world.py). The test clock stands at Monday
2026-11-23 09:00 UTC (10:00 in Paris)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.api.storefront_world import add_locations, stock
from tests.fixtures import World, variables
from tests.support import Api

PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


async def test_consolidate_picks_the_nearer_and_earlier_of_two_two_parcel_plans(
    api: Api, world: World
) -> None:
    # Bordeaux holds the most tees but no mug; Paris-Nord the mug and 400 tees; Lille 200
    # tees. Two parcels either way; Paris-Nord + Lille is much nearer to Paris and
    # arrives Wednesday, Bordeaux + Paris-Nord Thursday.
    await add_locations(api, world, ["WH-PARIS-NORD", "WH-LILLE", "WH-BORDEAUX"])
    await stock(api, world.admin, "WH-BORDEAUX", [{"sku": "TEE-BLUE-M", "onHand": 600}])
    await stock(
        api,
        world.admin,
        "WH-PARIS-NORD",
        [{"sku": "TEE-BLUE-M", "onHand": 400}, {"sku": "MUG-STONE", "onHand": 5}],
    )
    await stock(api, world.admin, "WH-LILLE", [{"sku": "TEE-BLUE-M", "onHand": 200}])
    v = variables("FulfillmentOptions")
    v["input"]["items"] = [
        {"sku": "TEE-BLUE-M", "quantity": 500},
        {"sku": "MUG-STONE", "quantity": 1},
    ]
    result = (await api.op("FulfillmentOptions", v, key=world.channel))["fulfillmentOptions"]
    first = result["options"][0]  # the channel's default: FEWEST_PARCELS
    assert first["parcelCount"] == 2
    assert sorted(
        (s["location"]["code"], sorted((x["sku"], x["quantity"]) for x in s["lines"]))
        for s in first["shipments"]
    ) == [
        ("WH-LILLE", [("TEE-BLUE-M", 100)]),
        ("WH-PARIS-NORD", [("MUG-STONE", 1), ("TEE-BLUE-M", 400)]),
    ]
    assert at(first["deliverBy"]) == dt.datetime(2026, 11, 25, 20, tzinfo=PARIS)

    order_vars = variables("PlaceOrder")
    order_vars["input"]["lines"][0]["quantity"] = 500
    order_vars["input"]["splitPreference"] = "CONSOLIDATE"
    placed = (await api.op("PlaceOrder", order_vars, key=world.channel))["placeOrder"]
    assert placed["userErrors"] == []
    assert sorted(s["location"]["code"] for s in placed["order"]["shipments"]) == [
        "WH-LILLE",
        "WH-PARIS-NORD",
    ]
