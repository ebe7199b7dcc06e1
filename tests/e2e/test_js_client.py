"""A customer's app on the reference JavaScript client (graphql-ws) follows an order to
its delivery, and another resumes after a sequence: the mobile app's own TrackOrder."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.jsclient import JSSubscription, install_js_clients
from tests.e2e.test_order_journey import drive, gql, stock_and_place
from tests.fixtures import World
from tests.support import operation

CLOSED_NORMALLY = [
    {"event": "complete"},
    {"event": "closed", "code": 1000, "reason": "Normal Closure"},
]


@pytest.fixture(scope="session")
def js_clients() -> None:
    install_js_clients()


def summary(event: dict[str, Any]) -> tuple[int, str, str, str]:
    assert event["event"] == "next", event
    assert "errors" not in event["payload"], event
    update = event["payload"]["data"]["orderUpdated"]
    order = update["order"]
    return (update["sequence"], update["type"], order["status"], order["shipments"][0]["status"])


async def test_the_reference_js_client_follows_an_order_to_delivery_and_resumes(
    js_clients: None, api: Any, world: World, start_server: Any
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
    track = operation("TrackOrder")
    steps = ["pick", "pack", "ship", "IN_TRANSIT@10", "OUT_FOR_DELIVERY@20", "DELIVERED@40"]

    async with JSSubscription(
        server.ws_url, f"Bearer {token}", track, {"orderId": order["id"], "afterSequence": None}
    ) as app:
        assert await app.event() == {"event": "connected"}
        # The subscription is registered just after the acknowledgement; give it a moment.
        await app.nothing_more(0.5)
        live = []
        for step in steps:  # one step at a time: each event shows the order as it then was
            await drive(server, world.partner, shipment, [step])
            live.append(summary(await app.event()))
        await app.nothing_more(1.0)
        status, last = await app.stop()
    assert live == [
        (2, "SHIPMENT_STATUS_CHANGED", "IN_PREPARATION", "PICKING"),
        (3, "SHIPMENT_STATUS_CHANGED", "IN_PREPARATION", "PACKED"),
        (4, "SHIPMENT_STATUS_CHANGED", "SHIPPED", "SHIPPED"),
        (5, "SHIPMENT_STATUS_CHANGED", "SHIPPED", "IN_TRANSIT"),
        (6, "SHIPMENT_STATUS_CHANGED", "SHIPPED", "OUT_FOR_DELIVERY"),
        (7, "SHIPMENT_STATUS_CHANGED", "DELIVERED", "DELIVERED"),
    ]
    # Unsubscribing completes the subscription (and sends `complete`), and the client,
    # with nothing left to follow, closes the socket normally.
    assert (status, last) == (0, CLOSED_NORMALLY)

    # Another device resumes after the shipment left: only what came after, in order, as
    # the order stands now, and nothing more.
    async with JSSubscription(
        server.ws_url, f"Bearer {token}", track, {"orderId": order["id"], "afterSequence": 4}
    ) as tablet:
        assert await tablet.event() == {"event": "connected"}
        resumed = [summary(await tablet.event()) for _ in range(3)]
        await tablet.nothing_more(1.0)
        status, last = await tablet.stop()
    assert resumed == [
        (5, "SHIPMENT_STATUS_CHANGED", "DELIVERED", "DELIVERED"),
        (6, "SHIPMENT_STATUS_CHANGED", "DELIVERED", "DELIVERED"),
        (7, "SHIPMENT_STATUS_CHANGED", "DELIVERED", "DELIVERED"),
    ]
    assert (status, last) == (0, CLOSED_NORMALLY)
