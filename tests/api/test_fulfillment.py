"""Shipments driven by the partners' own operations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.conftest import Clock
from tests.fixtures import World, variables
from tests.support import Api


async def placed(api: Api, world: World, **changes: Any) -> dict[str, Any]:
    assert (await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner))[
        "setStockLevels"
    ]["userErrors"] == []
    v = variables("PlaceOrder")
    v["input"].update(changes)
    data = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]
    assert data["userErrors"] == [], data
    return data["order"]  # type: ignore[no-any-return]


async def step(api: Api, key: str, name: str, shipment: str) -> dict[str, Any]:
    data = await api.op(name, {"shipmentId": shipment}, key=key)
    return data[name[0].lower() + name[1:]]  # type: ignore[no-any-return]


async def ship(api: Api, key: str, shipment: str, **changes: Any) -> dict[str, Any]:
    v = variables("ShipShipment")
    v["input"].update(shipmentId=shipment, **changes)
    return (await api.op("ShipShipment", v, key=key))["shipShipment"]  # type: ignore[no-any-return]


async def track(
    api: Api, key: str, event_id: str, status: str, at: str, **changes: Any
) -> dict[str, Any]:
    v = variables("RecordTrackingEvent")
    v["input"].update(eventId=event_id, status=status, occurredAt=at, **changes)
    return (await api.op("RecordTrackingEvent", v, key=key))["recordTrackingEvent"]  # type: ignore[no-any-return]


async def levels(api: Api, world: World, sku: str) -> dict[str, int]:
    data = await api.run(
        "query ($sku: String!) { stockLevels(sku: $sku) { location { code } onHand reserved } }",
        {"sku": sku},
        key=world.admin,
    )
    row = next(r for r in data["stockLevels"] if r["location"]["code"] == "WH-LYON")
    return {"onHand": row["onHand"], "reserved": row["reserved"]}


async def test_the_warehouse_prepares_and_ships_as_its_wms_sends_it(api: Api, world: World) -> None:
    order = await placed(api, world)
    work = await api.op("ShipmentsToPrepare", variables("ShipmentsToPrepare"), key=world.partner)
    [edge] = work["shipments"]["edges"]
    shipment = edge["node"]["id"]
    assert edge["node"]["status"] == "ALLOCATED"
    assert edge["node"]["order"] == {"number": order["number"]}
    assert edge["node"]["shippingAddress"] == {
        "name": "Camille Martin",
        "line1": "3 rue Saint-Maur",
        "city": "Paris",
        "postalCode": "75011",
        "countryCode": "FR",
    }
    assert sorted((x["sku"], x["quantity"]) for x in edge["node"]["lines"]) == [
        ("MUG-STONE", 1),
        ("TEE-BLUE-M", 2),
    ]
    assert await step(api, world.partner, "StartPicking", shipment) == {
        "shipment": {"id": shipment, "status": "PICKING"},
        "userErrors": [],
    }
    assert await step(api, world.partner, "PackShipment", shipment) == {
        "shipment": {"id": shipment, "status": "PACKED"},
        "userErrors": [],
    }
    before = await levels(api, world, "TEE-BLUE-M")
    shipped = await ship(api, world.partner, shipment)
    assert shipped == {
        "shipment": {
            "id": shipment,
            "status": "SHIPPED",
            "carrier": "COLISSIMO",
            "service": "HOME_STANDARD",
            "trackingNumber": "6A12345678901",
            "trackingUrl": "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901",
        },
        "userErrors": [],
    }
    after = await levels(api, world, "TEE-BLUE-M")
    assert after == {"onHand": before["onHand"] - 2, "reserved": before["reserved"] - 2}
    # The carrier's event, by carrier and tracking number as a TMS sends it.
    data = await api.op("RecordTrackingEvent", variables("RecordTrackingEvent"), key=world.partner)
    assert data == {
        "recordTrackingEvent": {
            "shipment": {"id": shipment, "status": "IN_TRANSIT"},
            "duplicate": False,
            "userErrors": [],
        }
    }
    again = await api.op("RecordTrackingEvent", variables("RecordTrackingEvent"), key=world.partner)
    assert again["recordTrackingEvent"]["duplicate"] is True
    history = await api.op("OrderHistory", {"id": order["id"]}, key=world.admin)
    assert [e["type"] for e in history["order"]["events"]] == ["ORDER_PLACED"] + [
        "SHIPMENT_STATUS_CHANGED"
    ] * 4
    assert history["order"]["status"] == "SHIPPED"
    assert (await api.run("{ ledgerDiscrepancies { sku } }", key=world.admin))[
        "ledgerDiscrepancies"
    ] == []


async def test_illegal_transitions_name_the_current_status_and_the_allowed_next(
    api: Api, world: World
) -> None:
    order = await placed(api, world)
    shipment = order["shipments"][0]["id"]
    refused = await step(api, world.partner, "PackShipment", shipment)
    assert refused["shipment"] is None
    assert refused["userErrors"] == [
        {
            "code": "INVALID_TRANSITION",
            "field": ["shipmentId"],
            "message": "the shipment is ALLOCATED; it cannot become PACKED. Allowed next: PICKING",
        }
    ]
    shipped = await ship(api, world.partner, shipment)
    assert shipped["userErrors"][0]["code"] == "INVALID_TRANSITION"
    assert (await levels(api, world, "MUG-STONE"))["onHand"] == 36


async def test_a_partner_cannot_act_on_another_locations_shipment(api: Api, world: World) -> None:
    order = await placed(api, world)
    shipment = order["shipments"][0]["id"]
    refused = await step(api, world.other_partner, "StartPicking", shipment)
    assert refused == {
        "shipment": None,
        "userErrors": [
            {"code": "NOT_FOUND", "field": ["shipmentId"], "message": "no such shipment"}
        ],
    }
    work = await api.op(
        "ShipmentsToPrepare", variables("ShipmentsToPrepare"), key=world.other_partner
    )
    assert work["shipments"]["edges"] == []


async def test_late_out_of_order_and_failed_deliveries(
    api: Api, world: World, clock: Clock
) -> None:
    order = await placed(api, world)
    shipment = order["shipments"][0]["id"]
    for name in ("StartPicking", "PackShipment"):
        await step(api, world.partner, name, shipment)
    await ship(api, world.partner, shipment)
    clock.set(dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC))  # the scans are in the past
    assert (await track(api, world.partner, "e2", "OUT_FOR_DELIVERY", "2026-11-24T08:00:00+01:00"))[
        "shipment"
    ]["status"] == "OUT_FOR_DELIVERY"
    # An older scan arrives late: it joins the history, the shipment does not move back.
    late = await track(api, world.partner, "e1", "IN_TRANSIT", "2026-11-23T20:00:00+01:00")
    assert late == {
        "shipment": {"id": shipment, "status": "OUT_FOR_DELIVERY"},
        "duplicate": False,
        "userErrors": [],
    }
    assert (await track(api, world.partner, "e3", "DELIVERY_FAILED", "2026-11-24T12:00:00+01:00"))[
        "shipment"
    ]["status"] == "DELIVERY_FAILED"
    assert (await track(api, world.partner, "e4", "OUT_FOR_DELIVERY", "2026-11-25T08:00:00+01:00"))[
        "shipment"
    ]["status"] == "OUT_FOR_DELIVERY"
    assert (await track(api, world.partner, "e5", "DELIVERED", "2026-11-25T11:00:00+01:00"))[
        "shipment"
    ]["status"] == "DELIVERED"
    after = await track(api, world.partner, "e6", "IN_TRANSIT", "2026-11-25T12:00:00+01:00")
    assert after["shipment"]["status"] == "DELIVERED"
    tracking = await api.run(
        "query ($id: ID!) { order(id: $id) { status lines { quantityDelivered } shipments { trackingEvents { status applied } } } }",
        {"id": order["id"]},
        key=world.channel,
    )
    assert tracking["order"]["status"] == "DELIVERED"
    assert [x["quantityDelivered"] for x in tracking["order"]["lines"]] == [2, 1]
    assert [
        (e["status"], e["applied"]) for e in tracking["order"]["shipments"][0]["trackingEvents"]
    ] == [
        ("IN_TRANSIT", False),
        ("OUT_FOR_DELIVERY", True),
        ("DELIVERY_FAILED", True),
        ("OUT_FOR_DELIVERY", True),
        ("DELIVERED", True),
        ("IN_TRANSIT", False),
    ]


async def test_bad_tracking_events_are_typed_errors(api: Api, world: World) -> None:
    await placed(api, world)
    unknown = await api.op(
        "RecordTrackingEvent", variables("RecordTrackingEvent"), key=world.partner
    )
    assert unknown["recordTrackingEvent"]["userErrors"][0]["code"] == "NOT_FOUND"
    bad = await track(
        api, world.partner, "x", "IN_TRANSIT", "2026-11-23T09:00:00+01:00", carrier="PIGEON"
    )
    assert bad["userErrors"][0]["code"] == "UNKNOWN_CARRIER"
    status = await track(api, world.partner, "y", "PICKING", "2026-11-23T09:00:00+01:00")
    assert status["userErrors"][0]["code"] == "INVALID_STATUS"


async def test_click_and_collect_with_a_pickup_code(api: Api, world: World) -> None:
    await api.op(
        "SetStockLevels",
        {
            **variables("SetStockLevels"),
            "input": {**variables("SetStockLevels")["input"], "location": "ST-PARIS-11"},
        },
        key=world.other_partner,
    )
    order = await placed(
        api,
        world,
        delivery={"method": "PICKUP", "pickupLocation": "ST-PARIS-11"},
        externalId="PICK-1",
    )
    [shipment] = [s["id"] for s in order["shipments"]]
    assert order["shipments"][0]["method"] == "PICKUP"
    await step(api, world.other_partner, "StartPicking", shipment)
    ready = await step(api, world.other_partner, "MarkReadyForPickup", shipment)
    assert ready == {"shipment": {"id": shipment, "status": "READY_FOR_PICKUP"}, "userErrors": []}
    token = await world.customer_token(api)
    tracking = await api.op("OrderTracking", {"id": order["id"]}, key=token)
    code = tracking["order"]["shipments"][0]["pickupCode"]
    assert code and len(code) == 6
    # The store staff never see the code; they type what the customer shows.
    store_view = await api.run(
        "query ($id: ID!) { node(id: $id) { ... on Shipment { pickupCode } } }",
        {"id": shipment},
        key=world.other_partner,
    )
    assert store_view == {"node": {"pickupCode": None}}
    wrong = "000000" if code != "000000" else "111111"
    refused = await api.op(
        "ConfirmPickup", {"shipmentId": shipment, "pickupCode": wrong}, key=world.other_partner
    )
    assert refused["confirmPickup"] == {
        "shipment": None,
        "userErrors": [
            {
                "code": "WRONG_PICKUP_CODE",
                "field": ["pickupCode"],
                "message": "wrong pickup code; 4 attempts left",
            }
        ],
    }
    done = await api.op(
        "ConfirmPickup", {"shipmentId": shipment, "pickupCode": code}, key=world.other_partner
    )
    assert done["confirmPickup"] == {
        "shipment": {"id": shipment, "status": "PICKED_UP"},
        "userErrors": [],
    }
    assert (await api.op("OrderTracking", {"id": order["id"]}, key=token))["order"][
        "status"
    ] == "DELIVERED"


async def test_pickup_codes_lock_after_five_wrong_attempts(api: Api, world: World) -> None:
    await api.op(
        "SetStockLevels",
        {
            **variables("SetStockLevels"),
            "input": {**variables("SetStockLevels")["input"], "location": "ST-PARIS-11"},
        },
        key=world.other_partner,
    )
    order = await placed(
        api,
        world,
        delivery={"method": "PICKUP", "pickupLocation": "ST-PARIS-11"},
        externalId="PICK-2",
    )
    shipment = order["shipments"][0]["id"]
    await step(api, world.other_partner, "StartPicking", shipment)
    await step(api, world.other_partner, "MarkReadyForPickup", shipment)
    codes = []
    for _ in range(6):
        answer = await api.op(
            "ConfirmPickup",
            {"shipmentId": shipment, "pickupCode": "not-it"},
            key=world.other_partner,
        )
        codes.append(answer["confirmPickup"]["userErrors"][0]["code"])
    assert codes == ["WRONG_PICKUP_CODE"] * 5 + ["PICKUP_LOCKED"]


HISTORY = "query ($id: ID!) { order(id: $id) { events { sequence type } } }"


async def history(api: Api, world: World, order: dict[str, Any]) -> list[tuple[int, str]]:
    data = await api.run(HISTORY, {"id": order["id"]}, key=world.admin)
    return [(e["sequence"], e["type"]) for e in data["order"]["events"]]


async def test_a_step_sent_twice_answers_the_shipment_as_it_is_and_writes_nothing(
    api: Api, world: World
) -> None:
    """A WMS that timed out sends the same request again: the state it asks for is the
    state the shipment is in, so that is a success, and nothing is written twice."""
    order = await placed(api, world)
    shipment = order["shipments"][0]["id"]
    for name, status in (("StartPicking", "PICKING"), ("PackShipment", "PACKED")):
        first = await step(api, world.partner, name, shipment)
        events = await history(api, world, order)
        again = await step(api, world.partner, name, shipment)
        assert again == first == {"shipment": {"id": shipment, "status": status}, "userErrors": []}
        assert await history(api, world, order) == events
    first = await ship(api, world.partner, shipment)
    events, stock = await history(api, world, order), await levels(api, world, "TEE-BLUE-M")
    again = await ship(api, world.partner, shipment)
    assert again == first
    assert again["shipment"]["status"] == "SHIPPED"
    assert await history(api, world, order) == events
    assert await levels(api, world, "TEE-BLUE-M") == stock  # the units left once

    # Real conflicts are still refused, and change nothing.
    other_number = await ship(api, world.partner, shipment, trackingNumber="6A99999999999")
    assert other_number == {
        "shipment": None,
        "userErrors": [
            {
                "code": "CONFLICT",
                "field": ["input", "trackingNumber"],
                "message": "the shipment already shipped as COLISSIMO 6A12345678901; it cannot"
                " ship again under another number",
            }
        ],
    }
    other_parcels = await ship(api, world.partner, shipment, parcels=[{"weightGrams": 2000}])
    assert [(e["code"], e["field"]) for e in other_parcels["userErrors"]] == [
        ("CONFLICT", ["input", "parcels"])
    ]
    backwards = await step(api, world.partner, "StartPicking", shipment)
    assert [e["code"] for e in backwards["userErrors"]] == ["INVALID_TRANSITION"]
    assert await history(api, world, order) == events
    assert await levels(api, world, "TEE-BLUE-M") == stock


async def test_a_shipment_the_carrier_already_scanned_still_answers_a_retried_ship(
    api: Api, world: World
) -> None:
    order = await placed(api, world)
    shipment = order["shipments"][0]["id"]
    for name in ("StartPicking", "PackShipment"):
        await step(api, world.partner, name, shipment)
    await ship(api, world.partner, shipment)
    await track(api, world.partner, "s1", "IN_TRANSIT", "2026-11-23T09:30:00+01:00")
    events = await history(api, world, order)
    again = await ship(api, world.partner, shipment)
    assert again["userErrors"] == []
    assert again["shipment"]["status"] == "IN_TRANSIT"
    assert await history(api, world, order) == events


async def test_pickup_steps_sent_twice_keep_the_code_and_write_nothing(
    api: Api, world: World
) -> None:
    await api.op(
        "SetStockLevels",
        {
            **variables("SetStockLevels"),
            "input": {**variables("SetStockLevels")["input"], "location": "ST-PARIS-11"},
        },
        key=world.other_partner,
    )
    order = await placed(
        api,
        world,
        delivery={"method": "PICKUP", "pickupLocation": "ST-PARIS-11"},
        externalId="PICK-RETRY",
    )
    shipment = order["shipments"][0]["id"]
    await step(api, world.other_partner, "StartPicking", shipment)
    await step(api, world.other_partner, "MarkReadyForPickup", shipment)
    token = await world.customer_token(api)
    code = (await api.op("OrderTracking", {"id": order["id"]}, key=token))["order"]["shipments"][0][
        "pickupCode"
    ]
    events = await history(api, world, order)

    again = await step(api, world.other_partner, "MarkReadyForPickup", shipment)
    assert again == {"shipment": {"id": shipment, "status": "READY_FOR_PICKUP"}, "userErrors": []}
    tracking = await api.op("OrderTracking", {"id": order["id"]}, key=token)
    assert tracking["order"]["shipments"][0]["pickupCode"] == code  # the customer's code holds
    assert await history(api, world, order) == events

    confirm = {"shipmentId": shipment, "pickupCode": code}
    first = await api.op("ConfirmPickup", confirm, key=world.other_partner)
    events = await history(api, world, order)
    again = await api.op("ConfirmPickup", confirm, key=world.other_partner)
    assert (
        again
        == first
        == {
            "confirmPickup": {"shipment": {"id": shipment, "status": "PICKED_UP"}, "userErrors": []}
        }
    )
    assert await history(api, world, order) == events
    wrong = "000000" if code != "000000" else "111111"
    other = await api.op(
        "ConfirmPickup", {"shipmentId": shipment, "pickupCode": wrong}, key=world.other_partner
    )
    assert other["confirmPickup"] == {
        "shipment": None,
        "userErrors": [
            {
                "code": "CONFLICT",
                "field": ["pickupCode"],
                "message": "the shipment was already picked up, with another code",
            }
        ],
    }


async def test_cancelling_an_inbound_supply_twice_answers_it_as_it_is(
    api: Api, world: World
) -> None:
    created = await api.run(
        'mutation { createInboundSupply(input: {reference: "PO-RETRY", kind: PURCHASE_ORDER, location: "WH-LYON",'
        ' expectedAt: "2026-12-01T00:00:00Z", lines: [{sku: "MUG-STONE", quantity: 5}]})'
        " { inboundSupply { id } userErrors { code } } }",
        key=world.partner,
    )
    supply = created["createInboundSupply"]["inboundSupply"]["id"]
    cancel = (
        "mutation ($id: ID!) { cancelInboundSupply(id: $id) { inboundSupply { id status }"
        " userErrors { code } } }"
    )
    first = await api.run(cancel, {"id": supply}, key=world.partner)
    again = await api.run(cancel, {"id": supply}, key=world.partner)
    assert (
        again
        == first
        == {
            "cancelInboundSupply": {
                "inboundSupply": {"id": supply, "status": "CANCELLED"},
                "userErrors": [],
            }
        }
    )
