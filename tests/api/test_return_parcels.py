"""A parcel of returned goods as a warehouse receives it: several open cases of one order
in one parcel, return numbers that cannot be taken for order numbers, and a label a
customer can read."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from domain.returns.numbers import format_return_number, parse_return_number
from tests.api.test_returns import delivered_order, request, stock
from tests.fixtures import World, variables
from tests.support import Api

CASES = """query ($id: ID!) { order(id: $id) { returnStatus returns { id number status
  lines { orderLine { sku } quantity quantityReceived condition disposition } } } }"""
RECEIVE = """mutation ($input: ReceiveReturnInput!, $idempotencyKey: String!) {
  receiveReturn(input: $input, idempotencyKey: $idempotencyKey) {
    return { id number status } returns { id number status lines { orderLine { sku } quantityReceived } }
    userErrors { code field message } } }"""
EVENTS = "query ($id: ID!) { order(id: $id) { events { type payload } } }"


def parcel(
    lines: list[tuple[str, int, str, str]], idem: str, location: str = "WH-LYON", **naming: Any
) -> dict[str, Any]:
    v = variables("ReceiveReturn")
    v["input"].update(
        location=location,
        lines=[{"sku": s, "quantity": q, "condition": c, "disposition": d} for s, q, c, d in lines],
        returnId=None,
        orderNumber=None,
    )
    v["input"].update(naming)
    v["idempotencyKey"] = idem
    return v


async def two_open_cases(api: Api, world: World) -> tuple[dict[str, Any], Any, Any]:
    """A delivered order of 2 tees and a mug, and two approved cases the customer sent
    back in one parcel: one tee (wrong size), then the other tee and the mug (damaged)."""
    order = await delivered_order(api, world)
    token = await world.customer_token(api)
    first = await request(api, token, order, [("TEE-BLUE-M", 1, "WRONG_SIZE")], "case-1")
    second = await request(
        api, token, order, [("TEE-BLUE-M", 1, "DAMAGED"), ("MUG-STONE", 1, "DAMAGED")], "case-2"
    )
    assert first["userErrors"] == [] and second["userErrors"] == []
    return order, first["return"], second["return"]


async def test_one_parcel_fills_two_open_cases_of_an_order_by_its_number(
    api: Api, world: World
) -> None:
    order, first, second = await two_open_cases(api, world)
    tees, mugs = await stock(api, world, "TEE-BLUE-M"), await stock(api, world, "MUG-STONE")

    # The partner's own operation, as it ships: by order number.
    v = parcel(
        [("TEE-BLUE-M", 2, "GOOD", "RESTOCK"), ("MUG-STONE", 1, "DAMAGED", "REPAIR")],
        "rcv-both",
        orderNumber=order["number"],
        returnId=None,
    )
    received = (await api.op("ReceiveReturn", v, key=world.partner))["receiveReturn"]
    assert received["userErrors"] == []
    # `return` is the oldest case the parcel went into.
    assert received["return"]["id"] == first["id"]
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
    cases = (await api.run(CASES, {"id": order["id"]}, key=world.admin))["order"]
    assert cases["returnStatus"] == "RETURNED"
    assert [(c["id"], c["status"]) for c in cases["returns"]] == [
        (first["id"], "RECEIVED"),
        (second["id"], "RECEIVED"),
    ]
    assert cases["returns"][1]["lines"] == [
        {
            "orderLine": {"sku": "TEE-BLUE-M"},
            "quantity": 1,
            "quantityReceived": 1,
            "condition": "GOOD",
            "disposition": "RESTOCK",
        },
        {
            "orderLine": {"sku": "MUG-STONE"},
            "quantity": 1,
            "quantityReceived": 1,
            "condition": "DAMAGED",
            "disposition": "REPAIR",
        },
    ]
    assert await stock(api, world, "TEE-BLUE-M") == {
        **tees,
        "onHand": tees["onHand"] + 2,
        "available": tees["available"] + 2,
    }
    assert await stock(api, world, "MUG-STONE") == {
        **mugs,
        "onHand": mugs["onHand"] + 1,
        "damaged": mugs["damaged"] + 1,
    }
    # One event per case, each with what that case received.
    events = (await api.run(EVENTS, {"id": order["id"]}, key=world.admin))["order"]["events"]
    receipts = [
        (e["payload"]["returnNumber"], e["payload"]["received"])
        for e in events
        if e["type"] == "RETURN_STATUS_CHANGED" and e["payload"]["status"] == "RECEIVED"
    ]
    assert receipts == [
        (
            first["number"],
            [{"sku": "TEE-BLUE-M", "quantity": 1, "condition": "GOOD", "disposition": "RESTOCK"}],
        ),
        (
            second["number"],
            [
                {"sku": "TEE-BLUE-M", "quantity": 1, "condition": "GOOD", "disposition": "RESTOCK"},
                {
                    "sku": "MUG-STONE",
                    "quantity": 1,
                    "condition": "DAMAGED",
                    "disposition": "REPAIR",
                },
            ],
        ),
    ]
    # The same key again: the same answer, nothing received twice.
    again = (await api.op("ReceiveReturn", v, key=world.partner))["receiveReturn"]
    assert again == received
    assert (await stock(api, world, "TEE-BLUE-M"))["onHand"] == tees["onHand"] + 2
    assert (await api.run("{ ledgerDiscrepancies { sku } }", key=world.admin))[
        "ledgerDiscrepancies"
    ] == []


async def test_units_go_to_the_oldest_open_case_first(api: Api, world: World) -> None:
    order, first, second = await two_open_cases(api, world)
    one_tee = await api.run(
        RECEIVE,
        parcel([("TEE-BLUE-M", 1, "GOOD", "RESTOCK")], "rcv-1", orderNumber=order["number"]),
        key=world.partner,
    )
    assert one_tee["receiveReturn"]["userErrors"] == []
    assert [(c["id"], c["status"]) for c in one_tee["receiveReturn"]["returns"]] == [
        (first["id"], "RECEIVED")
    ]
    rest = await api.run(
        RECEIVE,
        parcel(
            [("MUG-STONE", 1, "GOOD", "RESTOCK"), ("TEE-BLUE-M", 1, "GOOD", "RESTOCK")],
            "rcv-2",
            orderNumber=order["number"],
        ),
        key=world.partner,
    )
    assert rest["receiveReturn"]["userErrors"] == []
    assert rest["receiveReturn"]["return"] == {
        "id": second["id"],
        "number": second["number"],
        "status": "RECEIVED",
    }
    nothing_left = await api.run(
        RECEIVE,
        parcel([("TEE-BLUE-M", 1, "GOOD", "RESTOCK")], "rcv-3", orderNumber=order["number"]),
        key=world.partner,
    )
    assert nothing_left["receiveReturn"]["userErrors"] == [
        {
            "code": "NOT_FOUND",
            "field": ["input", "orderNumber"],
            "message": f"no return of order {order['number']} is expected here",
        }
    ]


async def test_unknown_sku_only_for_a_sku_on_no_open_case(
    api: Api, world: World, engine: Any
) -> None:
    order, first, _ = await two_open_cases(api, world)
    before = (await api.run(CASES, {"id": order["id"]}, key=world.admin))["order"]
    refused = await api.run(
        RECEIVE,
        parcel(
            [
                ("MUG-STONE", 1, "GOOD", "RESTOCK"),  # on the second case: fine
                ("CAP-RED", 1, "GOOD", "RESTOCK"),  # on none
                ("TEE-BLUE-M", 3, "GOOD", "RESTOCK"),  # 2 expected over both cases
            ],
            "rcv-bad",
            orderNumber=order["number"],
        ),
        key=world.partner,
    )
    assert refused["receiveReturn"] == {
        "return": None,
        "returns": [],
        "userErrors": [
            {
                "code": "UNKNOWN_SKU",
                "field": ["input", "lines", 1, "sku"],
                "message": f"CAP-RED is not on any open return of order {order['number']} expected here",
            },
            {
                "code": "EXCEEDS_EXPECTED",
                "field": ["input", "lines", 2, "quantity"],
                "message": "TEE-BLUE-M: 2 units are still expected",
            },
        ],
    }
    # Nothing changed.
    assert (await api.run(CASES, {"id": order["id"]}, key=world.admin))["order"] == before
    # By the case, a SKU of the order's other case is not on it.
    by_case = await api.run(
        RECEIVE,
        parcel([("MUG-STONE", 1, "GOOD", "RESTOCK")], "rcv-case", returnId=first["id"]),
        key=world.partner,
    )
    assert by_case["receiveReturn"]["userErrors"] == [
        {
            "code": "UNKNOWN_SKU",
            "field": ["input", "lines", 0, "sku"],
            "message": "MUG-STONE is not on this return",
        }
    ]


async def test_return_numbers_name_their_order_and_cannot_be_taken_for_one(
    api: Api, world: World, engine: Any
) -> None:
    order, first, second = await two_open_cases(api, world)
    assert first["number"] == f"RMA-{order['number']}-1"
    assert second["number"] == f"RMA-{order['number']}-2"
    # Given where an order number is expected, a return number is pointed out, not
    # searched for as an order.
    mistaken = await api.run(
        RECEIVE,
        parcel([("TEE-BLUE-M", 1, "GOOD", "RESTOCK")], "rcv-m", orderNumber=second["number"]),
        key=world.partner,
    )
    assert mistaken["receiveReturn"]["userErrors"] == [
        {
            "code": "INVALID",
            "field": ["input", "orderNumber"],
            "message": f"{second['number']} is a return number: give it as returnNumber",
        }
    ]
    # By the number on the label (as typed: any case, spaces), only that case.
    by_number = await api.run(
        RECEIVE,
        parcel(
            [("TEE-BLUE-M", 1, "GOOD", "RESTOCK")],
            "rcv-n",
            returnNumber=f" {second['number'].lower()} ",
        ),
        key=world.partner,
    )
    assert by_number["receiveReturn"]["userErrors"] == []
    assert [(c["id"], c["status"]) for c in by_number["receiveReturn"]["returns"]] == [
        (second["id"], "APPROVED")  # the mug is still expected
    ]
    # A case numbered before (R<sequence>-<check>) is still found by its number.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE returns SET number = 'R100000-9' WHERE number = :n"),
            {"n": first["number"]},
        )
    legacy = await api.run(
        RECEIVE,
        parcel([("TEE-BLUE-M", 1, "GOOD", "RESTOCK")], "rcv-l", returnNumber="r100000-9"),
        key=world.partner,
    )
    assert legacy["receiveReturn"]["userErrors"] == []
    assert legacy["receiveReturn"]["return"] == {
        "id": first["id"],
        "number": "R100000-9",
        "status": "RECEIVED",
    }
    typo = await api.run(
        RECEIVE,
        parcel([("MUG-STONE", 1, "GOOD", "RESTOCK")], "rcv-t", returnNumber="RMA-100045-5-2"),
        key=world.partner,
    )
    assert typo["receiveReturn"]["userErrors"] == [
        {
            "code": "NOT_FOUND",
            "field": ["input", "returnNumber"],
            "message": "no return 'RMA-100045-5-2'",
        }
    ]
    both = await api.run(
        RECEIVE,
        parcel(
            [("MUG-STONE", 1, "GOOD", "RESTOCK")],
            "rcv-2names",
            returnNumber=second["number"],
            orderNumber=order["number"],
        ),
        key=world.partner,
    )
    assert both["receiveReturn"]["userErrors"][0]["code"] == "INVALID"


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("RMA-100045-4-1", "RMA-100045-4-1"),
        (" rma-100045-4-12 ", "RMA-100045-4-12"),
        ("R100000-9", "R100000-9"),  # the earlier form
        ("r100000-9", "R100000-9"),
        ("RMA-100045-5-1", None),  # the order's check digit is wrong
        ("R100000-8", None),
        ("100045-4", None),  # an order number
        ("RMA-100045-4", None),
        ("RMA-100045-4-0", None),
        ("", None),
    ],
)
def test_return_numbers_are_read_in_both_forms(typed: str, number: str | None) -> None:
    assert parse_return_number(typed) == number


def test_a_return_number_is_its_order_and_its_position() -> None:
    assert format_return_number("100045-4", 3) == "RMA-100045-4-3"
    with pytest.raises(ValueError):
        format_return_number("100045-4", 0)


async def test_the_label_says_the_reason_in_words(api: Api, world: World) -> None:
    order = await delivered_order(api, world)
    token = await world.customer_token(api)
    opened = await request(
        api,
        token,
        order,
        [("TEE-BLUE-M", 1, "WRONG_SIZE"), ("MUG-STONE", 1, "NOT_AS_DESCRIBED")],
        "label-words",
    )
    ret = opened["return"]
    page = await api.http.get(
        f"/returns/{ret['id']}/label.html", headers={"Authorization": f"Bearer {token}"}
    )
    assert page.status_code == 200
    assert f"RMA-{order['number']}-1" in page.text
    assert (
        "<tr><td>Organic tee, blue, M</td><td>TEE-BLUE-M</td><td>1</td><td>Wrong size</td></tr>"
        in page.text
    )
    assert (
        "<tr><td>Stoneware mug</td><td>MUG-STONE</td><td>1</td><td>Not as described</td></tr>"
        in page.text
    )
    assert "WRONG_SIZE" not in page.text and "NOT_AS_DESCRIBED" not in page.text
