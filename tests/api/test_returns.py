"""Returns through the customers', channels' and warehouses' own operations."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from tests.conftest import Clock
from tests.fixtures import World, variables
from tests.support import Api

RETURN_FIELDS = "return { id number status initiatedBy lines { orderLine { id sku } quantity quantityReceived reasonCode condition disposition quantityRestocked quantityInRepair } receivingLocation { code } }"


async def delivered_order(
    api: Api, world: World, external_id: str = "WEB-100045", **changes: Any
) -> dict[str, Any]:
    """An order of 2 tees and a mug from WH-LYON, shipped and delivered."""
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    v = variables("PlaceOrder")
    v["input"]["externalId"] = external_id
    v["input"].update(changes)
    v["idempotencyKey"] = external_id
    order = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]["order"]
    shipment = order["shipments"][0]["id"]
    for name in ("StartPicking", "PackShipment"):
        await api.op(name, {"shipmentId": shipment}, key=world.partner)
    ship = variables("ShipShipment")
    ship["input"].update(shipmentId=shipment, trackingNumber=f"6A{external_id.replace('-', '')}")
    await api.op("ShipShipment", ship, key=world.partner)
    track = variables("RecordTrackingEvent")
    track["input"].update(
        eventId=f"d-{external_id}",
        status="DELIVERED",
        occurredAt="2026-11-23T09:40:00+01:00",
        trackingNumber=ship["input"]["trackingNumber"],
    )
    assert (await api.op("RecordTrackingEvent", track, key=world.partner))["recordTrackingEvent"][
        "userErrors"
    ] == []
    return order


def line_of(order: dict[str, Any], sku: str) -> str:
    return str(next(x["id"] for x in order["lines"] if x["sku"] == sku))


async def request(
    api: Api, key: str, order: dict[str, Any], lines: list[tuple[str, int, str]], idem: str
) -> dict[str, Any]:
    v = {
        "input": {
            "orderId": order["id"],
            "lines": [
                {
                    "orderLineId": line_of(order, sku),
                    "quantity": q,
                    "reasonCode": reason,
                    "reasonNote": None,
                }
                for sku, q, reason in lines
            ],
        },
        "idempotencyKey": idem,
    }
    return (await api.op("RequestReturn", v, key=key))["requestReturn"]  # type: ignore[no-any-return]


async def receive(
    api: Api,
    key: str,
    order: dict[str, Any],
    lines: list[tuple[str, int, str, str]],
    idem: str,
    location: str = "WH-LYON",
) -> dict[str, Any]:
    v = {
        "input": {
            "returnId": None,
            "orderNumber": order["number"],
            "location": location,
            "lines": [
                {"sku": s, "quantity": q, "condition": c, "disposition": d} for s, q, c, d in lines
            ],
        },
        "idempotencyKey": idem,
    }
    return (await api.op("ReceiveReturn", v, key=key))["receiveReturn"]  # type: ignore[no-any-return]


async def stock(api: Api, world: World, sku: str) -> dict[str, int]:
    data = await api.run(
        "query ($sku: String!) { stockLevels(sku: $sku) { location { code } onHand damaged available } }",
        {"sku": sku},
        key=world.admin,
    )
    row = next(r for r in data["stockLevels"] if r["location"]["code"] == "WH-LYON")
    return {k: row[k] for k in ("onHand", "damaged", "available")}


async def test_customer_return_within_policy_is_received_restocked_and_refunded(
    api: Api, world: World
) -> None:
    order = await delivered_order(api, world)
    token = await world.customer_token(api)
    v = variables("RequestReturn")
    v["input"]["orderId"] = order["id"]
    v["input"]["lines"][0]["orderLineId"] = line_of(order, "TEE-BLUE-M")
    opened = (await api.op("RequestReturn", v, key=token))["requestReturn"]
    assert opened["userErrors"] == []
    ret = opened["return"]
    assert ret["status"] == "APPROVED"
    assert ret["initiatedBy"] == "CUSTOMER"
    assert ret["number"].startswith("R")
    assert ret["lines"] == [
        {
            "orderLine": {"id": line_of(order, "TEE-BLUE-M"), "sku": "TEE-BLUE-M"},
            "quantity": 1,
            "reasonCode": "WRONG_SIZE",
            "reasonNote": "Runs small",
        }
    ]
    available_before = await api.op(
        "Availability", {"channel": "web-fr", "skus": ["TEE-BLUE-M"]}, key=world.channel
    )
    stock_before = await stock(api, world, "TEE-BLUE-M")

    v = variables("ReceiveReturn")
    v["input"]["orderNumber"] = order["number"]
    received = (await api.op("ReceiveReturn", v, key=world.partner))["receiveReturn"]
    assert received["userErrors"] == []
    assert received["return"]["status"] == "RECEIVED"
    assert received["return"]["lines"] == [
        {
            "orderLine": {"sku": "TEE-BLUE-M"},
            "quantity": 1,
            "quantityReceived": 1,
            "condition": "GOOD",
            "disposition": "RESTOCK",
        }
    ]
    assert await stock(api, world, "TEE-BLUE-M") == {
        **stock_before,
        "onHand": stock_before["onHand"] + 1,
        "available": stock_before["available"] + 1,
    }
    available_after = await api.op(
        "Availability", {"channel": "web-fr", "skus": ["TEE-BLUE-M"]}, key=world.channel
    )
    assert (
        available_after["availability"][0]["available"]
        == available_before["availability"][0]["available"] + 1
    )

    refund_vars = variables("RefundReturn")
    refund_vars["returnId"] = ret["id"]
    refunded = (await api.op("RefundReturn", refund_vars, key=world.admin))["refundReturn"]
    assert refunded["userErrors"] == []
    assert refunded["refund"]["status"] == "SUCCEEDED"
    assert refunded["refund"]["amount"] == {"amount": "24.90", "currency": "EUR"}
    again = (await api.op("RefundReturn", refund_vars, key=world.admin))["refundReturn"]
    assert again == refunded  # same key: the same refund, replayed
    refund_vars["idempotencyKey"] = "refund-second"
    second = (await api.op("RefundReturn", refund_vars, key=world.admin))["refundReturn"]
    assert second["refund"] is None
    assert second["userErrors"][0]["code"] == "NOTHING_TO_REFUND"
    tracking = await api.op("OrderTracking", {"id": order["id"]}, key=token)
    assert tracking["order"]["returnStatus"] == "PARTIALLY_RETURNED"
    assert (await api.run("{ ledgerDiscrepancies { sku } }", key=world.admin))[
        "ledgerDiscrepancies"
    ] == []


async def test_repair_then_complete_repair(api: Api, world: World) -> None:
    order = await delivered_order(api, world)
    opened = await request(api, world.channel, order, [("MUG-STONE", 1, "DAMAGED")], "r1")
    assert opened["return"]["status"] == "APPROVED"
    before = await stock(api, world, "MUG-STONE")
    got = await receive(api, world.partner, order, [("MUG-STONE", 1, "DAMAGED", "REPAIR")], "rc1")
    assert got["userErrors"] == []
    assert await stock(api, world, "MUG-STONE") == {
        "onHand": before["onHand"] + 1,
        "damaged": 1,
        "available": before["available"],
    }
    mutation = """mutation ($input: CompleteRepairInput!) { completeRepair(input: $input) { return { lines { quantityRestocked quantityInRepair } } userErrors { code } } }"""
    done = await api.run(
        mutation,
        {
            "input": {
                "returnId": opened["return"]["id"],
                "sku": "MUG-STONE",
                "quantity": 1,
                "outcome": "RESTOCK",
            }
        },
        key=world.partner,
    )
    assert done["completeRepair"] == {
        "return": {"lines": [{"quantityRestocked": 1, "quantityInRepair": 0}]},
        "userErrors": [],
    }
    assert await stock(api, world, "MUG-STONE") == {
        "onHand": before["onHand"] + 1,
        "damaged": 0,
        "available": before["available"] + 1,
    }
    twice = await api.run(
        mutation,
        {
            "input": {
                "returnId": opened["return"]["id"],
                "sku": "MUG-STONE",
                "quantity": 1,
                "outcome": "RESTOCK",
            }
        },
        key=world.partner,
    )
    assert twice["completeRepair"]["userErrors"] == [{"code": "OUT_OF_RANGE"}]


async def test_dispose_writes_nothing_back_to_stock(api: Api, world: World) -> None:
    order = await delivered_order(api, world)
    await request(api, world.channel, order, [("TEE-BLUE-M", 2, "DEFECTIVE")], "r1")
    before = await stock(api, world, "TEE-BLUE-M")
    got = await receive(
        api, world.partner, order, [("TEE-BLUE-M", 2, "DEFECTIVE", "DISPOSE")], "rc1"
    )
    assert got["return"]["status"] == "RECEIVED"
    assert await stock(api, world, "TEE-BLUE-M") == before


async def test_a_carrier_return_opens_when_a_parcel_comes_back_undeliverable(
    api: Api, world: World, clock: Clock
) -> None:
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    order = (await api.op("PlaceOrder", variables("PlaceOrder"), key=world.channel))["placeOrder"][
        "order"
    ]
    shipment = order["shipments"][0]["id"]
    for name in ("StartPicking", "PackShipment"):
        await api.op(name, {"shipmentId": shipment}, key=world.partner)
    ship = variables("ShipShipment")
    ship["input"]["shipmentId"] = shipment
    await api.op("ShipShipment", ship, key=world.partner)
    clock.set(dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC))  # the scans are in the past
    for event_id, status, at in (
        ("f1", "DELIVERY_FAILED", "10:00"),
        ("f2", "RETURNED_TO_SENDER", "11:00"),
    ):
        v = variables("RecordTrackingEvent")
        v["input"].update(eventId=event_id, status=status, occurredAt=f"2026-11-24T{at}:00+01:00")
        assert (await api.op("RecordTrackingEvent", v, key=world.partner))["recordTrackingEvent"][
            "userErrors"
        ] == []
    data = await api.run(
        "query ($id: ID!) { order(id: $id) { returnStatus returns { status initiatedBy number lines { reasonCode quantity } receivingLocation { code } } } }",
        {"id": order["id"]},
        key=world.admin,
    )
    [ret] = data["order"]["returns"]
    assert ret["status"] == "APPROVED"
    assert ret["initiatedBy"] == "CARRIER"
    assert ret["receivingLocation"] == {"code": "WH-LYON"}
    assert sorted((x["reasonCode"], x["quantity"]) for x in ret["lines"]) == [
        ("UNDELIVERABLE", 1),
        ("UNDELIVERABLE", 2),
    ]
    assert data["order"]["returnStatus"] == "IN_PROGRESS"
    got = await receive(
        api,
        world.partner,
        order,
        [("TEE-BLUE-M", 2, "NEW", "RESTOCK"), ("MUG-STONE", 1, "NEW", "RESTOCK")],
        "rc",
    )
    assert got["return"]["status"] == "RECEIVED"
    assert (await stock(api, world, "MUG-STONE"))["onHand"] == 36


async def test_partial_returns_twice_on_one_order(api: Api, world: World) -> None:
    order = await delivered_order(api, world)
    token = await world.customer_token(api)
    first = await request(api, token, order, [("TEE-BLUE-M", 1, "WRONG_SIZE")], "p1")
    await receive(api, world.partner, order, [("TEE-BLUE-M", 1, "GOOD", "RESTOCK")], "pr1")
    second = await request(
        api,
        token,
        order,
        [("TEE-BLUE-M", 1, "NO_LONGER_NEEDED"), ("MUG-STONE", 1, "NO_LONGER_NEEDED")],
        "p2",
    )
    assert second["userErrors"] == []
    assert first["return"]["number"] != second["return"]["number"]
    got = await receive(api, world.partner, order, [("TEE-BLUE-M", 1, "GOOD", "RESTOCK")], "pr2")
    assert got["return"]["status"] == "APPROVED"  # the mug has not arrived yet
    got = await receive(api, world.partner, order, [("MUG-STONE", 1, "GOOD", "RESTOCK")], "pr3")
    assert got["return"]["status"] == "RECEIVED"
    more = await request(api, token, order, [("TEE-BLUE-M", 1, "OTHER")], "p3")
    assert more["userErrors"][0]["code"] == "EXCEEDS_RETURNABLE"
    tracking = await api.op("OrderTracking", {"id": order["id"]}, key=token)
    assert tracking["order"]["returnStatus"] == "RETURNED"


async def test_two_simultaneous_returns_of_the_last_unit_only_one_is_accepted(
    api: Api, world: World
) -> None:
    order = await delivered_order(api, world)
    token = await world.customer_token(api)
    answers = await asyncio.gather(
        request(api, token, order, [("MUG-STONE", 1, "WRONG_ITEM")], "race-a"),
        request(api, world.channel, order, [("MUG-STONE", 1, "WRONG_ITEM")], "race-b"),
    )
    accepted = [a for a in answers if a["return"]]
    refused = [a for a in answers if not a["return"]]
    assert len(accepted) == 1 and len(refused) == 1
    assert refused[0]["userErrors"][0]["code"] == "EXCEEDS_RETURNABLE"


async def test_bad_returns_are_refused_and_change_nothing(
    api: Api, world: World, clock: Clock
) -> None:
    order = await delivered_order(api, world)
    token = await world.customer_token(api)
    assert (await request(api, token, order, [("TEE-BLUE-M", 3, "OTHER")], "b1"))["userErrors"][0][
        "code"
    ] == "EXCEEDS_RETURNABLE"
    other = await world.customer_token(api, email="mallory@example.com")
    refused = await request(api, other, order, [("TEE-BLUE-M", 1, "OTHER")], "b2")
    assert refused["userErrors"] == [
        {"code": "NOT_FOUND", "field": ["input", "orderId"], "message": "no such order"}
    ]
    # an undelivered order
    await api.op(
        "SetStockLevels",
        {**variables("SetStockLevels"), "idempotencyKey": "more"},
        key=world.partner,
    )
    v = variables("PlaceOrder")
    v["input"]["externalId"] = "NOT-YET"
    v["idempotencyKey"] = "not-yet"
    pending = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]["order"]
    assert (await request(api, token, pending, [("MUG-STONE", 1, "OTHER")], "b3"))["userErrors"][0][
        "code"
    ] == "NOT_DELIVERED"
    # the mug's window is 14 days, the tee's 30 (variables.json products)
    clock.set(dt.datetime(2026, 12, 10, 9, 0, tzinfo=dt.UTC))
    token = await world.customer_token(api)
    closed = await request(api, token, order, [("MUG-STONE", 1, "OTHER")], "b4")
    assert closed["userErrors"][0]["code"] == "RETURN_WINDOW_CLOSED"
    merchant = await request(api, world.channel, order, [("MUG-STONE", 1, "OTHER")], "b5")
    assert merchant["return"]["status"] == "REQUESTED"  # outside policy: the merchant's case waits
    # receiving at a location that is not the return's
    approve = await api.op("ApproveReturn", {"returnId": merchant["return"]["id"]}, key=world.admin)
    assert approve["approveReturn"]["return"]["status"] == "APPROVED"
    wrong = await receive(
        api,
        world.other_partner,
        order,
        [("MUG-STONE", 1, "GOOD", "RESTOCK")],
        "b6",
        location="ST-PARIS-11",
    )
    assert wrong["userErrors"][0]["code"] == "NOT_FOUND"
    reject_vars = {"returnId": merchant["return"]["id"], "reason": "Outside the return window"}
    rejected = await api.op("RejectReturn", reject_vars, key=world.admin)
    assert rejected["rejectReturn"]["userErrors"][0]["code"] == "INVALID_STATE"  # already approved
    data = await api.run(
        "query ($id: ID!) { order(id: $id) { returns { status } } }",
        {"id": order["id"]},
        key=world.admin,
    )
    assert [r["status"] for r in data["order"]["returns"]] == ["APPROVED"]


async def test_reject_a_requested_return(api: Api, world: World, clock: Clock) -> None:
    order = await delivered_order(api, world)
    clock.set(dt.datetime(2026, 12, 31, 9, 0, tzinfo=dt.UTC))
    opened = await request(api, world.channel, order, [("TEE-BLUE-M", 1, "LATE_DELIVERY")], "late")
    assert opened["return"]["status"] == "REQUESTED"
    v = variables("RejectReturn")
    v["returnId"] = opened["return"]["id"]
    rejected = await api.op("RejectReturn", v, key=world.admin)
    assert rejected == {
        "rejectReturn": {
            "return": {"id": opened["return"]["id"], "status": "REJECTED"},
            "userErrors": [],
        }
    }
    approve = await api.op("ApproveReturn", {"returnId": opened["return"]["id"]}, key=world.admin)
    assert approve["approveReturn"]["userErrors"][0]["code"] == "INVALID_STATE"


async def test_the_customer_prints_a_return_label(api: Api, world: World) -> None:
    order = await delivered_order(api, world)
    token = await world.customer_token(api)
    opened = await request(api, token, order, [("TEE-BLUE-M", 1, "WRONG_SIZE")], "label")
    data = await api.run(
        "query ($id: ID!) { return(id: $id) { number labelUrl } }",
        {"id": opened["return"]["id"]},
        key=token,
    )
    url = data["return"]["labelUrl"]
    page = await api.http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    assert data["return"]["number"] in page.text
    assert "Lyon distribution centre" in page.text and "3 rue Saint-Maur" in page.text
    assert "<svg" in page.text
    other = await world.customer_token(api, email="mallory@example.com")
    assert (
        await api.http.get(url, headers={"Authorization": f"Bearer {other}"})
    ).status_code == 404
    assert (await api.http.get(url)).status_code == 401
