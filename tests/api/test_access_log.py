"""The access log: one line per HTTP request and per WebSocket operation, at INFO, with
who asked (never a secret), what, how it went and how long it took."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from api.access_log import AccessLogSettings
from api.logs import JsonFormatter
from tests.fixtures import World, variables
from tests.jobs.test_webhooks import place_order
from tests.support import Api, AsgiWebSocket, operation


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="oms.access")
    return caplog


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access lines as the JSON log writes them."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "oms.access"]


async def test_a_placement_is_one_line_with_who_what_and_how_long(
    api: Api, world: World, access: pytest.LogCaptureFixture
) -> None:
    await place_order(api, world)
    v = variables("PlaceOrder")
    v["input"]["externalId"] = "WEB-ACCESS-1"
    v["idempotencyKey"] = "web-fr:WEB-ACCESS-1"
    access.clear()
    response = await api.post(operation("PlaceOrder"), v, key=world.channel)
    assert response.status_code == 200 and response.json()["data"]["placeOrder"]["order"]

    [line] = lines(access)
    assert line["level"] == "INFO" and line["message"] == "access"
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["transport"], line["method"], line["path"], line["status"]) == (
        "http",
        "POST",
        "/graphql",
        200,
    )
    assert (line["operation"], line["operation_type"]) == ("PlaceOrder", "mutation")
    assert line["cost"] > 0
    assert line["principal"]["role"] == "CHANNEL" and isinstance(line["principal"]["key_id"], int)
    assert line["bytes_in"] == len(response.request.content)
    assert line["bytes_out"] == len(response.content)
    assert 0 < line["ms"] < 60_000
    assert "user_errors" not in line and "errors" not in line


async def test_refusals_and_errors_carry_their_codes(
    api: Api, world: World, access: pytest.LogCaptureFixture
) -> None:
    v = variables("PlaceOrder")
    v["input"]["externalId"] = "WEB-ACCESS-2"
    v["input"]["lines"][0]["quantity"] = 0
    v["idempotencyKey"] = "web-fr:WEB-ACCESS-2"
    refused = (await api.post(operation("PlaceOrder"), v, key=world.channel)).json()
    codes = [e["code"] for e in refused["data"]["placeOrder"]["userErrors"]]
    assert codes
    unauthorized = await api.post("{ viewer { role } }", key="oms_not_a_key")
    assert unauthorized.status_code == 401
    not_allowed = (await api.post(operation("PlaceOrder"), v, key=world.partner)).json()
    [error] = not_allowed["errors"]

    refusal, bad_key, forbidden = lines(access)
    assert refusal["user_errors"] == codes and refusal["status"] == 200
    assert bad_key["status"] == 401 and bad_key["principal"] == {"role": "ANONYMOUS"}
    assert forbidden["errors"] == [error["extensions"]["code"]]
    assert forbidden["principal"]["role"] == "PARTNER"


async def test_no_log_line_holds_a_secret(
    api: Api, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await place_order(api, world)
    token = await world.customer_token(api)
    await api.op("MyOrders", {"first": 5}, key=token)
    await api.post("{ viewer { role } }", key=world.admin)
    written = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert '"message": "access"' in written or '"message":"access"' in written
    for secret in (world.admin, world.channel, world.partner, token):
        assert secret not in written


async def test_a_websocket_operation_is_one_line_when_it_ends(
    app: Any, api: Api, world: World, access: pytest.LogCaptureFixture
) -> None:
    await place_order(api, world)
    access.clear()
    async with AsgiWebSocket(app) as ws:
        ack = await ws.init({"Authorization": f"Bearer {world.admin}"})
        assert ack["message"]["type"] == "connection_ack"
        await ws.send(
            {
                "id": "events-1",
                "type": "subscribe",
                "payload": {
                    "query": operation("OrderEvents"),
                    "variables": {"afterSequence": 0},
                    "operationName": "OrderEvents",
                },
            }
        )
        first = (await ws.receive())["message"]
        assert first["type"] == "next" and first["id"] == "events-1"
        await ws.send({"id": "events-1", "type": "complete"})
        for _ in range(50):  # the line is written as the operation's task ends
            if lines(access):
                break
            await asyncio.sleep(0.02)
    [line] = lines(access)
    assert (line["transport"], line["operation"], line["operation_type"]) == (
        "websocket",
        "OrderEvents",
        "subscription",
    )
    assert line["operation_id"] == "events-1" and line["outcome"] == "cancelled"
    assert line["results"] >= 1
    assert line["principal"]["role"] == "ADMIN"


def test_settings_choose_what_is_written(access: pytest.LogCaptureFixture) -> None:
    assert AccessLogSettings.from_env({}) == AccessLogSettings("all", 1.0)
    quiet = AccessLogSettings.from_env({"OMS_ACCESS_LOG": "errors"})
    assert quiet.wanted(failed=True) and not quiet.wanted(failed=False)
    assert not AccessLogSettings.from_env({"OMS_ACCESS_LOG": "off"}).wanted(failed=True)
    none_sampled = AccessLogSettings.from_env({"OMS_ACCESS_LOG_SAMPLE": "0"})
    assert none_sampled.wanted(failed=True) and not none_sampled.wanted(failed=False)
    for bad in ({"OMS_ACCESS_LOG": "loud"}, {"OMS_ACCESS_LOG_SAMPLE": "2"}):
        with pytest.raises(ValueError):
            AccessLogSettings.from_env(bad)
