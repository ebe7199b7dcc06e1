"""Backorders on channels that allow them, and B2B orders."""

from __future__ import annotations

from tests.fixtures import World, variables
from tests.support import Api

PLACE = """mutation ($input: PlaceOrderInput!, $idempotencyKey: String!) { placeOrder(input: $input, idempotencyKey: $idempotencyKey) {
  order { id status b2b { company purchaseOrderNumber salesRep } lines { sku quantity quantityAllocated quantityBackordered }
          shipments { status location { code } lines { sku quantity } } }
  userErrors { code field message } } }"""


async def backorder_channel(api: Api, world: World) -> None:
    v = variables("UpsertChannel")
    v["input"]["publishTarget"] = None
    v["input"]["allowBackorders"] = True
    assert (await api.op("UpsertChannel", v, key=world.admin))["upsertChannel"]["userErrors"] == []


async def test_a_short_line_is_backordered_against_inbound_supply(api: Api, world: World) -> None:
    await backorder_channel(api, world)
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)  # 36 mugs
    supply = """mutation ($input: InboundSupplyInput!) { createInboundSupply(input: $input) { userErrors { code } } }"""
    await api.run(
        supply,
        {
            "input": {
                "reference": "PO-77",
                "kind": "PURCHASE_ORDER",
                "location": "WH-LYON",
                "expectedAt": "2026-12-02T09:00:00Z",
                "lines": [{"sku": "MUG-STONE", "quantity": 100}],
            }
        },
        key=world.partner,
    )
    v = variables("PlaceOrder")
    v["input"]["lines"][1]["quantity"] = 40  # 36 on hand, 4 to wait for the PO
    data = (await api.run(PLACE, v, key=world.channel))["placeOrder"]
    assert data["userErrors"] == []
    order = data["order"]
    assert order["status"] == "BACKORDERED"
    mug = next(x for x in order["lines"] if x["sku"] == "MUG-STONE")
    assert mug == {
        "sku": "MUG-STONE",
        "quantity": 40,
        "quantityAllocated": 36,
        "quantityBackordered": 4,
    }
    pending = [s for s in order["shipments"] if s["status"] == "PENDING"]
    assert pending == [
        {
            "status": "PENDING",
            "location": {"code": "WH-LYON"},
            "lines": [{"sku": "MUG-STONE", "quantity": 4}],
        }
    ]


async def test_without_inbound_supply_a_short_line_is_refused_even_on_a_backorder_channel(
    api: Api, world: World
) -> None:
    await backorder_channel(api, world)
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    v = variables("PlaceOrder")
    v["input"]["lines"][1]["quantity"] = 40
    data = (await api.run(PLACE, v, key=world.channel))["placeOrder"]
    assert data["order"] is None
    assert data["userErrors"][0]["code"] == "INSUFFICIENT_STOCK"


async def test_a_b2b_order_carries_its_company_and_purchase_order(api: Api, world: World) -> None:
    channel = variables("UpsertChannel")
    channel["input"].update(code="b2b-fr", name="B2B France", kind="B2B", publishTarget=None)
    assert (await api.op("UpsertChannel", channel, key=world.admin))["upsertChannel"][
        "userErrors"
    ] == []
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    v = variables("PlaceOrder")
    v["input"].update(
        channel="b2b-fr",
        externalId="PO-ACME-1",
        b2b={"company": "ACME SAS", "purchaseOrderNumber": "PO-4411", "salesRep": "Léa"},
    )
    data = (await api.run(PLACE, v, key=world.admin))["placeOrder"]
    assert data["userErrors"] == []
    assert data["order"]["b2b"] == {
        "company": "ACME SAS",
        "purchaseOrderNumber": "PO-4411",
        "salesRep": "Léa",
    }
    v["input"]["externalId"] = "PO-ACME-2"
    v["input"]["b2b"] = None
    v["idempotencyKey"] = "other"
    refused = (await api.run(PLACE, v, key=world.admin))["placeOrder"]
    assert refused["userErrors"][0] == {
        "code": "REQUIRED",
        "field": ["input", "b2b", "company"],
        "message": "a B2B order names its company",
    }
