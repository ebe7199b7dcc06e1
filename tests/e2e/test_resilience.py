"""The service rides out its servers going away: PostgreSQL restarts, Redis stops."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import EMBEDDED
from tests.e2e.test_order_journey import gql, stock_and_place
from tests.e2e.wsclient import GraphQLWebSocket
from tests.fixtures import World, variables
from tests.support import Api, operation


async def test_the_api_reconnects_after_postgresql_restarts(
    api: Api, world: World, start_server: Any
) -> None:
    pg = EMBEDDED["pg"]
    if pg is None:
        pytest.fail(
            "this test restarts the session's own PostgreSQL; run without OMS_TEST_DATABASE_URL"
        )
    server = start_server()
    await stock_and_place(api, world, server)
    pg.restart()
    # The pool replaces dead connections on checkout: the very next request works.
    data = await gql(server, "OrderByExternalId", variables("OrderByExternalId"), world.channel)
    assert data["orderByExternalId"]["status"] == "CONFIRMED"
    # The event listener reconnects by itself too: live updates flow again.
    await asyncio.sleep(3)
    async with GraphQLWebSocket(server.ws_url, f"Bearer {world.channel}") as ws:
        await ws.subscribe(operation("OrderEvents"), {"channel": "web-fr", "afterSequence": None})
        await asyncio.sleep(0.3)
        v = variables("PlaceOrder")
        v["input"]["externalId"] = "AFTER-RESTART"
        v["idempotencyKey"] = "after-restart"
        placed = await gql(server, "PlaceOrder", v, world.channel)
        assert placed["placeOrder"]["userErrors"] == []
        message = await ws.next(within=15)
    assert (
        message["payload"]["data"]["orderEvents"]["order"]["id"]
        == placed["placeOrder"]["order"]["id"]
    )


async def test_orders_keep_being_placed_while_redis_is_down(api: Api, world: World) -> None:
    redis = EMBEDDED["redis"]
    if redis is None:
        pytest.fail("this test stops the session's own Redis; run without OMS_TEST_REDIS_URL")
    await api.op("SetStockLevels", variables("SetStockLevels"), key=world.partner)
    redis.stop()
    try:
        for i in range(5):
            v = variables("PlaceOrder")
            v["input"]["externalId"] = f"NO-REDIS-{i}"
            v["idempotencyKey"] = f"no-redis-{i}"
            data = (await api.op("PlaceOrder", v, key=world.channel))["placeOrder"]
            assert data["userErrors"] == []
    finally:
        redis.start()
    listed = await api.run("{ orders(first: 10) { totalCount } }", key=world.admin)
    assert listed["orders"]["totalCount"] == 5
