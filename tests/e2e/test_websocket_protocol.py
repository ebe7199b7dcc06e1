"""graphql-transport-ws on a real server, message by message: what a bad document
answers, the limits that apply to subscriptions as to queries, the connection_init
deadline, and the caps on sockets per credential and operations per socket."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import websockets
from graphql import parse
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from api.settings import Settings
from schema.analysis import measure
from schema.limits import (
    MAX_ALIASES,
    MAX_COST,
    MAX_DEPTH,
    MAX_DOCUMENT_CHARS,
    MAX_EXPANDED_FIELDS,
    MAX_TOKENS,
)
from tests.e2e.conftest import ServerProcess
from tests.fixtures import World

PROTOCOL = Subprotocol("graphql-transport-ws")


async def receive(ws: ClientConnection, within: float = 10) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), within)
    assert isinstance(frame, str), f"a binary frame: {frame!r}"  # the protocol is text
    return json.loads(frame)  # type: ignore[no-any-return]


async def close_of(ws: ClientConnection, within: float = 10) -> tuple[int, str]:
    """How the server closed the socket (failing if it sends anything first)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        message = await receive(ws, within)
        raise AssertionError(f"a message instead of a close: {message}")
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def start(
    server: ServerProcess, authorization: str | None, **connect: Any
) -> tuple[ClientConnection, dict[str, Any] | tuple[int, str]]:
    """A socket and what its connection_init got: the acknowledgement, or the close."""
    ws = await websockets.connect(
        server.ws_url, subprotocols=[PROTOCOL], proxy=None, open_timeout=10, **connect
    )
    payload = {"Authorization": authorization} if authorization else {}
    await send(ws, {"type": "connection_init", "payload": payload})
    try:
        return ws, await receive(ws)
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None
        return ws, (closed.rcvd.code, closed.rcvd.reason)


@asynccontextmanager
async def acknowledged(server: ServerProcess, authorization: str | None) -> AsyncIterator[Any]:
    ws, answer = await start(server, authorization)
    assert answer == {"type": "connection_ack", "payload": None}
    try:
        yield ws
    finally:
        await ws.close()


async def still_open(ws: ClientConnection) -> None:
    """A ping answered by a pong: the socket is open and nothing else was queued (no
    stray `complete` after an `error`)."""
    await send(ws, {"type": "ping"})
    assert await receive(ws) == {"type": "pong"}


@pytest.fixture(scope="module")
def server(servers: dict[str, str]) -> Iterator[ServerProcess]:
    process = ServerProcess(servers)
    yield process
    process.stop()


# ---------- documents that cannot run: an `error` message, and the socket stays ----------


def request_error(op_id: str, message: str, code: str, **extra: Any) -> dict[str, Any]:
    error = {"message": message, **extra, "extensions": {"code": code}}
    return {"id": op_id, "type": "error", "payload": [error]}


async def test_a_subscription_that_does_not_parse_gets_an_error_message(
    world: World, server: ServerProcess
) -> None:
    async with acknowledged(server, f"Bearer {world.admin}") as ws:
        query = "subscription { orderEvents { sequence "
        await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": query}})
        assert await receive(ws) == request_error(
            "1",
            "Syntax Error: Expected Name, found <EOF>.",
            "GRAPHQL_PARSE_FAILED",
            locations=[{"line": 1, "column": 39}],
        )
        await still_open(ws)
        # The same id is free again, and the socket still serves.
        await send(
            ws, {"id": "1", "type": "subscribe", "payload": {"query": "{ viewer { role } }"}}
        )
        assert await receive(ws) == {
            "id": "1",
            "type": "next",
            "payload": {
                "data": {"viewer": {"role": "ADMIN"}},
                "extensions": {"cost": {"requested": 1, "limit": MAX_COST}},
            },
        }
        assert await receive(ws) == {"id": "1", "type": "complete"}


async def test_a_subscription_that_does_not_validate_gets_an_error_message(
    world: World, server: ServerProcess
) -> None:
    async with acknowledged(server, f"Bearer {world.admin}") as ws:
        query = "subscription { orderEvents { sequence nickname } }"
        await send(ws, {"id": "a", "type": "subscribe", "payload": {"query": query}})
        assert await receive(ws) == request_error(
            "a",
            "Cannot query field 'nickname' on type 'OrderUpdate'.",
            "GRAPHQL_VALIDATION_FAILED",
            locations=[{"line": 1, "column": 39}],
        )
        await still_open(ws)

        # An operation name the document does not have: strawberry closed the socket
        # (4400); like the reference server, we answer that operation alone.
        payload = {"query": "subscription Track { orderEvents { sequence } }"}
        await send(
            ws, {"id": "b", "type": "subscribe", "payload": {**payload, "operationName": "X"}}
        )
        assert await receive(ws) == request_error(
            "b", 'Unknown operation named "X".', "GRAPHQL_VALIDATION_FAILED"
        )
        await still_open(ws)


def chain(*fields: str) -> str:
    return "subscription { " + " { ".join(fields) + " }" * (len(fields) - 1) + " }"


def fragment_bomb(doublings: int) -> str:
    """order { shipments { order { shipments } } } (cost 4), spread 2**doublings times."""
    fragments = [
        "fragment F0 on OrderUpdate { order { shipments { order { shipments { id } } } } }",
        *(
            f"fragment F{i} on OrderUpdate {{ ...F{i - 1} ...F{i - 1} }}"
            for i in range(1, doublings + 1)
        ),
    ]
    return f"subscription {{ orderEvents {{ ...F{doublings} }} }}\n" + "\n".join(fragments)


async def test_depth_alias_token_and_cost_limits_apply_to_subscriptions(
    world: World, server: ServerProcess
) -> None:
    # orderEvents > order > shipments > order > ... > order > number: depth 14
    too_deep = chain("orderEvents", *["order", "shipments"] * 6, "order", "number")
    aliased = (
        "subscription { orderEvents { "
        + " ".join(f"a{i}: sequence" for i in range(MAX_ALIASES + 1))
        + " } }"
    )
    too_long = "subscription { orderEvents { " + "sequence " * MAX_TOKENS + "} }"
    # Subscriptions have no page sizes to multiply by: a fragment bomb meets the limit
    # on fields once fragments are expanded (5 fields, spread 2**13 times).
    too_costly = fragment_bomb(13)
    assert measure(parse(too_costly)).operations["anonymous"].fields == 1 + 5 * 2**13
    too_large = "subscription { orderEvents { sequence } }" + " " * MAX_DOCUMENT_CHARS
    async with acknowledged(server, f"Bearer {world.admin}") as ws:
        for op_id, query in enumerate((too_deep, aliased, too_long, too_costly, too_large)):
            await send(ws, {"id": str(op_id), "type": "subscribe", "payload": {"query": query}})
        answers = {}
        for _ in range(5):
            message = await receive(ws)
            answers[message["id"]] = message
        await still_open(ws)
    assert answers["0"] == request_error(
        "0",
        f"'anonymous' exceeds maximum operation depth of {MAX_DEPTH}",
        "QUERY_TOO_DEEP",
    )
    assert answers["1"] == request_error(
        "1", f"{MAX_ALIASES + 1} aliases found. Allowed: {MAX_ALIASES}", "TOO_MANY_ALIASES"
    )
    assert answers["2"] == request_error(
        "2",
        f"Syntax Error: Document contains more than {MAX_TOKENS} tokens. Parsing aborted.",
        "GRAPHQL_PARSE_FAILED",
        locations=[{"line": 1, "column": 44994}],
    )
    assert answers["3"] == request_error(
        "3",
        f"The document selects {1 + 5 * 2**13} fields once its fragments are expanded; "
        f"the limit is {MAX_EXPANDED_FIELDS}",
        "QUERY_TOO_COMPLEX",
    )
    assert answers["4"] == request_error(
        "4",
        f"The document has {len(too_large):,} characters; the limit is {MAX_DOCUMENT_CHARS:,}",
        "QUERY_TOO_LARGE",
    )


# ---------- the connection_init deadline ----------


def test_the_connection_init_deadline_is_a_setting_of_ten_seconds() -> None:
    assert Settings.from_env({}).ws_init_timeout_seconds == 10.0
    given = Settings.from_env({"OMS_WS_INIT_TIMEOUT_SECONDS": "2.5"})
    assert given.ws_init_timeout_seconds == 2.5


async def test_a_socket_that_never_sends_connection_init_is_closed_with_4408(
    start_server: Any,
) -> None:
    server = start_server(OMS_WS_INIT_TIMEOUT_SECONDS="1")
    ws = await websockets.connect(server.ws_url, subprotocols=[PROTOCOL], proxy=None)
    started = time.monotonic()
    assert await close_of(ws) == (4408, "Connection initialisation timeout")
    assert 0.9 <= time.monotonic() - started < 5

    # One that does send it in time stays open past the deadline.
    async with acknowledged(server, None) as ws:
        await asyncio.sleep(1.5)
        await still_open(ws)


# ---------- sockets per credential ----------


def test_the_socket_cap_is_a_setting_of_one_hundred() -> None:
    assert Settings.from_env({}).max_sockets_per_credential == 100
    given = Settings.from_env({"OMS_MAX_SOCKETS_PER_CREDENTIAL": "7"})
    assert given.max_sockets_per_credential == 7


async def test_sockets_beyond_the_cap_of_a_credential_are_refused_with_4429(
    world: World, start_server: Any
) -> None:
    server = start_server(OMS_MAX_SOCKETS_PER_CREDENTIAL="2")
    admin, channel = f"Bearer {world.admin}", f"Bearer {world.channel}"
    kept = [await start(server, admin) for _ in range(2)]
    assert [answer for _, answer in kept] == [{"type": "connection_ack", "payload": None}] * 2

    third, answer = await start(server, admin)
    assert answer == (4429, "Too many connections")

    # Counted per credential: another key, and anonymous clients by their address.
    other = [await start(server, channel) for _ in range(2)]
    assert [answer for _, answer in other] == [{"type": "connection_ack", "payload": None}] * 2
    anonymous = [await start(server, None) for _ in range(3)]
    assert [answer for _, answer in anonymous] == [
        {"type": "connection_ack", "payload": None},
        {"type": "connection_ack", "payload": None},
        (4429, "Too many connections"),
    ]
    elsewhere, answer = await start(server, None, local_addr=("127.0.0.2", 0))
    assert answer == {"type": "connection_ack", "payload": None}

    # A socket closed normally gives its place back.
    await kept[0][0].close()
    again, answer = await start(server, admin)
    assert answer == {"type": "connection_ack", "payload": None}

    for ws, _ in [*kept, *other, *anonymous, (third, None), (elsewhere, None), (again, None)]:
        await ws.close()


async def test_a_dropped_socket_gives_its_place_back(world: World, start_server: Any) -> None:
    server = start_server(OMS_MAX_SOCKETS_PER_CREDENTIAL="1")
    admin = f"Bearer {world.admin}"
    dropped, answer = await start(server, admin)
    assert answer == {"type": "connection_ack", "payload": None}
    query = "subscription { orderEvents { sequence } }"
    await send(dropped, {"id": "1", "type": "subscribe", "payload": {"query": query}})
    _, answer = await start(server, admin)
    assert answer == (4429, "Too many connections")

    # The client vanishes: no close frame, the TCP connection just ends.
    dropped.transport.abort()
    deadline = time.monotonic() + 10
    while True:
        ws, answer = await start(server, admin)
        if answer != (4429, "Too many connections") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert answer == {"type": "connection_ack", "payload": None}
    await ws.close()


# ---------- operations per socket ----------


async def test_operations_beyond_fifty_on_one_socket_are_refused(
    world: World, server: ServerProcess
) -> None:
    query = "subscription { orderEvents { sequence } }"
    async with acknowledged(server, f"Bearer {world.admin}") as ws:
        for op_id in range(50):
            await send(ws, {"id": str(op_id), "type": "subscribe", "payload": {"query": query}})
        await send(ws, {"id": "50", "type": "subscribe", "payload": {"query": query}})
        assert await receive(ws) == {
            "id": "50",
            "type": "error",
            "payload": [
                {
                    "message": "At most 50 operations at once on one connection",
                    "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"},
                }
            ],
        }
        await still_open(ws)

        # Completing one frees its place.
        await send(ws, {"id": "0", "type": "complete"})
        await send(
            ws, {"id": "51", "type": "subscribe", "payload": {"query": "{ viewer { role } }"}}
        )
        assert (await receive(ws))["type"] == "next"
        assert await receive(ws) == {"id": "51", "type": "complete"}
