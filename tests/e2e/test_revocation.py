"""Revoking an API key closes the WebSockets that stand on it, on a real server: those
opened with the key, and those opened with a customer token it minted; new ones are
refused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from tests.e2e.test_order_journey import gql, stock_and_place
from tests.e2e.wsclient import GraphQLWebSocket
from tests.fixtures import World, variables
from tests.support import Api, operation


async def closed_with(ws: GraphQLWebSocket, within: float = 10) -> tuple[int, str]:
    """Wait for the server to close the socket (answering pings meanwhile)."""
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.ws.recv(), within))
            if message["type"] == "ping":
                await ws.ws.send(json.dumps({"type": "pong"}))
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("unreachable")


async def test_revoking_a_key_closes_its_sockets_and_its_tokens_sockets(
    api: Api, world: World, start_server: Any
) -> None:
    server = start_server()
    created = (
        await gql(
            server,
            "CreateApiKey",
            {"input": {"name": "Old storefront", "role": "CHANNEL", "channel": "web-fr"}},
            world.admin,
        )
    )["createApiKey"]
    key_id, secret = created["apiKey"]["id"], created["secret"]
    order = await stock_and_place(api, world, server)
    token = (await gql(server, "IssueCustomerToken", variables("IssueCustomerToken"), secret))[
        "issueCustomerToken"
    ]["token"]
    sibling = (
        await gql(server, "IssueCustomerToken", variables("IssueCustomerToken"), world.channel)
    )["issueCustomerToken"]["token"]

    async with (
        GraphQLWebSocket(server.ws_url, f"Bearer {token}") as customer,
        GraphQLWebSocket(server.ws_url, f"Bearer {secret}") as storefront,
        GraphQLWebSocket(server.ws_url, f"Bearer {sibling}") as other_device,
    ):
        await customer.subscribe(
            operation("TrackOrder"), {"orderId": order["id"], "afterSequence": None}
        )
        await storefront.subscribe(
            operation("OrderEvents"), {"channel": "web-fr", "afterSequence": None}
        )
        await other_device.subscribe(
            operation("TrackOrder"), {"orderId": order["id"], "afterSequence": None}
        )
        await asyncio.sleep(0.3)
        revoked = await gql(
            server,
            "mutation ($id: ID!) { revokeApiKey(id: $id) { userErrors { code } } }",
            {"id": key_id},
            world.admin,
        )
        assert revoked["revokeApiKey"]["userErrors"] == []
        closures = await asyncio.gather(closed_with(customer), closed_with(storefront))
        assert closures == [(4401, "credential revoked")] * 2
        # A token minted by another key of the channel is not concerned.
        await asyncio.sleep(1.5)
        assert other_device.ws.close_code is None

    # A new connection with the token, or the key, is refused at once.
    for credential in (token, secret):
        ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {credential}"}}
            )
        )
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4403
        else:
            raise AssertionError("the socket stayed open")
