"""Text PostgreSQL cannot store is refused before anything runs, wherever it comes from.

A NUL character (U+0000) or a lone surrogate (U+D800 to U+DFFF, which JSON carries as
`\\ud800`) used to reach PostgreSQL and come back as INTERNAL. Every argument and input
field that takes text (String, ID and the scalars written as strings) is found in the
schema, so one added later is covered without anyone listing it; each gets the bad text
as a variable and written in the document, from a role allowed to call the field, and
must be refused with BAD_USER_INPUT naming it, with nothing written. Then the other
ways text comes in: the operation name, WebSocket messages and credentials, headers,
and the document URLs.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.input_positions import (
    TEXT_SCALARS,
    Position,
    error_codes,
    positions,
    post_raw,
    request,
)
from tests.api.test_access import ADMIN, CHANNEL, CUSTOMER, MATRIX, PARTNER, credentials, row_counts
from tests.conftest import truncate_all
from tests.fixtures import World, build_world
from tests.support import Api, AsgiWebSocket

BAD_TEXT = {"NUL": "x\x00y", "lone surrogate": "x\ud800y"}
HTTP_POSITIONS = positions(TEXT_SCALARS, ("query", "mutation"))
SUBSCRIPTION_POSITIONS = positions(TEXT_SCALARS, ("subscription",))


@pytest.fixture(scope="module")
async def text_world(
    app: Any, engine: Any, table_names: list[str], shared_sessionmaker: Any
) -> AsyncIterator[tuple[Api, World, dict[str, str | None]]]:
    """One world for the module: every request of it is refused before it runs (and
    each test checks that no row changed), so nothing needs rebuilding between tests."""
    await truncate_all(engine, table_names)
    async with Api.over_asgi(app) as api:
        world = await build_world(api, shared_sessionmaker)
        yield api, world, await credentials(api, world)


def key_for(field: str, keys: dict[str, str | None]) -> str | None:
    """Admin's key, or that of a role the field allows if admin is not one."""
    allowed = MATRIX.get(field, frozenset({ADMIN}))
    role = next(r for r in (ADMIN, CHANNEL, PARTNER, CUSTOMER) if r in allowed)
    return keys[role]


def test_the_schema_has_text_positions_of_every_kind() -> None:
    found = {str(p) for p in HTTP_POSITIONS + SUBSCRIPTION_POSITIONS}
    assert len(found) > 150
    assert {
        "placeOrder(input:).lines[0].sku",
        "placeOrder(input:).lines[0].unitPrice.amount",  # Decimal
        "setStockLevels(input:).asOf",  # DateTime
        "availability(skus:)[0]",  # a list of strings
        "node(id:)",  # ID
        "orderEvents(channel:)",  # a subscription's
    } <= found


@pytest.mark.parametrize("position", HTTP_POSITIONS, ids=str)
async def test_bad_text_in_any_argument_is_refused_before_anything_runs(
    text_world: tuple[Api, World, dict[str, str | None]],
    engine: Any,
    table_names: list[str],
    position: Position,
) -> None:
    api, _, keys = text_world
    key = key_for(position.field, keys)
    rows = await row_counts(engine, table_names)

    for what, bad in BAD_TEXT.items():
        document, variables = request(position, bad)
        response = await post_raw(api, document, variables, key)
        body = response.json()
        assert response.status_code == 400, (what, body)
        assert body.get("data") is None, (what, body)
        [error] = body["errors"]
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "variable": position.argument,
            "field": position.field_path,
        }, (what, body)
        assert error["message"].startswith(f"Variable '${position.argument}' has invalid value")
        assert ("NUL" if bad == "x\x00y" else "surrogate") in error["message"]

    # Written in the document (only NUL can be: the lexer refuses a lone surrogate).
    document, variables = request(position, BAD_TEXT["NUL"], as_literal=True)
    response = await post_raw(api, document, variables, key)
    body = response.json()
    assert response.status_code == 400, body
    assert "INTERNAL" not in error_codes(body)
    assert {
        "code": "BAD_USER_INPUT",
        "argument": position.coordinate,
        "field": position.field_path,
    } in [e.get("extensions") for e in body["errors"]], body

    assert await row_counts(engine, table_names) == rows


@pytest.mark.parametrize("position", SUBSCRIPTION_POSITIONS, ids=str)
async def test_bad_text_in_a_subscription_is_refused_before_it_starts(
    app: Any, text_world: tuple[Api, World, dict[str, str | None]], position: Position
) -> None:
    _, world, _ = text_world
    for what, bad in BAD_TEXT.items():
        document, variables = request(position, bad)
        async with AsgiWebSocket(app) as ws:
            ack = await ws.init({"Authorization": f"Bearer {world.admin}"})
            assert ack["message"]["type"] == "connection_ack"
            await ws.send(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": document, "variables": variables},
                }
            )
            answer = (await ws.receive())["message"]
        assert answer["type"] == "error", (what, answer)
        [error] = answer["payload"]
        assert error["extensions"] == {
            "code": "BAD_USER_INPUT",
            "variable": position.argument,
            "field": position.field_path,
        }, (what, answer)


# ---------- the other ways in ----------


async def test_bad_text_deep_in_a_variable_is_named_by_its_path(
    text_world: tuple[Api, World, dict[str, str | None]],
) -> None:
    api, world, _ = text_world
    document = "mutation($input: [ProductInput!]!) { upsertProducts(input: $input) { count } }"
    products = [{"sku": f"OK-{i}", "name": "fine"} for i in range(3)]
    products[1]["name"] = "bad\x00"
    products[2]["sku"] = "\ud800"
    response = await post_raw(api, document, {"input": products}, world.admin)
    body = response.json()
    assert response.status_code == 400
    assert [e["extensions"]["field"] for e in body["errors"]] == [
        ["input", 1, "name"],
        ["input", 2, "sku"],
    ]
    assert [e["message"] for e in body["errors"]] == [
        "Variable '$input' has invalid value at [1].name: text must not contain the NUL "
        "character (U+0000).",
        "Variable '$input' has invalid value at [2].sku: text must not contain unpaired "
        "surrogates (U+D800 to U+DFFF).",
    ]


async def test_bad_text_in_a_variable_default_or_a_field_name_is_refused(
    text_world: tuple[Api, World, dict[str, str | None]],
) -> None:
    api, world, _ = text_world
    default = 'query($sku: String! = "a\\u0000") { product(sku: $sku) { sku } }'
    body = (await post_raw(api, default, {}, world.admin)).json()
    assert [e["extensions"] for e in body["errors"]] == [
        {"code": "BAD_USER_INPUT", "variable": "sku", "field": ["sku"]}
    ]
    # An input field name (not in the schema anyway) or a variable name the operation
    # does not declare: refused too, and echoed without the surrogate.
    named = "query($f: OrderFilter) { orders(filter: $f) { totalCount } }"
    response = await post_raw(api, named, {"f": {"status\ud800": None}, "\ud800": 1}, world.admin)
    assert response.status_code == 400
    assert [e["extensions"]["field"] for e in response.json()["errors"]] == [
        ["f", "status\N{REPLACEMENT CHARACTER}"],
        ["\N{REPLACEMENT CHARACTER}"],
    ]


async def test_a_lone_surrogate_in_the_document_is_a_syntax_error(
    text_world: tuple[Api, World, dict[str, str | None]],
) -> None:
    api, world, _ = text_world
    for document in ('{ product(sku: "a\\ud800") { sku } }', '{ product(sku: "a\ud800") { sku } }'):
        response = await post_raw(api, document, {}, world.admin)
        assert response.status_code == 400
        assert response.json()["errors"][0]["message"].startswith("Syntax Error")


@pytest.mark.parametrize("bad", list(BAD_TEXT.values()), ids=list(BAD_TEXT))
async def test_bad_text_in_the_operation_name_is_refused(
    app: Any, text_world: tuple[Api, World, dict[str, str | None]], bad: str
) -> None:
    api, world, _ = text_world
    response = await post_raw(
        api, "query Q { viewer { role } }", {}, world.admin, operationName=bad
    )
    assert response.status_code == 400
    assert [e["extensions"] for e in response.json()["errors"]] == [
        {"code": "BAD_USER_INPUT", "field": ["operationName"]}
    ]
    async with AsgiWebSocket(app) as ws:
        await ws.init({"Authorization": f"Bearer {world.admin}"})
        await ws.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription S { orderEvents { sequence } }",
                    "operationName": bad,
                },
            }
        )
        answer = (await ws.receive())["message"]
    assert answer["type"] == "error"
    assert [e["extensions"] for e in answer["payload"]] == [
        {"code": "BAD_USER_INPUT", "field": ["operationName"]}
    ]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer oms_\x00", "Bearer oms_\ud800", "Bearer \ud800", 42, ["Bearer x"], {"a": 1}],
    ids=["NUL", "surrogate in a key", "surrogate in a token", "number", "list", "object"],
)
async def test_a_websocket_credential_that_is_not_printable_text_is_rejected(
    app: Any, authorization: Any
) -> None:
    async with AsgiWebSocket(app) as ws:
        answer = await ws.init({"Authorization": authorization})
    assert (answer["type"], answer.get("code")) == ("websocket.close", 4403), answer


async def test_a_subscribe_message_id_that_cannot_be_echoed_closes_the_socket(
    app: Any, text_world: tuple[Api, World, dict[str, str | None]]
) -> None:
    _, world, _ = text_world
    async with AsgiWebSocket(app) as ws:
        await ws.init({"Authorization": f"Bearer {world.admin}"})
        await ws.send(
            {
                "id": "\ud800",
                "type": "subscribe",
                "payload": {"query": "subscription { orderEvents { sequence } }"},
            }
        )
        answer = await ws.receive()
    assert (answer["type"], answer.get("code")) == ("websocket.close", 4400), answer


async def test_headers_with_a_nul_are_refused_or_ignored(
    text_world: tuple[Api, World, dict[str, str | None]],
) -> None:
    api, world, _ = text_world
    query = {"query": "{ viewer { role } }"}
    response = await api.http.post(
        "/graphql", json=query, headers={"Authorization": f"Bearer {world.admin}\x00"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    response = await api.http.post(
        "/graphql",
        json=query,
        headers={"Authorization": f"Bearer {world.admin}", "X-Request-Id": "abc\x00def"},
    )
    assert response.status_code == 200
    assert re.fullmatch("[0-9a-f]{32}", response.headers["x-request-id"])  # a new one


@pytest.mark.parametrize(
    "url",
    [
        "/shipments/%00/packing-slip.pdf",
        "/shipments/U2hpcG1lbnQ6MQ%00/packing-slip.html",
        "/shipments/%ED%A0%80/packing-slip.pdf",
        "/shipments/U2hpcG1lbnQ6MQ/packing-slip.%00",
        "/returns/%00/label.html",
        "/returns/%ED%A0%80/label.html",
    ],
)
async def test_document_urls_with_bad_text_are_not_found(
    text_world: tuple[Api, World, dict[str, str | None]], url: str
) -> None:
    api, world, _ = text_world
    response = await api.http.get(url, headers={"Authorization": f"Bearer {world.admin}"})
    assert response.status_code == 404, response.text
    response = await api.http.get(url.replace("/label.html", "/label.html?token=%00%ED%A0%80"))
    assert response.status_code in (401, 404), response.text
