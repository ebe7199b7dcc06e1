"""An order's amounts follow its cancellations, and the Orders report reconciles with
the orders it covers: every figure, summed from the orders' own fields through the API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from tests.api.test_orders import stock, stocked
from tests.api.test_returns import line_of, receive, request
from tests.conftest import Clock
from tests.fixtures import World, variables
from tests.support import Api

AMOUNTS = "subtotal { amount } discount { amount } tax { amount } shipping { amount } total { amount currency }"
ORDER_FIELDS = f"""id number status placedAt currency channel {{ code }} {AMOUNTS}
  originalTotals {{ {AMOUNTS} }}
  sourcingDecision
  lines {{ id sku quantity quantityCancelled unitPrice {{ amount }} discount {{ amount }} tax {{ amount }} }}
  shipments {{ id status shippedAt }}"""
PLACE = f"""mutation ($input: PlaceOrderInput!, $idempotencyKey: String!) {{
  placeOrder(input: $input, idempotencyKey: $idempotencyKey) {{ order {{ {ORDER_FIELDS} }} userErrors {{ code field message }} }} }}"""
CANCEL_LINES = f"""mutation ($input: CancelOrderLinesInput!) {{ cancelOrderLines(input: $input) {{
  order {{ {ORDER_FIELDS} }} userErrors {{ code field message }} }} }}"""
ORDERS = f"""query ($filter: OrderFilter, $after: String) {{ orders(filter: $filter, first: 100, after: $after) {{
  edges {{ node {{ {ORDER_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
NOVEMBER = {"placedAfter": "2026-11-01T00:00:00Z", "placedBefore": "2026-12-01T00:00:00Z"}


def money(amount: str, currency: str | None = None) -> dict[str, str]:
    return {"amount": amount} if currency is None else {"amount": amount, "currency": currency}


def amounts(subtotal: str, discount: str, tax: str, shipping: str, total: str) -> dict[str, Any]:
    return {
        "subtotal": money(subtotal),
        "discount": money(discount),
        "tax": money(tax),
        "shipping": money(shipping),
        "total": money(total, "EUR"),
    }


def line(
    sku: str, quantity: int, price: str, discount: str | None = None, tax: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sku": sku,
        "quantity": quantity,
        "unitPrice": {"amount": price, "currency": "EUR"},
    }
    if discount:
        out["discount"] = {"amount": discount, "currency": "EUR"}
    if tax:
        out["tax"] = {"amount": tax, "currency": "EUR"}
    return out


async def place(
    api: Api, key: str, external_id: str, lines: list[dict[str, Any]], **changes: Any
) -> dict[str, Any]:
    v = variables("PlaceOrder")
    v["input"].update(externalId=external_id, lines=lines, **changes)
    v["idempotencyKey"] = external_id
    data = (await api.run(PLACE, v, key=key))["placeOrder"]
    assert data["userErrors"] == [], data
    return data["order"]  # type: ignore[no-any-return]


async def cancel_lines(
    api: Api, key: str, order: dict[str, Any], cuts: dict[str, int]
) -> dict[str, Any]:
    data = await api.run(
        CANCEL_LINES,
        {
            "input": {
                "orderId": order["id"],
                "lines": [
                    {"orderLineId": line_of(order, s), "quantity": q} for s, q in cuts.items()
                ],
                "reason": "out of stock at the customer's request",
            }
        },
        key=key,
    )
    assert data["cancelOrderLines"]["userErrors"] == [], data
    return data["cancelOrderLines"]["order"]  # type: ignore[no-any-return]


def minor(amount: str) -> int:
    return int(Decimal(amount) * 100)  # every order here is in EUR


def kept_line_amount(order_line: dict[str, Any]) -> int:
    """What the units still ordered of a line pay, from the line's own fields: its amount
    as placed spread over its units to the cent, the leftover cents on the first units,
    cancelled units being the last ones."""
    quantity, kept = (
        order_line["quantity"],
        order_line["quantity"] - order_line["quantityCancelled"],
    )
    paid = minor(order_line["unitPrice"]["amount"]) * quantity - minor(
        order_line["discount"]["amount"]
    )
    return sum(paid // quantity + (1 if unit < paid % quantity else 0) for unit in range(kept))


async def ship_and_deliver(
    api: Api, world: World, clock: Clock, order: dict[str, Any], after: dt.timedelta
) -> None:
    [shipment] = order["shipments"]
    for name in ("StartPicking", "PackShipment"):
        await api.op(name, {"shipmentId": shipment["id"]}, key=world.partner)
    clock.set(Clock.START + after)
    ship = variables("ShipShipment")
    ship["input"].update(shipmentId=shipment["id"], trackingNumber="6A000000TOTALS")
    assert (await api.op("ShipShipment", ship, key=world.partner))["shipShipment"][
        "userErrors"
    ] == []
    track = variables("RecordTrackingEvent")
    track["input"].update(
        eventId="totals-delivered",
        status="DELIVERED",
        occurredAt=(Clock.START + after + dt.timedelta(hours=20)).isoformat(),
        trackingNumber="6A000000TOTALS",
    )
    clock.set(Clock.START + after + dt.timedelta(hours=20))
    delivered = (await api.op("RecordTrackingEvent", track, key=world.partner))[
        "recordTrackingEvent"
    ]
    assert delivered["userErrors"] == []


async def backorders_of_caps(api: Api, world: World) -> None:
    """web-fr backorders; caps have no stock at Lyon but a purchase order on its way."""
    channel = variables("UpsertChannel")
    channel["input"].update(publishTarget=None, allowBackorders=True)
    assert (await api.op("UpsertChannel", channel, key=world.admin))["upsertChannel"][
        "userErrors"
    ] == []
    products = {"input": [{"sku": "CAP-RED", "name": "Red cap", "returnable": True}]}
    assert (await api.op("UpsertProducts", products, key=world.admin))["upsertProducts"][
        "userErrors"
    ] == []
    await stock(api, world.partner, "WH-LYON", [{"sku": "CAP-RED", "onHand": 0}])
    supply = await api.run(
        """mutation ($input: InboundSupplyInput!) { createInboundSupply(input: $input) { userErrors { code } } }""",
        {
            "input": {
                "reference": "PO-CAPS",
                "kind": "PURCHASE_ORDER",
                "location": "WH-LYON",
                "expectedAt": "2026-12-02T09:00:00Z",
                "lines": [{"sku": "CAP-RED", "quantity": 50}],
            }
        },
        key=world.partner,
    )
    assert supply["createInboundSupply"]["userErrors"] == []


async def all_orders(api: Api, world: World) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await api.run(ORDERS, {"filter": NOVEMBER, "after": after}, key=world.admin))[
            "orders"
        ]
        found += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def report_from_orders(orders: list[dict[str, Any]]) -> dict[str, Any]:
    """The Orders report, figure by figure, from nothing but the orders' own fields."""
    by_channel: dict[str, dict[str, Any]] = {}
    quantity = allocated = backordered_lines = live = split = 0
    hours: list[float] = []
    for order in orders:
        channel = by_channel.setdefault(
            order["channel"]["code"], {"orders": 0, "units": 0, "revenue": {}}
        )
        channel["orders"] += 1
        revenue = channel["revenue"].setdefault(order["currency"], Decimal(0))
        if order["status"] != "CANCELLED":
            channel["revenue"][order["currency"]] = revenue + Decimal(order["total"]["amount"])
            live += 1
            shipments = [s for s in order["shipments"] if s["status"] != "CANCELLED"]
            split += len(shipments) > 1
        backordered = (order["sourcingDecision"] or {}).get("backordered") or {}
        for order_line in order["lines"]:
            channel["units"] += order_line["quantity"] - order_line["quantityCancelled"]
            short = (backordered.get(order_line["sku"]) or {}).get("quantity", 0)
            quantity += order_line["quantity"]
            allocated += order_line["quantity"] - short
            backordered_lines += short > 0
        placed = dt.datetime.fromisoformat(order["placedAt"])
        hours += [
            (dt.datetime.fromisoformat(s["shippedAt"]) - placed).total_seconds() / 3600
            for s in order["shipments"]
            if s["status"] != "CANCELLED" and s["shippedAt"]
        ]
    return {
        "byChannel": [
            {
                "channel": code,
                "orders": c["orders"],
                "units": c["units"],
                "revenue": [
                    {"amount": f"{amount:.2f}", "currency": currency}
                    for currency, amount in sorted(c["revenue"].items())
                ],
            }
            for code, c in sorted(by_channel.items())
        ],
        "fillRate": allocated / quantity if quantity else 1.0,
        "splitRate": split / live if live else 0.0,
        "averageHoursToShip": sum(hours) / len(hours) if hours else None,
        "backorderedLines": backordered_lines,
    }


async def test_a_partial_cancellation_takes_its_units_money_off_the_order(
    api: Api, world: World
) -> None:
    await stocked(api, world)
    placed = await place(
        api,
        world.channel,
        "TOT-A",
        [
            line("TEE-BLUE-M", 3, "24.90", "5.00", "12.45"),
            line("MUG-STONE", 1, "12.00", tax="2.00"),
        ],
    )
    as_placed = amounts("86.70", "5.00", "14.45", "4.90", "86.60")
    assert {k: placed[k] for k in as_placed} == as_placed
    assert placed["originalTotals"] == as_placed

    order = await cancel_lines(api, world.channel, placed, {"TEE-BLUE-M": 1})
    # The tee line paid 74.70 - 5.00 = 69.70 for 3 units: 23.24 + 23.23 + 23.23. The two
    # kept pay 46.47 (discount 3.33 of 49.80), with 8.30 of its 12.45 tax.
    assert {k: order[k] for k in as_placed} == amounts("61.80", "3.33", "10.30", "4.90", "63.37")
    assert order["originalTotals"] == as_placed
    assert order["status"] == "CONFIRMED"

    # The rest of it: the order is worth nothing, shipping included; history keeps it.
    order = await cancel_lines(api, world.channel, order, {"TEE-BLUE-M": 2, "MUG-STONE": 1})
    assert order["status"] == "CANCELLED"
    assert {k: order[k] for k in as_placed} == amounts("0.00", "0.00", "0.00", "0.00", "0.00")
    assert order["originalTotals"] == as_placed

    history = await api.run(
        "query ($id: ID!) { order(id: $id) { events { type payload } } }",
        {"id": order["id"]},
        key=world.admin,
    )
    events = history["order"]["events"]
    # The cancelled shipment tells its own change too (its store stops preparing it).
    assert events[-1]["type"] == "SHIPMENT_STATUS_CHANGED"
    payloads = [
        (e["type"], e["payload"].get("total")) for e in events if e["type"].startswith("ORDER_")
    ]
    assert payloads == [
        ("ORDER_PLACED", "86.60"),
        ("ORDER_LINES_CANCELLED", "63.37"),
        ("ORDER_CANCELLED", "0.00"),
    ]


async def test_every_figure_of_the_orders_report_reconciles_with_the_orders(
    api: Api, world: World, clock: Clock
) -> None:
    await stocked(api, world)
    await backorders_of_caps(api, world)

    # Partially cancelled, with a discount and tax whose cents do not split evenly.
    a = await place(
        api,
        world.channel,
        "TOT-A",
        [line("TEE-BLUE-M", 3, "24.90", "5.00", "12.45"), line("MUG-STONE", 1, "12.00")],
    )
    await cancel_lines(api, world.channel, a, {"TEE-BLUE-M": 1})
    # Fully cancelled, whole (cancelOrder) and line by line.
    b = await place(api, world.channel, "TOT-B", variables("PlaceOrder")["input"]["lines"])
    assert (await api.op("CancelOrder", {"orderId": b["id"], "reason": None}, key=world.channel))[
        "cancelOrder"
    ]["userErrors"] == []
    c = await place(api, world.channel, "TOT-C", [line("MUG-STONE", 2, "12.00")])
    await cancel_lines(api, world.channel, c, {"MUG-STONE": 2})
    # Backordered at placement (caps), then one backordered cap cancelled.
    f = await place(
        api, world.channel, "TOT-F", [line("TEE-BLUE-M", 1, "24.90"), line("CAP-RED", 3, "9.99")]
    )
    assert f["status"] == "BACKORDERED"
    await cancel_lines(api, world.channel, f, {"CAP-RED": 1})
    # Another channel, partially cancelled: 29.00 over 3 mugs is 9.67 + 9.67 + 9.66.
    e = await place(
        api,
        world.other_channel,
        "TOT-E",
        [line("MUG-STONE", 3, "10.00", "1.00")],
        channel="marketplace-fr",
        shippingPrice=None,
    )
    e = await cancel_lines(api, world.other_channel, e, {"MUG-STONE": 1})
    assert e["total"] == money("19.34", "EUR")
    # Delivered 5.5 hours after placement, one tee returned and refunded: a refund does
    # not change what the order was sold for.
    d = await place(api, world.channel, "TOT-D", variables("PlaceOrder")["input"]["lines"])
    await ship_and_deliver(api, world, clock, d, dt.timedelta(hours=5, minutes=30))
    token = await world.customer_token(api)
    opened = await request(api, token, d, [("TEE-BLUE-M", 1, "WRONG_SIZE")], "ret-totals")
    assert opened["userErrors"] == []
    received = await receive(
        api, world.partner, d, [("TEE-BLUE-M", 1, "GOOD", "RESTOCK")], "rcv-totals"
    )
    assert received["userErrors"] == []
    refund = variables("RefundReturn")
    refund.update(returnId=opened["return"]["id"], idempotencyKey="refund-totals")
    refunded = (await api.op("RefundReturn", refund, key=world.admin))["refundReturn"]
    assert refunded["refund"]["amount"] == money("24.90", "EUR")

    orders = await all_orders(api, world)
    assert sorted(o["number"] for o in orders) == sorted(x["number"] for x in (a, b, c, d, e, f))
    # Each order's total is what its lines still ordered pay, plus shipping while any
    # unit is still ordered: computed here from the lines' own fields.
    for order in orders:
        kept = sum(x["quantity"] - x["quantityCancelled"] for x in order["lines"])
        lines_paid = sum(kept_line_amount(x) for x in order["lines"])
        shipping = minor(order["originalTotals"]["shipping"]["amount"]) if kept else 0
        assert minor(order["total"]["amount"]) == lines_paid + shipping, order["number"]
        assert minor(order["shipping"]["amount"]) == shipping, order["number"]
    by_number = {o["number"]: o for o in orders}
    assert by_number[d["number"]]["total"] == money("66.70", "EUR")
    assert by_number[b["number"]]["total"] == money("0.00", "EUR")
    assert by_number[b["number"]]["originalTotals"]["total"] == money("66.70", "EUR")

    report = (await api.op("OrdersReport", variables("OrdersReport"), key=world.admin))[
        "ordersReport"
    ]
    expected = report_from_orders(orders)
    assert report["averageHoursToShip"] == pytest.approx(expected.pop("averageHoursToShip"))
    assert report["averageHoursToShip"] == pytest.approx(5.5)
    report.pop("averageHoursToShip")
    assert report["fillRate"] == pytest.approx(expected.pop("fillRate"))
    report.pop("fillRate")
    assert report == expected
    # The figures themselves, so that the reconciliation cannot hold by being empty.
    assert report["byChannel"] == [
        {
            "channel": "marketplace-fr",
            "orders": 1,
            "units": 2,
            "revenue": [{"amount": "19.34", "currency": "EUR"}],
        },
        {
            # A 63.37 (as in the test above) + D 66.70 + F 24.90 + 2 x 9.99 + 4.90 = 179.85
            "channel": "web-fr",
            "orders": 5,
            "units": 3 + 3 + 3,  # A, D and F; B and C are fully cancelled
            "revenue": [{"amount": "179.85", "currency": "EUR"}],
        },
    ]
    assert report["backorderedLines"] == 1
