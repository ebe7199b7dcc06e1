"""Coordinates are validated wherever an input takes them, with typed errors, and a
destination without coordinates is placed by its postal code (or city) for distance
rules, so a Marseille customer is not served from Paris by default."""

from __future__ import annotations

from typing import Any

from tests.api.storefront_world import add_locations, location_input, stock
from tests.api.test_orders import place_vars, reserved, stocked
from tests.fixtures import World, variables
from tests.support import Api

PREVIEW = """query ($input: PlaceOrderInput!) { sourcingPreview(input: $input) {
  shipments { location { code } } explanation } }"""
OPTIONS = """query ($input: FulfillmentOptionsInput!) { fulfillmentOptions(input: $input) {
  options { method shipments { location { code } distanceKm } } explanation } }"""


def codes(errors: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(e["code"], e["field"]) for e in errors]


async def test_locations_with_impossible_coordinates_are_refused(api: Api, world: World) -> None:
    bad = location_input("WH-LILLE", latitude=999.0, longitude=-181.0)
    bad["address"]["latitude"] = 91.0
    bad["address"]["longitude"] = 3.1
    half = location_input("WH-BORDEAUX")
    half["address"]["latitude"] = 44.8
    res = (await api.op("UpsertLocations", {"input": [bad, half]}, key=world.admin))[
        "upsertLocations"
    ]
    assert codes(res["userErrors"]) == [
        ("INVALID_COORDINATES", ["input", 0, "address", "latitude"]),
        ("INVALID_COORDINATES", ["input", 0, "latitude"]),
        ("INVALID_COORDINATES", ["input", 0, "longitude"]),
        ("INVALID_COORDINATES", ["input", 1, "address", "longitude"]),
    ]
    assert res["locations"] in (None, [])


async def test_an_order_with_impossible_coordinates_is_refused_and_reserves_nothing(
    api: Api, world: World
) -> None:
    await stocked(api, world)
    v = place_vars()
    v["input"]["shippingAddress"]["latitude"] = 999
    res = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]
    assert res["order"] is None
    assert codes(res["userErrors"]) == [
        ("INVALID_COORDINATES", ["input", "shippingAddress", "latitude"])
    ]
    half = place_vars(external_id="WEB-2")
    half["input"]["shippingAddress"]["longitude"] = None
    res = (await api.op("PlaceOrder", half, key=world.channel))["placeOrder"]
    assert codes(res["userErrors"]) == [
        ("INVALID_COORDINATES", ["input", "shippingAddress", "longitude"])
    ]
    assert await reserved(api, world, "TEE-BLUE-M") == {"ST-PARIS-11": 0, "WH-LYON": 0}
    preview = await api.post(PREVIEW, {"input": v["input"]}, key=world.channel)
    (error,) = preview.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_COORDINATES"


async def test_a_destination_with_impossible_coordinates_is_a_typed_error(
    api: Api, world: World
) -> None:
    await stocked(api, world)
    v = variables("FulfillmentOptions")
    v["input"]["destination"]["latitude"] = 999
    response = await api.post(OPTIONS, v, key=world.channel)
    (error,) = response.json()["errors"]
    assert error["extensions"] == {
        "code": "INVALID_COORDINATES",
        "field": ["input", "destination", "latitude"],
    }


async def marseille_and_paris(api: Api, world: World) -> None:
    """Paris-Nord and Marseille can both send the mug; Paris-Nord holds more of it, so
    without knowing where the customer is, MOST_STOCK would pick Paris."""
    await add_locations(api, world, ["WH-PARIS-NORD", "WH-MARSEILLE"])
    await stock(api, world.admin, "WH-PARIS-NORD", [{"sku": "MUG-STONE", "onHand": 50}])
    await stock(api, world.admin, "WH-MARSEILLE", [{"sku": "MUG-STONE", "onHand": 10}])


async def test_a_marseille_customer_without_coordinates_is_served_from_marseille(
    api: Api, world: World
) -> None:
    await marseille_and_paris(api, world)
    v = variables("FulfillmentOptions")
    v["input"]["items"] = [{"sku": "MUG-STONE", "quantity": 1}]
    v["input"]["destination"] = {"postalCode": "13001", "city": "Marseille", "countryCode": "FR"}
    result = (await api.run(OPTIONS, v, key=world.channel))["fulfillmentOptions"]
    (ship,) = result["options"]
    assert ship["shipments"][0]["location"] == {"code": "WH-MARSEILLE"}
    assert ship["shipments"][0]["distanceKm"] < 10
    assert result["explanation"]["destination"]["approximated"] == {
        "from": "postalCode",
        "area": "Marseille",
    }
    # By the city alone, where the postal code is not known.
    v["input"]["destination"] = {"postalCode": "?", "city": "Marseille", "countryCode": "FR"}
    by_city = (await api.run(OPTIONS, v, key=world.channel))["fulfillmentOptions"]
    assert by_city["options"][0]["shipments"][0]["location"] == {"code": "WH-MARSEILLE"}
    assert by_city["explanation"]["destination"]["approximated"]["from"] == "city"

    order = place_vars(external_id="WEB-MRS")
    order["input"]["lines"] = [order["input"]["lines"][1]]
    order["input"]["shippingAddress"].update(
        city="Marseille", postalCode="13001", latitude=None, longitude=None
    )
    placed = (await api.op("PlaceOrder", order, key=world.channel))["placeOrder"]
    assert placed["userErrors"] == []
    assert [s["location"]["code"] for s in placed["order"]["shipments"]] == ["WH-MARSEILLE"]
