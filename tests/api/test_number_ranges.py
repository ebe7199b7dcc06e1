"""Numbers at their extremes are refused as input errors, never faults.

Every argument and input field that takes a number (Int, Float, Decimal), and every
DateTime, is found in the schema, so one added later is covered without anyone
listing it. Each is sent its extremes by a role allowed to call the field, in a
request built from the types (with the world's codes and ids where a field is named
like one, so the request gets past "not found" to the rules that use the number): the
answer may be data, a userError or a request error with BAD_USER_INPUT, never a 5xx
nor INTERNAL. A Decimal that is not a finite, sane number is refused before anything
runs.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from schema.scalars import MAX_DECIMAL_CHARS
from tests.api.input_positions import (
    NUMBER_SCALARS,
    Position,
    error_codes,
    positions,
    post_raw,
    request,
)
from tests.api.test_access import credentials, world_ids
from tests.api.test_bad_text import key_for
from tests.fixtures import World, variables
from tests.support import Api, AsgiWebSocket, operation

POSITIONS = positions(NUMBER_SCALARS | {"DateTime"}, ("query", "mutation"))

INSANE_DECIMALS = [
    "1e999999",
    "-1e999999",
    "NaN",
    "-sNaN",
    "Infinity",
    "-Infinity",
    "1E-999999",
    "0E+999999",
    "9" * 1000,
    "1" * MAX_DECIMAL_CHARS,
]
EXTREMES: dict[str, list[Any]] = {
    "Int": [2**31 - 1, -(2**31), 0, -1],
    "Float": [1e308, -1e308, 0.0, -1.0, 5e-324],
    "Decimal": [
        *INSANE_DECIMALS,
        "1000000000000",
        "-1000000000000",
        "999999999999.99",
        "-0.01",
        "0",
    ],
    "DateTime": [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59.999999",
        "1970-01-01T00:00:00Z",
    ],
}

# Codes and names the world has, and valid values, by the name of the argument or
# input field (optional fields named so are given too).
TEXT_HINTS = {
    "sku": "MUG-STONE",
    "skus": ["MUG-STONE"],
    "location": "WH-LYON",
    "network": ["WH-LYON"],
    "channel": "web-fr",
    "currency": "EUR",
    "countryCode": "FR",
    "email": "camille@example.com",
    "customerEmail": "camille@example.com",
    "timezone": "Europe/Paris",
    "postalCode": "75011",
    "shippingAddress": {
        "line1": "3 rue Saint-Maur",
        "city": "Paris",
        "postalCode": "75011",
        "countryCode": "FR",
        "latitude": 48.8575,
        "longitude": 2.38,
    },
    "carrier": "COLISSIMO",
    "trackingNumber": "6A12345678901",
    "latitude": 48.8575,  # so that a coordinate under test comes with the other one
    "longitude": 2.38,
}
# Values only one field's arguments should get (elsewhere a field of that name differs).
FIELD_VALUES = {
    "recordTrackingEvent": {"status": "IN_TRANSIT"},
    "completeRepair": {"outcome": "RESTOCK"},
}
# The world's objects (tests/api/test_access.py builds them) a field's ids should name.
FIELD_IDS = {
    "cancelOrderLines": {"orderId": "order", "orderLineId": "order-line"},
    "packShipment": {"shipmentId": "packable"},
    "shipShipment": {"shipmentId": "shippable"},
    "recordTrackingEvent": {"shipmentId": "shipped"},
    "requestReturn": {"orderId": "delivered", "orderLineId": "delivered-line"},
    "receiveReturn": {"returnId": "return-approved"},
    "completeRepair": {"returnId": "return-repairing"},
    "receiveInboundSupply": {"id": "supply"},
}


def test_the_schema_has_number_positions_of_every_kind() -> None:
    found = {p.scalar for p in POSITIONS}
    assert found == {"Int", "Float", "Decimal", "DateTime"}
    assert set(EXTREMES) == found


@pytest.mark.parametrize("position", POSITIONS, ids=lambda p: f"{p}:{p.scalar}")
async def test_a_number_at_its_extremes_is_never_a_fault(
    api: Api, world: World, position: Position
) -> None:
    key = key_for(position.field, await credentials(api, world))
    hints: dict[str, Any] = {**TEXT_HINTS, **FIELD_VALUES.get(position.field, {})}
    if position.field in FIELD_IDS:
        ids = await world_ids(api, world, position.field)
        hints.update({name: ids[which] for name, which in FIELD_IDS[position.field].items()})

    for value in EXTREMES[position.scalar]:
        hints.update(idempotencyKey=uuid.uuid4().hex, externalId=uuid.uuid4().hex[:20])
        document, variables = request(position, value, hints)
        response = await post_raw(api, document, variables, key)
        body = response.json()
        seen = (str(value)[:40], response.status_code, body)
        assert response.status_code < 500, seen
        assert "INTERNAL" not in error_codes(body), seen
        if value in INSANE_DECIMALS:
            assert response.status_code == 400, seen
            [error] = body["errors"]
            assert error["extensions"] == {
                "code": "BAD_USER_INPUT",
                "variable": position.argument,
                "field": position.field_path,
            }, seen
            assert error["message"].startswith(
                f"Variable '${position.argument}' has invalid value"
            ), seen


async def test_a_decimal_written_in_the_document_is_checked_as_well(api: Api, world: World) -> None:
    [position] = [p for p in POSITIONS if str(p) == "placeOrder(input:).lines[0].unitPrice.amount"]
    for value in INSANE_DECIMALS:
        document, variables = request(position, value, TEXT_HINTS, as_literal=True)
        response = await post_raw(api, document, variables, world.channel)
        body = response.json()
        assert response.status_code == 400, body
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["message"].startswith("Decimal must"), body


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 10**30, 1.5, "1"])
async def test_an_int_outside_32_bits_or_not_an_int_is_a_typed_request_error(
    api: Api, world: World, value: Any
) -> None:
    [position] = [p for p in POSITIONS if str(p) == "setStockLevels(input:).levels[0].onHand"]
    document, variables = request(position, value, TEXT_HINTS)
    response = await post_raw(api, document, variables, world.partner)
    body = response.json()
    assert response.status_code == 400, body
    assert [e["extensions"] for e in body["errors"]] == [
        {"code": "BAD_USER_INPUT", "variable": "input", "field": ["input", "levels", 0, "onHand"]}
    ], body


async def test_an_order_whose_total_reaches_a_trillion_is_refused(api: Api, world: World) -> None:
    """Each price is in range, and so is each quantity; their sum is not."""
    v = variables("PlaceOrder")
    for line in v["input"]["lines"]:
        line["quantity"] = 1
        line["unitPrice"]["amount"] = "500000000000.00"
    placed = await api.op("PlaceOrder", v, key=world.channel)
    assert placed["placeOrder"]["order"] is None
    assert placed["placeOrder"]["userErrors"] == [
        {
            "code": "OUT_OF_RANGE",
            "field": ["input", "lines"],
            "message": "the order's total must be below 1,000,000,000,000 EUR",
        }
    ]


async def test_a_destination_off_the_globe_is_refused(api: Api, world: World) -> None:
    v = variables("FulfillmentOptions")
    v["input"]["destination"].update(latitude=1e308, longitude=2.38)
    response = await api.post(operation("FulfillmentOptions"), v, key=world.channel)
    body = response.json()
    assert body["errors"][0]["extensions"] == {
        "code": "INVALID_COORDINATES",
        "field": ["input", "destination", "latitude"],
    }, body


@pytest.mark.parametrize("value", [2**31, "1"])
async def test_a_subscription_variable_of_the_wrong_type_is_a_typed_request_error(
    app: Any, api: Api, world: World, value: Any
) -> None:
    document = "subscription($after: Int) { orderEvents(afterSequence: $after) { sequence } }"
    async with AsgiWebSocket(app) as ws:
        await ws.init({"Authorization": f"Bearer {world.admin}"})
        await ws.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": document, "variables": {"after": value}},
            }
        )
        answer = (await ws.receive())["message"]
    assert answer["type"] == "error", answer
    assert [e["extensions"] for e in answer["payload"]] == [
        {"code": "BAD_USER_INPUT", "variable": "after", "field": ["after"]}
    ]
