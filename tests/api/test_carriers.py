"""Carrier keys: a carrier records the tracking events of the parcels handed to it, and
does nothing else."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.api.test_access import error_codes, row_counts
from tests.conftest import Clock
from tests.fixtures import World, variables
from tests.support import Api, operation

VIEWER = "{ viewer { role name carrier locationCodes } }"
SHIPMENT = "query ($id: ID!) { shipment(id: $id) { id status carrier trackingNumber } }"


async def carrier_key(api: Api, world: World, carrier: str = "COLISSIMO") -> str:
    created = await api.op(
        "CreateApiKey",
        {"input": {"name": f"{carrier} TMS", "role": "CARRIER", "carrier": carrier}},
        key=world.admin,
    )
    payload = created["createApiKey"]
    assert payload["userErrors"] == []
    assert payload["apiKey"]["role"] == "CARRIER"
    return str(payload["secret"])


async def shipped(
    api: Api, world: World, external_id: str, carrier: str = "COLISSIMO", number: str = ""
) -> dict[str, Any]:
    """An order whose one shipment left Lyon with `carrier`."""
    await api.run(
        'mutation ($key: String!) { adjustStockBatch(input: {location: "WH-LYON", lines: ['
        '{sku: "MUG-STONE", delta: 5, reason: FOUND}, {sku: "TEE-BLUE-M", delta: 5, reason: FOUND}]},'
        " idempotencyKey: $key) { userErrors { code } } }",
        {"key": f"stock-{external_id}"},
        key=world.admin,
    )
    v = variables("PlaceOrder")
    v["input"]["externalId"] = external_id
    v["idempotencyKey"] = external_id
    order = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]["order"]
    shipment = order["shipments"][0]["id"]
    for name in ("StartPicking", "PackShipment"):
        await api.op(name, {"shipmentId": shipment}, key=world.partner)
    ship = variables("ShipShipment")
    ship["input"].update(
        shipmentId=shipment,
        carrier=carrier,
        trackingNumber=number or f"TRK{external_id.replace('-', '')}",
        service=None,
    )
    data = (await api.op("ShipShipment", ship, key=world.partner))["shipShipment"]
    assert data["userErrors"] == [], data
    return {"order": order, "shipment": shipment, "number": ship["input"]["trackingNumber"]}


def scan(
    event_id: str, number: str | None, status: str = "IN_TRANSIT", **changes: Any
) -> dict[str, Any]:
    """A scan as the TMS sends it: by tracking number (and carrier), or `shipmentId`."""
    v = variables("RecordTrackingEvent")
    v["input"].update(
        {
            "eventId": event_id,
            "status": status,
            "trackingNumber": number,
            "occurredAt": "2026-11-23T09:30:00+01:00",
            **changes,
        }
    )
    return v


async def test_a_carrier_key_is_created_for_one_carrier_and_says_so(api: Api, world: World) -> None:
    secret = await carrier_key(api, world)
    assert await api.run(VIEWER, key=secret) == {
        "viewer": {
            "role": "CARRIER",
            "name": "COLISSIMO TMS",
            "carrier": "COLISSIMO",
            "locationCodes": [],
        }
    }
    listed = await api.run("{ apiKeys { name role carrier locationCodes } }", key=world.admin)
    assert {
        "name": "COLISSIMO TMS",
        "role": "CARRIER",
        "carrier": "COLISSIMO",
        "locationCodes": [],
    } in listed["apiKeys"]


async def test_a_carrier_key_needs_one_known_carrier_and_only_carrier_keys_have_one(
    api: Api, world: World, engine: Any, table_names: list[str]
) -> None:
    rows = await row_counts(engine, table_names)
    cases = [
        ({"role": "CARRIER"}, ("REQUIRED", ["input", "carrier"])),
        ({"role": "CARRIER", "carrier": "PIGEON"}, ("UNKNOWN_CARRIER", ["input", "carrier"])),
        (
            {"role": "PARTNER", "locations": ["WH-LYON"], "carrier": "DPD"},
            ("INVALID", ["input", "carrier"]),
        ),
        (
            {"role": "CARRIER", "carrier": "DPD", "locations": ["WH-LYON"]},
            ("INVALID", ["input", "locations"]),
        ),
    ]
    for sent, expected in cases:
        answer = await api.op("CreateApiKey", {"input": {"name": "x", **sent}}, key=world.admin)
        payload = answer["createApiKey"]
        assert payload["apiKey"] is None and payload["secret"] is None, sent
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [expected], sent
    assert await row_counts(engine, table_names) == rows


async def test_a_carrier_records_the_scans_of_its_parcels_by_tracking_number(
    api: Api, world: World
) -> None:
    secret = await carrier_key(api, world)
    parcel = await shipped(api, world, "CAR-1")
    # The carrier's TMS need not name itself: the key says who it is.
    v = scan("col-1", parcel["number"], carrier=None)

    data = await api.op("RecordTrackingEvent", v, key=secret)

    assert data == {
        "recordTrackingEvent": {
            "shipment": {"id": parcel["shipment"], "status": "IN_TRANSIT"},
            "duplicate": False,
            "userErrors": [],
        }
    }
    again = await api.op("RecordTrackingEvent", v, key=secret)
    assert again["recordTrackingEvent"]["duplicate"] is True
    # By shipment id too; and it reads the parcel it carries.
    by_id = scan(
        "col-2",
        None,
        status="OUT_FOR_DELIVERY",
        shipmentId=parcel["shipment"],
        carrier=None,
        occurredAt="2026-11-23T09:45:00+01:00",
    )
    answer = await api.op("RecordTrackingEvent", by_id, key=secret)
    assert answer["recordTrackingEvent"]["shipment"]["status"] == "OUT_FOR_DELIVERY"
    assert await api.run(SHIPMENT, {"id": parcel["shipment"]}, key=secret) == {
        "shipment": {
            "id": parcel["shipment"],
            "status": "OUT_FOR_DELIVERY",
            "carrier": "COLISSIMO",
            "trackingNumber": parcel["number"],
        }
    }


async def test_a_carrier_cannot_touch_parcels_it_was_not_handed(api: Api, world: World) -> None:
    secret = await carrier_key(api, world)
    dpd = await shipped(api, world, "CAR-DPD", carrier="DPD")
    ours = await shipped(api, world, "CAR-COL")
    v = variables("PlaceOrder")
    v["input"]["externalId"] = "CAR-WAITING"
    v["idempotencyKey"] = "CAR-WAITING"
    await api.run(
        'mutation { adjustStockBatch(input: {location: "WH-LYON", lines: [{sku: "MUG-STONE", delta: 5,'
        ' reason: FOUND}, {sku: "TEE-BLUE-M", delta: 5, reason: FOUND}]}, idempotencyKey: "w")'
        " { userErrors { code } } }",
        key=world.admin,
    )
    waiting = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]["order"]
    not_shipped = waiting["shipments"][0]["id"]
    not_found = [{"code": "NOT_FOUND", "field": ["shipmentId"], "message": "no such shipment"}]

    # Another carrier's parcel, by id or by its number; a parcel not handed to anyone.
    for sent in (
        scan("x-1", None, shipmentId=dpd["shipment"], carrier=None),
        scan("x-2", None, shipmentId=not_shipped, carrier=None),
    ):
        answer = await api.op("RecordTrackingEvent", sent, key=secret)
        assert answer["recordTrackingEvent"]["userErrors"] == not_found
    by_number = await api.op(
        "RecordTrackingEvent", scan("x-3", dpd["number"], carrier=None), key=secret
    )
    assert [e["code"] for e in by_number["recordTrackingEvent"]["userErrors"]] == ["NOT_FOUND"]
    as_other = await api.op(
        "RecordTrackingEvent", scan("x-4", dpd["number"], carrier="DPD"), key=secret
    )
    assert as_other["recordTrackingEvent"]["userErrors"] == [
        {
            "code": "CARRIER_MISMATCH",
            "field": ["input", "carrier"],
            "message": "this key records the events of COLISSIMO only",
        }
    ]
    for id in (dpd["shipment"], not_shipped):
        assert await api.run(SHIPMENT, {"id": id}, key=secret) == {"shipment": None}
        node = await api.run("query ($id: ID!) { node(id: $id) { id } }", {"id": id}, key=secret)
        assert node == {"node": None}

    # Nothing but tracking: no stock, no returns, no shipment lists, no orders.
    refused = {
        "setStockLevels": ("SetStockLevels", variables("SetStockLevels")),
        "receiveReturn": (
            "ReceiveReturn",
            {
                "input": {
                    "orderNumber": ours["order"]["number"],
                    "location": "WH-LYON",
                    "lines": [
                        {
                            "sku": "MUG-STONE",
                            "quantity": 1,
                            "condition": "GOOD",
                            "disposition": "RESTOCK",
                        }
                    ],
                },
                "idempotencyKey": "car-return",
            },
        ),
        "shipments": ("ShipmentsToPrepare", variables("ShipmentsToPrepare")),
        "startPicking": ("StartPicking", {"shipmentId": not_shipped}),
        "adjustStock": ("AdjustStock", variables("AdjustStock")),
    }
    for field, (name, sent) in refused.items():
        response = await api.post(operation(name), sent, key=secret)
        body = response.json()
        assert error_codes(body) == ["FORBIDDEN"], (field, body)
    # The parcel it carries, but not the customer's order behind it.
    response = await api.post(
        "query ($id: ID!) { shipment(id: $id) { id order { number customer { email } } } }",
        {"id": ours["shipment"]},
        key=secret,
    )
    body = response.json()
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == ["shipment", "order"]
    assert body["data"] == {"shipment": None}


async def test_a_scan_dated_ahead_of_the_service_clock_is_refused(
    api: Api, world: World, clock: Clock
) -> None:
    secret = await carrier_key(api, world)
    parcel = await shipped(api, world, "CAR-FUTURE")
    now = clock()
    late_clock = scan(
        "f-1", parcel["number"], occurredAt=(now + dt.timedelta(minutes=6)).isoformat()
    )
    data = await api.op("RecordTrackingEvent", late_clock, key=secret)
    assert data["recordTrackingEvent"] == {
        "shipment": None,
        "duplicate": False,
        "userErrors": [
            {
                "code": "OCCURRED_IN_FUTURE",
                "field": ["input", "occurredAt"],
                "message": "occurredAt 2026-11-23T09:06:00+00:00 is ahead of the service's clock"
                " (2026-11-23T09:00:00+00:00) by more than 5 minutes: check the sender's clock and"
                " time zone",
            }
        ],
    }
    # A partner's TMS is held to the same clock.
    as_partner = await api.op("RecordTrackingEvent", late_clock, key=world.partner)
    assert [e["code"] for e in as_partner["recordTrackingEvent"]["userErrors"]] == [
        "OCCURRED_IN_FUTURE"
    ]
    # Within the allowed skew, it is a scan like any other.
    skewed = scan("f-2", parcel["number"], occurredAt=(now + dt.timedelta(minutes=4)).isoformat())
    ok = await api.op("RecordTrackingEvent", skewed, key=secret)
    assert ok["recordTrackingEvent"]["userErrors"] == []
    assert ok["recordTrackingEvent"]["shipment"]["status"] == "IN_TRANSIT"
    # The refused event was not kept: the same id, dated right, is new.
    fixed = scan(
        "f-1",
        parcel["number"],
        status="OUT_FOR_DELIVERY",
        occurredAt=(now + dt.timedelta(minutes=5)).isoformat(),
    )
    answer = await api.op("RecordTrackingEvent", fixed, key=secret)
    assert answer["recordTrackingEvent"]["duplicate"] is False
    assert answer["recordTrackingEvent"]["shipment"]["status"] == "OUT_FOR_DELIVERY"
