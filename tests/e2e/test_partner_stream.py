"""A partner follows the events of its locations over graphql-transport-ws, on a real
server process: the orders placed there, its shipments' changes, nothing of others."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.e2e.test_order_journey import gql
from tests.e2e.wsclient import GraphQLWebSocket
from tests.fixtures import World, variables
from tests.support import Api, operation

STREAM = """subscription ($channel: String, $after: Int) {
  orderEvents(channel: $channel, afterSequence: $after) {
    sequence type payload
    order { id }
    shipments { id status location { code } }
  }
}"""


async def stock(api: Api, key: str, location: str, levels: dict[str, int]) -> None:
    data = await api.run(
        """mutation ($input: SetStockLevelsInput!, $key: String!) {
             setStockLevels(input: $input, idempotencyKey: $key) { userErrors { code } } }""",
        {
            "input": {
                "location": location,
                "asOf": "2026-11-23T08:00:00Z",
                "levels": [{"sku": sku, "onHand": n} for sku, n in levels.items()],
            },
            "key": f"stock-{location}",
        },
        key=key,
    )
    assert data["setStockLevels"]["userErrors"] == []


async def place(server: Any, world: World, external_id: str, mugs_only: bool) -> dict[str, Any]:
    v = variables("PlaceOrder")
    v["input"]["externalId"] = external_id
    v["idempotencyKey"] = external_id
    if mugs_only:
        v["input"]["lines"] = [line for line in v["input"]["lines"] if line["sku"] == "MUG-STONE"]
    placed = (await gql(server, "PlaceOrder", v, world.channel))["placeOrder"]
    assert placed["userErrors"] == []
    return placed["order"]  # type: ignore[no-any-return]


async def test_a_partner_follows_the_events_of_its_locations_only(
    api: Api, world: World, start_server: Any
) -> None:
    server = start_server()
    await stock(api, world.partner, "WH-LYON", {"TEE-BLUE-M": 10})
    await stock(api, world.other_partner, "ST-PARIS-11", {"MUG-STONE": 10})
    split = await place(server, world, "STREAM-SPLIT", mugs_only=False)  # Lyon and Paris
    await place(server, world, "STREAM-PARIS", mugs_only=True)  # Paris only
    lyon = next(s for s in split["shipments"] if s["location"]["code"] == "WH-LYON")
    paris = next(s for s in split["shipments"] if s["location"]["code"] == "ST-PARIS-11")
    locations = await api.run("{ locations { id code } }", key=world.admin)
    lyon_id = next(x["id"] for x in locations["locations"] if x["code"] == "WH-LYON")

    async with GraphQLWebSocket(server.ws_url, f"Bearer {world.partner}") as ws:
        await ws.subscribe(STREAM, {"channel": None, "after": 0})
        replayed = await ws.next(within=15)
        await asyncio.sleep(0.3)
        # Paris starts on its part of the split order first: not Lyon's business.
        await gql(server, "StartPicking", {"shipmentId": paris["id"]}, world.other_partner)
        await gql(server, "StartPicking", {"shipmentId": lyon["id"]}, world.partner)
        live = await ws.next(within=15)

    assert replayed["type"] == "next", replayed
    assert replayed["payload"]["data"]["orderEvents"] == {
        "sequence": 1,
        "type": "ORDER_PLACED",
        # Its part of the order: no basket, no money, no other location's shipment.
        "payload": {
            "status": "CONFIRMED",
            "locationIds": [lyon_id],
            "shipments": [
                {
                    "shipmentId": lyon["id"],
                    "locationId": lyon_id,
                    "method": "SHIP",
                    "status": "ALLOCATED",
                }
            ],
        },
        "order": None,
        "shipments": [{"id": lyon["id"], "status": "ALLOCATED", "location": {"code": "WH-LYON"}}],
    }
    # Neither Paris's order nor Paris's picking came: the next event is its own shipment's.
    assert live["type"] == "next", live
    event = live["payload"]["data"]["orderEvents"]
    assert (event["sequence"], event["type"]) == (3, "SHIPMENT_STATUS_CHANGED")
    assert event["payload"]["shipmentId"] == lyon["id"]
    assert event["payload"]["locationId"] == lyon_id
    assert event["shipments"] == [
        {"id": lyon["id"], "status": "PICKING", "location": {"code": "WH-LYON"}}
    ]


async def test_a_partner_may_not_name_a_channel_and_the_admin_document_works_for_it(
    api: Api, world: World, start_server: Any
) -> None:
    server = start_server()
    async with GraphQLWebSocket(server.ws_url, f"Bearer {world.partner}") as ws:
        await ws.subscribe(operation("OrderEvents"), {"channel": "web-fr", "afterSequence": 0})
        message = await ws.next(within=15)
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]

    await stock(api, world.partner, "WH-LYON", {"TEE-BLUE-M": 10, "MUG-STONE": 10})
    order = await place(server, world, "STREAM-DOC", mugs_only=False)
    async with GraphQLWebSocket(server.ws_url, f"Bearer {world.partner}") as ws:
        await ws.subscribe(operation("OrderEvents"), {"channel": None, "afterSequence": 0})
        message = await ws.next(within=15)
    assert message["type"] == "next", message
    event = message["payload"]["data"]["orderEvents"]
    assert (event["type"], event["sequence"], event["order"]) == ("ORDER_PLACED", 1, None)
    assert order["shipments"][0]["location"]["code"] == "WH-LYON"
