"""Availability to promise through the storefront's own operations, against
hand-computed expectations. The test clock stands at Monday 2026-11-23 09:00 UTC
(10:00 in Paris) unless a test moves it."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from tests.conftest import Clock
from tests.fixtures import World, variables
from tests.support import Api

SET = """mutation ($input: SetStockLevelsInput!, $idempotencyKey: String!) {
  setStockLevels(input: $input, idempotencyKey: $idempotencyKey) { userErrors { code field message } } }"""


_counts = itertools.count()


async def stock(api: Api, key: str, location: str, levels: list[dict[str, Any]], tag: str) -> None:
    """A count, each one later than the one before (older counts would be ignored)."""
    as_of = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=next(_counts))
    data = await api.run(
        SET,
        {
            "input": {"location": location, "asOf": as_of.isoformat(), "levels": levels},
            "idempotencyKey": tag,
        },
        key=key,
    )
    assert data["setStockLevels"]["userErrors"] == []


async def stocked(api: Api, world: World) -> None:
    """WH-LYON: TEE 140 (safety 2) and MUG 36; ST-PARIS-11: TEE 3, MUG 0."""
    await stock(
        api, world.partner, "WH-LYON", variables("SetStockLevels")["input"]["levels"], "lyon"
    )
    await stock(
        api,
        world.other_partner,
        "ST-PARIS-11",
        [{"sku": "TEE-BLUE-M", "onHand": 3}, {"sku": "MUG-STONE", "onHand": 0}],
        "paris",
    )


async def test_availability_as_the_storefront_asks(api: Api, world: World) -> None:
    await stocked(api, world)
    data = await api.op("Availability", variables("Availability"), key=world.channel)
    assert data == {
        "availability": [
            {"sku": "TEE-BLUE-M", "available": 141, "status": "IN_STOCK", "nextAvailableAt": None},
            {"sku": "MUG-STONE", "available": 36, "status": "IN_STOCK", "nextAvailableAt": None},
        ]
    }


async def test_share_and_buffer_shape_what_another_channel_may_sell(api: Api, world: World) -> None:
    await stocked(api, world)
    v = {"channel": "marketplace-fr", "skus": ["TEE-BLUE-M", "MUG-STONE"]}
    data = await api.op("Availability", v, key=world.other_channel)
    # network = WH-LYON only; share 50% rounded down, then buffer 1
    assert data["availability"] == [
        {
            "sku": "TEE-BLUE-M",
            "available": 138 * 50 // 100 - 1,
            "status": "IN_STOCK",
            "nextAvailableAt": None,
        },
        {
            "sku": "MUG-STONE",
            "available": 36 * 50 // 100 - 1,
            "status": "IN_STOCK",
            "nextAvailableAt": None,
        },
    ]


async def test_damaged_safety_and_reserved_units_are_not_available(api: Api, world: World) -> None:
    await stock(
        api, world.partner, "WH-LYON", [{"sku": "MUG-STONE", "onHand": 5, "safetyStock": 4}], "s"
    )
    data = await api.op(
        "Availability", {"channel": "web-fr", "skus": ["MUG-STONE"]}, key=world.channel
    )
    assert data["availability"] == [
        {"sku": "MUG-STONE", "available": 1, "status": "LOW_STOCK", "nextAvailableAt": None}
    ]
    await stock(
        api, world.partner, "WH-LYON", [{"sku": "MUG-STONE", "onHand": 3, "safetyStock": 4}], "t"
    )
    # safety stock above on hand: available is 0, never negative
    data = await api.op(
        "Availability", {"channel": "web-fr", "skus": ["MUG-STONE"]}, key=world.channel
    )
    assert data["availability"][0]["available"] == 0
    assert data["availability"][0]["status"] == "OUT_OF_STOCK"


async def test_excluded_sku_is_not_sold_on_that_channel(api: Api, world: World) -> None:
    await stocked(api, world)
    v = variables("UpsertChannel")
    v["input"]["publishTarget"] = None
    v["input"]["allocation"] = {"sharePercent": 100, "buffer": 0, "excludedSkus": ["MUG-STONE"]}
    assert (await api.op("UpsertChannel", v, key=world.admin))["upsertChannel"]["userErrors"] == []
    data = await api.op("Availability", variables("Availability"), key=world.channel)
    assert [(r["sku"], r["available"], r["status"]) for r in data["availability"]] == [
        ("TEE-BLUE-M", 141, "IN_STOCK"),
        ("MUG-STONE", 0, "OUT_OF_STOCK"),
    ]


async def test_short_sku_says_when_inbound_supply_brings_it_back(api: Api, world: World) -> None:
    await stocked(api, world)
    create = """mutation ($input: InboundSupplyInput!) { createInboundSupply(input: $input) {
      inboundSupply { id status lines { sku quantity quantityReceived } } userErrors { code } } }"""
    for ref, when in (("PO-2", "2026-12-04T09:00:00+01:00"), ("PO-1", "2026-11-30T09:00:00+01:00")):
        res = await api.run(
            create,
            {
                "input": {
                    "reference": ref,
                    "kind": "PURCHASE_ORDER",
                    "location": "WH-LYON",
                    "expectedAt": when,
                    "lines": [{"sku": "MUG-STONE", "quantity": 50}],
                }
            },
            key=world.partner,
        )
        assert res["createInboundSupply"]["userErrors"] == []
    adjust = variables("AdjustStock")
    adjust["input"]["delta"] = -36
    assert (await api.op("AdjustStock", adjust, key=world.partner))["adjustStock"][
        "userErrors"
    ] == []
    data = await api.op(
        "Availability", {"channel": "web-fr", "skus": ["MUG-STONE"]}, key=world.channel
    )
    assert data["availability"] == [
        {
            "sku": "MUG-STONE",
            "available": 0,
            "status": "OUT_OF_STOCK",
            "nextAvailableAt": "2026-11-30T08:00:00Z",
        }
    ]
    levels = await api.run(
        '{ stockLevels(sku: "MUG-STONE") { location { code } incoming } }', key=world.admin
    )
    assert {"location": {"code": "WH-LYON"}, "incoming": 100} in levels["stockLevels"]

    b2b = variables("UpsertChannel")
    b2b["input"]["publishTarget"] = None
    b2b["input"]["allowBackorders"] = True
    await api.op("UpsertChannel", b2b, key=world.admin)
    data = await api.op(
        "Availability", {"channel": "web-fr", "skus": ["MUG-STONE"]}, key=world.channel
    )
    assert data["availability"][0]["status"] == "BACKORDERABLE"

    # receiving the first PO brings the units into stock at once
    supply_id = (
        await api.run(
            '{ inboundSupplies(location: "WH-LYON") { id reference } }', key=world.partner
        )
    )["inboundSupplies"][0]
    assert supply_id["reference"] == "PO-1"
    receive = """mutation ($id: ID!, $lines: [InboundSupplyLineInput!]!, $key: String!) {
      receiveInboundSupply(id: $id, lines: $lines, idempotencyKey: $key) { inboundSupply { status } userErrors { code } } }"""
    res = await api.run(
        receive,
        {"id": supply_id["id"], "lines": [{"sku": "MUG-STONE", "quantity": 50}], "key": "rcv-1"},
        key=world.partner,
    )
    assert res["receiveInboundSupply"] == {
        "inboundSupply": {"status": "RECEIVED"},
        "userErrors": [],
    }
    data = await api.op(
        "Availability", {"channel": "web-fr", "skus": ["MUG-STONE"]}, key=world.channel
    )
    assert data["availability"] == [
        {"sku": "MUG-STONE", "available": 50, "status": "IN_STOCK", "nextAvailableAt": None}
    ]


async def test_a_channel_cannot_ask_for_another_channel(api: Api, world: World) -> None:
    response = await api.post(
        "query ($c: String!, $s: [String!]!) { availability(channel: $c, skus: $s) { sku } }",
        {"c": "marketplace-fr", "s": ["MUG-STONE"]},
        key=world.channel,
    )
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNKNOWN_CHANNEL"


async def test_an_unknown_sku_answers_for_itself_and_the_rest_of_the_list_is_shown(
    api: Api, world: World
) -> None:
    # A product list in which one product was deleted: the storefront's own document.
    await stocked(api, world)
    v = {"channel": "web-fr", "skus": ["TEE-BLUE-M", "GONE-SKU", "MUG-STONE", "GONE-SKU"]}
    data = await api.op("Availability", v, key=world.channel)
    assert data == {
        "availability": [
            {"sku": "TEE-BLUE-M", "available": 141, "status": "IN_STOCK", "nextAvailableAt": None},
            {"sku": "GONE-SKU", "available": 0, "status": "UNKNOWN", "nextAvailableAt": None},
            {"sku": "MUG-STONE", "available": 36, "status": "IN_STOCK", "nextAvailableAt": None},
        ]
    }
    only_unknown = await api.op(
        "Availability", {"channel": "web-fr", "skus": ["GONE-SKU"]}, key=world.channel
    )
    assert only_unknown["availability"] == [
        {"sku": "GONE-SKU", "available": 0, "status": "UNKNOWN", "nextAvailableAt": None}
    ]


async def test_a_basket_with_an_unknown_sku_still_gets_its_options(api: Api, world: World) -> None:
    await stocked(api, world)
    v = variables("FulfillmentOptions")
    v["input"]["items"].append({"sku": "GONE-SKU", "quantity": 1})
    result = (await api.op("FulfillmentOptions", v, key=world.channel))["fulfillmentOptions"]
    assert result["lines"] == [
        {"sku": "TEE-BLUE-M", "requested": 2, "available": 141},
        {"sku": "MUG-STONE", "requested": 1, "available": 36},
        {"sku": "GONE-SKU", "requested": 1, "available": 0},
    ]
    (ship,) = result["options"]
    assert ship["complete"] is False
    assert ship["shipments"][0]["location"] == {"code": "WH-LYON"}
    assert result["explanation"]["skus"]["GONE-SKU"] == {
        "unknown": True,
        "requested": 1,
        "sellable": 0,
    }
    statuses = await api.run(
        """query ($input: FulfillmentOptionsInput!) {
          fulfillmentOptions(input: $input) { lines { sku status } } }""",
        v,
        key=world.channel,
    )
    assert statuses["fulfillmentOptions"]["lines"] == [
        {"sku": "TEE-BLUE-M", "status": "IN_STOCK"},
        {"sku": "MUG-STONE", "status": "IN_STOCK"},
        {"sku": "GONE-SKU", "status": "UNKNOWN"},
    ]


async def test_fulfillment_options_as_the_storefront_asks(api: Api, world: World) -> None:
    await stocked(api, world)
    data = await api.op("FulfillmentOptions", variables("FulfillmentOptions"), key=world.channel)
    result = data["fulfillmentOptions"]
    assert result["lines"] == [
        {"sku": "TEE-BLUE-M", "requested": 2, "available": 141},
        {"sku": "MUG-STONE", "requested": 1, "available": 36},
    ]
    # web-fr's rules put FEWEST_PARCELS first: Lyon has the whole basket. Received Monday
    # 10:00 Paris, before Lyon's 14:00 cut-off; one handling day: leaves Tuesday 14:00
    # Paris; ~390 km is 2 working days STANDARD: delivered by Thursday 20:00 Paris.
    assert result["options"] == [
        {
            "method": "SHIP",
            "pickupLocation": None,
            "complete": True,
            "parcelCount": 1,
            "deliverBy": "2026-11-26T19:00:00Z",
            "shipments": [
                {
                    "location": {"code": "WH-LYON"},
                    "lines": [
                        {"sku": "MUG-STONE", "quantity": 1},
                        {"sku": "TEE-BLUE-M", "quantity": 2},
                    ],
                    "shipBy": "2026-11-24T13:00:00Z",
                    "deliverBy": "2026-11-26T19:00:00Z",
                }
            ],
        }
    ]
    explanation = result["explanation"]
    assert explanation["skus"]["MUG-STONE"] == {"requested": 1, "sellable": 36, "excluded": False}
    # Structured data, with a note for people (no Python repr in an answer).
    paris = explanation["pickup"]["ST-PARIS-11"]
    assert paris["offered"] is False and paris["reason"] == "SHORT"
    assert paris["note"] == "cannot serve the whole basket"
    assert all(set(s) == {"sku", "quantity"} and s["quantity"] > 0 for s in paris["short"])
    assert explanation["strategy"]["defaultPreference"] == "CONSOLIDATE"
    # Per-location stock is for operations staff (test_explanation_disclosure.py).
    admin = await api.op("FulfillmentOptions", variables("FulfillmentOptions"), key=world.admin)
    whole = admin["fulfillmentOptions"]["explanation"]
    assert whole["skus"]["MUG-STONE"]["locations"]["ST-PARIS-11"]["available"] == 0


async def test_pickup_only_where_the_whole_basket_is(api: Api, world: World) -> None:
    await stocked(api, world)
    await stock(
        api, world.other_partner, "ST-PARIS-11", [{"sku": "MUG-STONE", "onHand": 1}], "paris-mug"
    )
    data = await api.op("FulfillmentOptions", variables("FulfillmentOptions"), key=world.channel)
    options = data["fulfillmentOptions"]["options"]
    pickup = [o for o in options if o["method"] == "PICKUP"]
    # a store with no handling days, before its 12:00 cut-off: ready two hours later
    assert pickup == [
        {
            "method": "PICKUP",
            "pickupLocation": {"code": "ST-PARIS-11", "name": "Paris Oberkampf store"},
            "complete": True,
            "parcelCount": 1,
            "deliverBy": "2026-11-23T11:00:00Z",
            "shipments": [
                {
                    "location": {"code": "ST-PARIS-11"},
                    "lines": [
                        {"sku": "MUG-STONE", "quantity": 1},
                        {"sku": "TEE-BLUE-M", "quantity": 2},
                    ],
                    "shipBy": None,
                    "deliverBy": "2026-11-23T11:00:00Z",
                }
            ],
        }
    ]
    # Now both locations can serve: consolidated from the store nearby (1 km, same-day
    # dispatch before its 12:00 cut-off, delivered Tuesday) beats Lyon.
    ship = [o for o in options if o["method"] == "SHIP"]
    assert [
        (o["parcelCount"], o["deliverBy"], o["shipments"][0]["location"]["code"]) for o in ship
    ] == [(1, "2026-11-24T19:00:00Z", "ST-PARIS-11")]


async def test_cut_off_before_and_after_the_hour(api: Api, world: World, clock: Clock) -> None:
    await stocked(api, world)
    v = variables("FulfillmentOptions")
    v["input"]["items"] = [{"sku": "MUG-STONE", "quantity": 1}]
    clock.set(dt.datetime(2026, 11, 23, 12, 59, tzinfo=dt.UTC))  # 13:59 in Lyon: before 14:00
    before = (await api.op("FulfillmentOptions", v, key=world.channel))["fulfillmentOptions"][
        "options"
    ][0]
    clock.set(dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.UTC))  # 14:00 in Lyon: after
    after = (await api.op("FulfillmentOptions", v, key=world.channel))["fulfillmentOptions"][
        "options"
    ][0]
    assert before["shipments"][0]["shipBy"] == "2026-11-24T13:00:00Z"
    assert after["shipments"][0]["shipBy"] == "2026-11-25T13:00:00Z"
    assert after["deliverBy"] == "2026-11-27T19:00:00Z"


async def test_express_and_no_destination_change_the_promise(api: Api, world: World) -> None:
    await stocked(api, world)
    v = variables("FulfillmentOptions")
    v["input"]["items"] = [{"sku": "MUG-STONE", "quantity": 1}]
    v["input"]["serviceLevel"] = "EXPRESS"
    express = (await api.op("FulfillmentOptions", v, key=world.channel))["fulfillmentOptions"][
        "options"
    ][0]
    assert express["deliverBy"] == "2026-11-25T19:00:00Z"  # leaves Tuesday, 1 day
    v["input"]["serviceLevel"] = "STANDARD"
    v["input"]["destination"] = None
    unknown = (await api.op("FulfillmentOptions", v, key=world.channel))["fulfillmentOptions"][
        "options"
    ][0]
    assert unknown["deliverBy"] == "2026-11-27T19:00:00Z"  # longest band: 3 days


async def test_basket_larger_than_the_channel_may_sell_is_incomplete(
    api: Api, world: World
) -> None:
    await stocked(api, world)
    v = variables("FulfillmentOptions")
    v["input"]["items"] = [{"sku": "MUG-STONE", "quantity": 40}]
    result = (await api.op("FulfillmentOptions", v, key=world.channel))["fulfillmentOptions"]
    assert result["lines"] == [{"sku": "MUG-STONE", "requested": 40, "available": 36}]
    assert result["options"][0]["complete"] is False
    assert result["options"][0]["shipments"][0]["lines"] == [{"sku": "MUG-STONE", "quantity": 36}]
