"""An explanation shown to a channel reveals only what that channel may know: its own
sellable quantities after its allocation share and buffer, and the plan made for it.
Admins see everything. marketplace-fr sells 50% of WH-LYON's stock, less a buffer of 1."""

from __future__ import annotations

import json
from typing import Any

from tests.api.storefront_world import stock
from tests.fixtures import World, variables
from tests.support import Api

PREVIEW = """query ($input: PlaceOrderInput!) { sourcingPreview(input: $input) {
  shipments { location { code } } explanation } }"""
DECISION = "query ($id: ID!) { order(id: $id) { sourcingDecision } }"
# Words of the network's truth that no channel-facing explanation may contain.
SECRETS = (
    "networkAvailable",
    "afterShare",
    "onHand",
    "reserved",
    "safetyStock",
    "damaged",
    "canServe",
    "costMinor",
    "priority",
    "locationId",
)


def marketplace_basket() -> dict[str, Any]:
    v = variables("FulfillmentOptions")
    v["input"]["channel"] = "marketplace-fr"
    v["input"]["items"] = [{"sku": "TEE-BLUE-M", "quantity": 2}]
    return v


def marketplace_order() -> dict[str, Any]:
    v = variables("PlaceOrder")
    v["input"].update(channel="marketplace-fr", externalId="MKT-1")
    v["input"]["lines"] = v["input"]["lines"][:1]
    v["idempotencyKey"] = "mkt-1"
    return v


def assert_channel_view(explanation: Any) -> None:
    text = json.dumps(explanation)
    for word in SECRETS:
        assert word not in text, word
    assert "970" not in text  # WH-LYON's true available units


async def test_a_marketplace_sees_its_own_sellable_not_the_networks_stock(
    api: Api, world: World
) -> None:
    await stock(
        api, world.partner, "WH-LYON", [{"sku": "TEE-BLUE-M", "onHand": 975, "safetyStock": 5}]
    )
    mine = await api.op("FulfillmentOptions", marketplace_basket(), key=world.other_channel)
    result = mine["fulfillmentOptions"]
    assert result["lines"] == [{"sku": "TEE-BLUE-M", "requested": 2, "available": 484}]
    explanation = result["explanation"]
    assert explanation["view"] == "CHANNEL"
    assert explanation["skus"] == {
        "TEE-BLUE-M": {"requested": 2, "sellable": 484, "excluded": False}
    }
    (candidates,) = [s for s in explanation["shipping"][0]["steps"] if s["step"] == "candidates"]
    assert [sorted(c) for c in candidates["locations"]] == [["deliverBy", "distanceKm", "location"]]
    assert_channel_view(explanation)

    admin = await api.op("FulfillmentOptions", marketplace_basket(), key=world.admin)
    whole = admin["fulfillmentOptions"]["explanation"]
    assert whole["view"] == "ADMIN"
    assert whole["skus"]["TEE-BLUE-M"]["networkAvailable"] == 970
    assert whole["skus"]["TEE-BLUE-M"]["locations"]["WH-LYON"]["onHand"] == 975


async def test_sourcing_preview_and_the_orders_decision_show_a_channel_its_view(
    api: Api, world: World
) -> None:
    await stock(
        api, world.partner, "WH-LYON", [{"sku": "TEE-BLUE-M", "onHand": 975, "safetyStock": 5}]
    )
    preview = await api.run(PREVIEW, marketplace_order(), key=world.other_channel)
    assert preview["sourcingPreview"]["shipments"] == [{"location": {"code": "WH-LYON"}}]
    assert preview["sourcingPreview"]["explanation"]["view"] == "CHANNEL"
    assert_channel_view(preview["sourcingPreview"]["explanation"])
    admin_preview = await api.run(PREVIEW, marketplace_order(), key=world.admin)
    assert "canServe" in json.dumps(admin_preview["sourcingPreview"]["explanation"])

    placed = (await api.op("PlaceOrder", marketplace_order(), key=world.other_channel))[
        "placeOrder"
    ]
    assert placed["userErrors"] == []
    order_id = placed["order"]["id"]
    seen = (await api.run(DECISION, {"id": order_id}, key=world.other_channel))["order"]
    assert seen["sourcingDecision"]["view"] == "CHANNEL"
    assert [s["location"] for s in seen["sourcingDecision"]["shipments"]] == ["WH-LYON"]
    assert_channel_view(seen["sourcingDecision"])
    whole = (await api.run(DECISION, {"id": order_id}, key=world.admin))["order"]
    assert whole["sourcingDecision"]["view"] == "ADMIN"
    assert "canServe" in json.dumps(whole["sourcingDecision"])
