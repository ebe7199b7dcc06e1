"""One order from placement to delivery through the partners' operations, followed live
by a customer's app over graphql-transport-ws, on real server processes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.e2e.conftest import ServerProcess
from tests.e2e.wsclient import GraphQLWebSocket
from tests.fixtures import World, variables
from tests.support import Api, operation


async def gql(
    server: ServerProcess, name_or_query: str, variables: dict[str, Any], key: str
) -> dict[str, Any]:
    query = operation(name_or_query) if "{" not in name_or_query else name_or_query
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {key}"},
        )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


async def stock_and_place(api: Api, world: World, server: ServerProcess) -> dict[str, Any]:
    assert (await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner))[
        "setStockLevels"
    ]["userErrors"] == []
    placed = (await gql(server, "PlaceOrder", variables("PlaceOrder"), world.channel))["placeOrder"]
    assert placed["userErrors"] == []
    return placed["order"]  # type: ignore[no-any-return]


async def drive(server: ServerProcess, partner: str, shipment_id: str, steps: list[str]) -> None:
    for step in steps:
        if step == "pick":
            data = await gql(server, "StartPicking", {"shipmentId": shipment_id}, partner)
            assert data["startPicking"]["userErrors"] == []
        elif step == "pack":
            data = await gql(server, "PackShipment", {"shipmentId": shipment_id}, partner)
            assert data["packShipment"]["userErrors"] == []
        elif step == "ship":
            v = variables("ShipShipment")
            v["input"]["shipmentId"] = shipment_id
            data = await gql(server, "ShipShipment", v, partner)
            assert data["shipShipment"]["userErrors"] == [], data
        else:
            status, minute = step.split("@")
            v = variables("RecordTrackingEvent")
            v["input"].update(
                eventId=f"evt-{status}-{minute}",
                status=status,
                occurredAt=f"2026-11-23T09:{minute}:00+01:00",
            )
            data = await gql(server, "RecordTrackingEvent", v, partner)
            assert data["recordTrackingEvent"]["userErrors"] == [], data


async def statuses(ws: GraphQLWebSocket, count: int) -> list[tuple[int, str, str]]:
    seen = []
    for _ in range(count):
        message = await ws.next(within=15)
        assert message["type"] == "next", message
        update = message["payload"]["data"]["orderUpdated"]
        shipment_status = update["order"]["shipments"][0]["status"]
        seen.append((update["sequence"], update["type"], shipment_status))
    return seen


async def test_customer_follows_an_order_from_placement_to_delivery(
    api: Api, world: World, start_server: Any
) -> None:
    server = start_server()
    order = await stock_and_place(api, world, server)
    shipment = order["shipments"][0]["id"]
    token = (
        await gql(
            server,
            "IssueCustomerToken",
            {"customerEmail": "camille@example.com", "ttlSeconds": 3600},
            world.channel,
        )
    )["issueCustomerToken"]["token"]

    # Two devices of the customer follow it: the process reads the order once per event
    # for both (shared snapshots); each must still see every status in order.
    async with (
        GraphQLWebSocket(server.ws_url, f"Bearer {token}") as ws,
        GraphQLWebSocket(server.ws_url, f"Bearer {token}") as tablet,
    ):
        for socket in (ws, tablet):
            await socket.subscribe(
                operation("TrackOrder"), {"orderId": order["id"], "afterSequence": None}
            )
        await asyncio.sleep(0.3)  # subscribed before the partner starts
        await drive(server, world.partner, shipment, ["pick", "pack", "ship"])
        first = await statuses(ws, 3)
        assert await statuses(tablet, 3) == first
    assert first == [
        (2, "SHIPMENT_STATUS_CHANGED", "PICKING"),
        (3, "SHIPMENT_STATUS_CHANGED", "PACKED"),
        (4, "SHIPMENT_STATUS_CHANGED", "SHIPPED"),
    ]

    # The app is offline while the parcel travels; it reconnects with the last sequence.
    await drive(server, world.partner, shipment, ["IN_TRANSIT@10", "OUT_FOR_DELIVERY@20"])
    async with GraphQLWebSocket(server.ws_url, f"Bearer {token}") as ws:
        await ws.subscribe(operation("TrackOrder"), {"orderId": order["id"], "afterSequence": 4})
        replayed = await statuses(ws, 2)
        await drive(server, world.partner, shipment, ["DELIVERED@40"])
        live = await statuses(ws, 1)
    # Replayed events carry the order as it stands now (out for delivery), in sequence.
    assert replayed == [
        (5, "SHIPMENT_STATUS_CHANGED", "OUT_FOR_DELIVERY"),
        (6, "SHIPMENT_STATUS_CHANGED", "OUT_FOR_DELIVERY"),
    ]
    assert live == [(7, "SHIPMENT_STATUS_CHANGED", "DELIVERED")]

    tracking = await gql(server, "OrderTracking", {"id": order["id"]}, token)
    assert tracking["order"]["status"] == "DELIVERED"
    assert [e["status"] for e in tracking["order"]["shipments"][0]["trackingEvents"]] == [
        "IN_TRANSIT",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
    ]


async def test_another_customer_cannot_follow_the_order(
    api: Api, world: World, start_server: Any
) -> None:
    server = start_server()
    order = await stock_and_place(api, world, server)
    other = (
        await gql(
            server,
            "IssueCustomerToken",
            {"customerEmail": "mallory@example.com", "ttlSeconds": 3600},
            world.channel,
        )
    )["issueCustomerToken"]["token"]
    async with GraphQLWebSocket(server.ws_url, f"Bearer {other}") as ws:
        await ws.subscribe(operation("TrackOrder"), {"orderId": order["id"], "afterSequence": None})
        message = await ws.next()
    # Exactly what a missing order answers: no data, "not found".
    assert message["type"] in ("next", "error"), message
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    assert [e["message"] for e in errors] == ["not found"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_bad_credential_is_refused_at_connection(
    start_server: Any, servers: dict[str, str]
) -> None:
    server = start_server()
    import websockets

    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send('{"type": "connection_init", "payload": {"Authorization": "Bearer oms_nope"}}')
    try:
        await asyncio.wait_for(ws.recv(), 5)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4403
    else:
        raise AssertionError("the socket stayed open")


async def test_a_subscriber_on_one_process_sees_a_change_made_on_another(
    api: Api, world: World, start_server: Any
) -> None:
    writer, reader = start_server(), start_server()
    async with GraphQLWebSocket(reader.ws_url, f"Bearer {world.channel}") as ws:
        await ws.subscribe(operation("OrderEvents"), {"channel": "web-fr", "afterSequence": None})
        await asyncio.sleep(0.3)
        order = await stock_and_place(api, world, writer)
        message = await ws.next(within=15)
    assert message["type"] == "next", message
    event = message["payload"]["data"]["orderEvents"]
    assert event["type"] == "ORDER_PLACED"
    assert event["sequence"] == 1
    assert event["globalSequence"] >= 1
    assert event["order"] == {"id": order["id"], "number": order["number"], "status": "CONFIRMED"}
