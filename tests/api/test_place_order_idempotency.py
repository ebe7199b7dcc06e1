"""placeOrder is idempotent by the channel's externalId as well as by key: the same
request under a new key is the order already placed; other content under a known
externalId is DUPLICATE_EXTERNAL_ID carrying that order."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.test_orders import place_vars, reserved, stock, stocked
from tests.fixtures import World, variables
from tests.support import Api


async def history(api: Api, world: World, order_id: str) -> list[str]:
    data = await api.op("OrderHistory", {"id": order_id}, key=world.admin)
    return [e["type"] for e in data["order"]["events"]]


async def order_count(api: Api, world: World) -> int:
    data = await api.run("{ orders(first: 10) { totalCount } }", key=world.admin)
    return int(data["orders"]["totalCount"])


async def test_same_order_under_a_new_key_answers_the_order_already_placed(
    api: Api, world: World
) -> None:
    await stocked(api, world)
    first = (await api.op("PlaceOrder", variables("PlaceOrder"), key=world.channel))["placeOrder"]
    assert first["userErrors"] == []
    events = await history(api, world, first["order"]["id"])
    # A connector that lost its key (a restart, a new worker) sends the order again.
    again = (await api.op("PlaceOrder", place_vars(key="a-new-key"), key=world.channel))[
        "placeOrder"
    ]
    assert again == first
    assert await order_count(api, world) == 1
    assert await history(api, world, first["order"]["id"]) == events
    assert await reserved(api, world, "TEE-BLUE-M") == {"ST-PARIS-11": 0, "WH-LYON": 2}


async def test_same_order_under_a_new_key_after_it_took_the_last_units(
    api: Api, world: World
) -> None:
    # The first placement reserved the last mug: sourcing the same order again would be
    # INSUFFICIENT_STOCK, but the answer is the order, as the first time.
    await stock(
        api,
        world.partner,
        "WH-LYON",
        [{"sku": "TEE-BLUE-M", "onHand": 2}, {"sku": "MUG-STONE", "onHand": 1}],
    )
    first = (await api.op("PlaceOrder", variables("PlaceOrder"), key=world.channel))["placeOrder"]
    assert first["userErrors"] == []
    again = (await api.op("PlaceOrder", place_vars(key="a-new-key"), key=world.channel))[
        "placeOrder"
    ]
    assert again == first


async def test_other_content_under_a_known_external_id_is_refused_with_that_order(
    api: Api, world: World
) -> None:
    await stocked(api, world)
    first = (await api.op("PlaceOrder", variables("PlaceOrder"), key=world.channel))["placeOrder"]
    events = await history(api, world, first["order"]["id"])
    changed = place_vars(key="another-key")
    changed["input"]["lines"][0]["quantity"] = 3
    dup = (await api.op("PlaceOrder", changed, key=world.channel))["placeOrder"]
    assert [(e["code"], e["field"]) for e in dup["userErrors"]] == [
        ("DUPLICATE_EXTERNAL_ID", ["input", "externalId"])
    ]
    assert first["order"]["number"] in dup["userErrors"][0]["message"]
    # The client finds the order it already has: unchanged, in the payload.
    assert dup["order"] == first["order"]
    assert await order_count(api, world) == 1
    assert await history(api, world, first["order"]["id"]) == events
    assert await reserved(api, world, "TEE-BLUE-M") == {"ST-PARIS-11": 0, "WH-LYON": 2}


async def test_concurrent_same_orders_under_different_keys_give_one_order(
    api: Api, world: World
) -> None:
    await stocked(api, world)
    answers: list[Any] = await asyncio.gather(
        *(api.op("PlaceOrder", place_vars(key=f"k{i}"), key=world.channel) for i in range(12))
    )
    assert {a["placeOrder"]["order"]["id"] for a in answers} == {
        answers[0]["placeOrder"]["order"]["id"]
    }
    assert all(a["placeOrder"]["userErrors"] == [] for a in answers)
    assert await order_count(api, world) == 1
    assert await reserved(api, world, "TEE-BLUE-M") == {"ST-PARIS-11": 0, "WH-LYON": 2}


async def test_another_channel_may_use_the_same_external_id(api: Api, world: World) -> None:
    await stocked(api, world)
    first = (await api.op("PlaceOrder", variables("PlaceOrder"), key=world.channel))["placeOrder"]
    other = place_vars(key="mk-1")
    other["input"]["channel"] = "marketplace-fr"
    placed = (await api.op("PlaceOrder", other, key=world.other_channel))["placeOrder"]
    assert placed["userErrors"] == []
    assert placed["order"]["id"] != first["order"]["id"]
