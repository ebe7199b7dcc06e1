"""Helpers for API tests: a GraphQL client and the clients' own documents."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from graphql import OperationDefinitionNode, parse, print_ast

ROOT = Path(__file__).resolve().parent.parent
SHARED_CLIENTS = ROOT.parent / "shared" / "clients"


@cache
def client_operations() -> dict[str, tuple[str, str]]:
    """Every operation of ../shared/clients/*.graphql: name -> (file, document)."""
    ops: dict[str, tuple[str, str]] = {}
    for path in sorted(SHARED_CLIENTS.glob("*.graphql")):
        for definition in parse(path.read_text()).definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.name:
                ops[definition.name.value] = (path.name, print_ast(definition))
    return ops


@cache
def client_variables() -> dict[str, Any]:
    return json.loads((SHARED_CLIENTS / "variables.json").read_text())


def operation(name: str) -> str:
    return client_operations()[name][1]


class GraphQLErrors(AssertionError):
    pass


class Api:
    """Posts GraphQL documents as a real client would."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    @classmethod
    @contextlib.asynccontextmanager
    async def over_asgi(cls, app: Any) -> AsyncIterator[Api]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://oms.test", timeout=60
        ) as client:
            yield cls(client)

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        **headers: str,
    ) -> httpx.Response:
        hdrs = {"Accept": "application/graphql-response+json, application/json", **headers}
        if key:
            hdrs["Authorization"] = f"Bearer {key}"
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=hdrs
        )

    async def run(
        self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        """The whole answer; fails on any GraphQL error."""
        response = await self.post(query, variables, key=key)
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise GraphQLErrors(f"{response.status_code}: {json.dumps(body, indent=1)}")
        return body["data"]

    async def op(
        self, name: str, variables: dict[str, Any] | None = None, *, key: str | None = None
    ) -> dict[str, Any]:
        """Run one of the clients' own operations, unchanged."""
        return await self.run(operation(name), variables, key=key)


class FakeResolver:
    """The Resolver port with answers set by the test (a name's answers may change
    between two lookups, as DNS rebinding makes them). A name it does not know goes to
    `fallback` (the system's resolver, say), or does not resolve. Records lookups."""

    def __init__(
        self,
        answers: dict[str, list[str]] | None = None,
        delay: float = 0.0,
        fallback: Callable[[str], Awaitable[Sequence[str]]] | None = None,
    ) -> None:
        self.answers = dict(answers or {})
        self.delay = delay
        self.fallback = fallback
        self.lookups: list[str] = []

    async def __call__(self, host: str) -> Sequence[str]:
        self.lookups.append(host)
        if self.delay:
            await asyncio.sleep(self.delay)
        if host in self.answers:
            return list(self.answers[host])
        if self.fallback is not None:
            return await self.fallback(host)
        raise OSError(-2, "Name or service not known")


class AsgiWebSocket:
    """A graphql-transport-ws connection to the ASGI app in process (no server): the
    frames a client would send, as it would send them (`json.dumps`, so lone
    surrogates travel as escapes), and what the app sends back."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsgiWebSocket:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "headers": [
                (b"host", b"oms.test"),
                (b"sec-websocket-protocol", b"graphql-transport-ws"),
            ],
            "subprotocols": ["graphql-transport-ws"],
            "server": ("oms.test", 80),
            "client": ("127.0.0.1", 50000),
        }
        await self._to_app.put({"type": "websocket.connect"})
        self._task = asyncio.create_task(self.app(scope, self._to_app.get, self._from_app.put))
        accepted = await self.receive()
        assert accepted["type"] == "websocket.accept", accepted
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self._task is not None
        await asyncio.wait_for(self._task, 10)  # the app's own exceptions surface here

    async def send(self, message: dict[str, Any]) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self, within: float = 10) -> dict[str, Any]:
        """The next ASGI event: websocket.send (its JSON decoded as "message") or close."""
        event = await asyncio.wait_for(self._from_app.get(), within)
        if event["type"] == "websocket.send":
            event["message"] = json.loads(event.get("text") or event.get("bytes") or "null")
        return event

    async def init(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()
