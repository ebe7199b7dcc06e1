"""What partners' webhook receivers get: every event that concerns their locations
(order events included), only their part of it, with the API's global ids."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.queue import ArqQueue
from jobs.relay import relay_once
from tests.fixtures import World, variables
from tests.jobs.test_webhooks import fetch, location_id, subscribe
from tests.receivers import Receiver, verify_signature
from tests.support import Api

ORDER_TOPICS = ["ORDER_PLACED", "ORDER_CANCELLED", "ORDER_LINES_CANCELLED"]
TOPICS = [*ORDER_TOPICS, "SHIPMENT_STATUS_CHANGED"]
SET = """mutation ($input: SetStockLevelsInput!, $idempotencyKey: String!) {
  setStockLevels(input: $input, idempotencyKey: $idempotencyKey) { userErrors { code } } }"""
CANCEL_LINES = """mutation ($input: CancelOrderLinesInput!) { cancelOrderLines(input: $input) {
  order { status } userErrors { code field message } } }"""


@pytest.fixture(autouse=True)
def relay_only_when_the_test_says(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs the relay itself (see tests/jobs/test_webhooks.py)."""
    hub = app.state.runtime.services.extra.get("event_hub")
    if hub is not None and hasattr(hub, "_relay"):
        monkeypatch.setattr(hub, "_relay", None)


async def stock(api: Api, key: str, location: str, levels: dict[str, int]) -> None:
    data = await api.run(
        SET,
        {
            "input": {
                "location": location,
                "asOf": "2026-11-23T08:00:00Z",
                "levels": [{"sku": sku, "onHand": n} for sku, n in levels.items()],
            },
            "idempotencyKey": f"stock-{location}",
        },
        key=key,
    )
    assert data["setStockLevels"]["userErrors"] == []


async def split_order(api: Api, world: World) -> dict[str, Any]:
    """Tees only in Lyon, mugs only in Paris: one shipment from each."""
    await stock(api, world.partner, "WH-LYON", {"TEE-BLUE-M": 10})
    await stock(api, world.other_partner, "ST-PARIS-11", {"MUG-STONE": 10})
    placed = (await api.op("PlaceOrder", variables("PlaceOrder"), key=world.channel))["placeOrder"]
    assert placed["userErrors"] == []
    order = placed["order"]
    assert sorted(s["location"]["code"] for s in order["shipments"]) == ["ST-PARIS-11", "WH-LYON"]
    return dict(order)


def shipment_at(order: dict[str, Any], code: str) -> str:
    return str(next(s["id"] for s in order["shipments"] if s["location"]["code"] == code))


def line_of(order: dict[str, Any], sku: str) -> str:
    return str(next(x["id"] for x in order["lines"] if x["sku"] == sku))


async def delivered(
    sessionmaker: Any, queue: ArqQueue, run_jobs: Any, receiver: Receiver
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Relay, deliver, and sort what the receiver got by path: (topic, data), in stream
    order (deliveries run concurrently: they may arrive in any order)."""
    await relay_once(sessionmaker, queue)
    await run_jobs()
    got: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for request in sorted(receiver.requests, key=lambda r: r.json()["globalSequence"]):
        body = request.json()
        got.setdefault(request.path, []).append((body["topic"], body["data"]))
    return got


async def test_partners_get_the_order_events_of_their_locations_and_the_cancelled_shipments(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    receiver: Receiver,
) -> None:
    secrets = {
        "/lyon": (await subscribe(api, world.partner, receiver.url("/lyon"), TOPICS))[1],
        "/paris": (await subscribe(api, world.other_partner, receiver.url("/paris"), TOPICS))[1],
        "/ops": (await subscribe(api, world.admin, receiver.url("/ops"), TOPICS))[1],
    }
    order = await split_order(api, world)
    lyon_id = await location_id(api, world, "WH-LYON")
    paris_id = await location_id(api, world, "ST-PARIS-11")
    lyon_shipment, paris_shipment = shipment_at(order, "WH-LYON"), shipment_at(order, "ST-PARIS-11")
    # Lyon's store is picking when the customer cancels.
    picking = await api.op("StartPicking", {"shipmentId": lyon_shipment}, key=world.partner)
    assert picking["startPicking"]["userErrors"] == []
    v = variables("CancelOrder")
    v["orderId"] = order["id"]
    cancelled = await api.op("CancelOrder", v, key=world.channel)
    assert cancelled["cancelOrder"]["userErrors"] == []

    got = await delivered(sessionmaker, queue, run_jobs, receiver)

    assert all(verify_signature(secrets[r.path], r.headers, r.body) for r in receiver.requests)
    assert got["/lyon"] == [
        (
            "ORDER_PLACED",
            {
                "status": "CONFIRMED",
                "locationIds": [lyon_id],
                "shipments": [
                    {
                        "shipmentId": lyon_shipment,
                        "locationId": lyon_id,
                        "method": "SHIP",
                        "status": "ALLOCATED",
                    }
                ],
            },
        ),
        (
            "SHIPMENT_STATUS_CHANGED",
            {
                "shipmentId": lyon_shipment,
                "locationId": lyon_id,
                "method": "SHIP",
                "from": "ALLOCATED",
                "status": "PICKING",
                "orderStatus": "IN_PREPARATION",
            },
        ),
        (
            "ORDER_CANCELLED",
            {
                "status": "CANCELLED",
                "reason": "Customer changed their mind",
                "locationIds": [lyon_id],
                "shipments": [
                    {
                        "shipmentId": lyon_shipment,
                        "locationId": lyon_id,
                        "method": "SHIP",
                        "status": "CANCELLED",
                        "lines": [
                            {
                                "orderLineId": line_of(order, "TEE-BLUE-M"),
                                "sku": "TEE-BLUE-M",
                                "quantity": 2,
                            }
                        ],
                    }
                ],
                "cancelledShipments": [lyon_shipment],
            },
        ),
        # The store stops picking: its shipment's own change.
        (
            "SHIPMENT_STATUS_CHANGED",
            {
                "shipmentId": lyon_shipment,
                "locationId": lyon_id,
                "method": "SHIP",
                "from": "PICKING",
                "status": "CANCELLED",
                "orderStatus": "CANCELLED",
                "reason": "Customer changed their mind",
            },
        ),
    ]
    assert [(topic, data.get("shipmentId"), data.get("from")) for topic, data in got["/paris"]] == [
        ("ORDER_PLACED", None, None),
        ("ORDER_CANCELLED", None, None),
        ("SHIPMENT_STATUS_CHANGED", paris_shipment, "ALLOCATED"),
    ]
    assert got["/paris"][0][1]["locationIds"] == [paris_id]
    assert got["/paris"][1][1]["cancelledShipments"] == [paris_shipment]
    # Operations see the whole order, with the same ids.
    ops = {t: d for t, d in got["/ops"] if t in ORDER_TOPICS}
    assert sorted(ops["ORDER_PLACED"]["locationIds"]) == sorted([lyon_id, paris_id])
    assert ops["ORDER_PLACED"]["total"] == "66.70"
    assert sorted(ops["ORDER_CANCELLED"]["cancelledShipments"]) == sorted(
        [lyon_shipment, paris_shipment]
    )
    assert ops["ORDER_CANCELLED"]["lines"] == {
        line_of(order, "TEE-BLUE-M"): 2,
        line_of(order, "MUG-STONE"): 1,
    }
    assert [t for t, _ in got["/ops"]].count("SHIPMENT_STATUS_CHANGED") == 3
    # The ids are the ones the partner's own API calls take.
    node = await api.run(
        "query ($id: ID!) { node(id: $id) { ... on Shipment { id status location { id } } } }",
        {"id": got["/lyon"][3][1]["shipmentId"]},
        key=world.partner,
    )
    assert node == {
        "node": {"id": lyon_shipment, "status": "CANCELLED", "location": {"id": lyon_id}}
    }


async def test_cancelling_some_lines_tells_the_location_that_loses_them_and_no_other(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    receiver: Receiver,
) -> None:
    await subscribe(api, world.partner, receiver.url("/lyon"), TOPICS)
    await subscribe(api, world.other_partner, receiver.url("/paris"), TOPICS)
    order = await split_order(api, world)
    await relay_once(sessionmaker, None)  # the placement's deliveries are not the point here
    await fetch(sessionmaker, "DELETE FROM webhook_deliveries")
    paris_id = await location_id(api, world, "ST-PARIS-11")
    paris_shipment = shipment_at(order, "ST-PARIS-11")

    data = await api.run(
        CANCEL_LINES,
        {
            "input": {
                "orderId": order["id"],
                "lines": [{"orderLineId": line_of(order, "MUG-STONE"), "quantity": 1}],
            }
        },
        key=world.channel,
    )
    assert data["cancelOrderLines"] == {"order": {"status": "CONFIRMED"}, "userErrors": []}
    got = await delivered(sessionmaker, queue, run_jobs, receiver)

    assert "/lyon" not in got  # its tees ship as planned
    assert got["/paris"] == [
        (
            "ORDER_LINES_CANCELLED",
            {
                "status": "CONFIRMED",
                "reason": None,
                "locationIds": [paris_id],
                "shipments": [
                    {
                        "shipmentId": paris_shipment,
                        "locationId": paris_id,
                        "method": "SHIP",
                        "status": "CANCELLED",
                        "lines": [
                            {
                                "orderLineId": line_of(order, "MUG-STONE"),
                                "sku": "MUG-STONE",
                                "quantity": 1,
                            }
                        ],
                    }
                ],
                "cancelledShipments": [paris_shipment],
            },
        ),
        (
            "SHIPMENT_STATUS_CHANGED",
            {
                "shipmentId": paris_shipment,
                "locationId": paris_id,
                "method": "SHIP",
                "from": "ALLOCATED",
                "status": "CANCELLED",
                "orderStatus": "CONFIRMED",
                "reason": None,
            },
        ),
    ]


async def test_a_store_is_never_sent_the_pickup_code_its_customer_will_show(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    receiver: Receiver,
) -> None:
    await subscribe(api, world.other_partner, receiver.url("/store"), ["SHIPMENT_STATUS_CHANGED"])
    await subscribe(api, world.channel, receiver.url("/shop"), ["SHIPMENT_STATUS_CHANGED"])
    await stock(api, world.other_partner, "ST-PARIS-11", {"TEE-BLUE-M": 10, "MUG-STONE": 10})
    v = variables("PlaceOrder")
    v["input"]["delivery"] = {"method": "PICKUP", "pickupLocation": "ST-PARIS-11"}
    order = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]["order"]
    shipment = order["shipments"][0]["id"]
    for name in ("StartPicking", "MarkReadyForPickup"):
        answer = await api.op(name, {"shipmentId": shipment}, key=world.other_partner)
        assert answer[name[0].lower() + name[1:]]["userErrors"] == []

    got = await delivered(sessionmaker, queue, run_jobs, receiver)

    [store_ready] = [d for t, d in got["/store"] if d["status"] == "READY_FOR_PICKUP"]
    [shop_ready] = [d for t, d in got["/shop"] if d["status"] == "READY_FOR_PICKUP"]
    assert "pickupCode" not in store_ready
    assert len(shop_ready["pickupCode"]) == 6  # the channel tells its customer
    assert {k: v for k, v in shop_ready.items() if k != "pickupCode"} == store_ready


async def test_a_retried_step_sends_no_second_webhook_and_no_second_email(
    api: Api,
    world: World,
    sessionmaker: Any,
    queue: ArqQueue,
    run_jobs: Any,
    receiver: Receiver,
) -> None:
    await subscribe(api, world.other_partner, receiver.url("/store"), ["SHIPMENT_STATUS_CHANGED"])
    await stock(api, world.other_partner, "ST-PARIS-11", {"TEE-BLUE-M": 10, "MUG-STONE": 10})
    v = variables("PlaceOrder")
    v["input"]["delivery"] = {"method": "PICKUP", "pickupLocation": "ST-PARIS-11"}
    order = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]["order"]
    shipment = order["shipments"][0]["id"]
    # The store app times out and sends each step twice.
    for name in ("StartPicking", "StartPicking", "MarkReadyForPickup", "MarkReadyForPickup"):
        answer = await api.op(name, {"shipmentId": shipment}, key=world.other_partner)
        assert answer[name[0].lower() + name[1:]]["userErrors"] == []

    got = await delivered(sessionmaker, queue, run_jobs, receiver)

    assert [d["status"] for _, d in got["/store"]] == ["PICKING", "READY_FOR_PICKUP"]
    emails = await fetch(sessionmaker, "SELECT kind FROM notifications ORDER BY id")
    assert [e["kind"] for e in emails] == ["ORDER_CONFIRMED", "READY_FOR_PICKUP"]
    assert {d["shipmentId"] for _, d in got["/store"]} == {shipment}
